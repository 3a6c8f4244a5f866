// loadgen: an open-loop, constant-rate HTTP/1.1 load generator. See README.md.
//
//   tools/bazel run //tools/loadgen -- --port=8080 --rate=1000 --duration=10s
//   loadgen --port=8080 --duration=30s
//       --request='fast rate=450 target=/cpu?us=1000 sla=20ms'
//       --request='slow rate=200 target=/cpu?us=20000 sla=500ms'
//
// Exit status: 0 when the run completed (errors are reported, not fatal);
// 1 for a flag abseil cannot parse (unknown flag, malformed value); 2 for a
// flag value loadgen rejects; 3 when the target cannot be reached at all or
// an output file cannot be written.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tools/loadgen/load_generator.h"
#include "tools/loadgen/plot.h"
#include "tools/loadgen/report.h"
#include "tools/loadgen/request_mix.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "Server address (numeric or localhost).");
ABSL_FLAG(int32_t, port, 8080, "Server port.");
ABSL_FLAG(std::string, path, "/hello", "Request target (path and query).");
ABSL_FLAG(std::string, method, "GET", "Request method.");
ABSL_FLAG(std::string, body, "", "Request body (sets Content-Length).");
ABSL_FLAG(std::string, body_file, "",
          "Send this file's content as the request body (instead of --body).");
ABSL_FLAG(std::vector<std::string>, header, {},
          "Extra request header 'Name: value'; repeatable or comma-separated.");
ABSL_FLAG(int64_t, rate, 0, "Requests per second (required without --request).");
ABSL_FLAG(std::vector<std::string>, request, {},
          "A request class 'NAME rate=N [method=M] [target=T] [header=\"N: v\"] "
          "[body=B | body_file=F] [sla=D] [connections=C]'; repeatable. Each "
          "class has its own rate and connections; unset keys take the global "
          "flags' values.");
ABSL_FLAG(std::string, mix_file, "",
          "A file of request classes, one --request value per line ('#' "
          "comments).");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10),
          "Measured duration of the run (after the warm-up).");
ABSL_FLAG(int32_t, connections, 64,
          "Keep-alive connections (one request each); per class with --request.");
ABSL_FLAG(absl::Duration, warmup, absl::ZeroDuration(),
          "Run this long first without recording.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10),
          "A request unanswered this long after its send is a timeout (its "
          "connection is reopened); so is one that waited this long for a "
          "connection (never sent).");
ABSL_FLAG(std::string, latency_out, "",
          "Write the latency distribution as CSV (percentile,latency_us); with "
          "several classes one file each, the class name before the extension.");
ABSL_FLAG(std::string, plot_out, "",
          "Write the latency by percentile as an SVG plot, one line per class "
          "(default: next to --latency_out, as FILE.svg; 'none' for no plot).");
ABSL_FLAG(std::string, plot_title, "", "Title of the --plot_out plot.");
ABSL_FLAG(std::string, latency_answers, "all",
          "Which answers --latency_out and --plot_out describe: all, 2xx or non2xx.");
ABSL_FLAG(bool, json, false, "Print the summary as one JSON line.");
ABSL_FLAG(absl::Duration, sla, absl::ZeroDuration(),
          "If set, also report goodput: 2xx answers within this latency (the "
          "default for classes without sla=).");
ABSL_FLAG(int32_t, threads, 1, "Event-loop threads (rate and connections split).");
ABSL_FLAG(bool, busy_poll, false,
          "Poll without sleeping: each loop thread takes its core whole, and its own "
          "wake-ups are not in the latencies (for latency floors; not beside a server "
          "on the same core).");

namespace {

using brisk::loadgen::ClassReport;
using brisk::loadgen::ClassSpec;
using brisk::loadgen::LatencyRecorder;
using brisk::loadgen::ReportInfo;
using brisk::loadgen::RunStats;

// Every value of a repeatable flag: absl keeps only the last occurrence.
std::vector<std::string> CollectRepeatedFlag(int argc, char** argv,
                                             std::string_view name) {
  const std::string eq1 = absl::StrCat("--", std::string(name), "=");
  const std::string eq2 = absl::StrCat("-", std::string(name), "=");
  const std::string bare1 = absl::StrCat("--", std::string(name));
  const std::string bare2 = absl::StrCat("-", std::string(name));
  std::vector<std::string> raw;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    for (const std::string& prefix : {eq1, eq2}) {
      if (arg.substr(0, prefix.size()) == prefix) {
        raw.emplace_back(arg.substr(prefix.size()));
      }
    }
    if ((arg == bare1 || arg == bare2) && i + 1 < argc) raw.emplace_back(argv[++i]);
  }
  return raw;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "loadgen: %s\n", message.c_str());
  return 2;
}

int Fail(const absl::Status& status) { return Fail(std::string(status.message())); }

using File = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

// The output files: checked before the run (so a bad path does not waste
// one) without truncating what they hold, and written after it. A run that
// fails or never starts leaves an earlier run's files as they were, and
// removes the empty ones it created for the check.
class Outputs {
 public:
  Outputs() = default;
  Outputs(const Outputs&) = delete;
  Outputs& operator=(const Outputs&) = delete;
  ~Outputs() {
    if (kept_) return;
    for (const std::string& path : created_) ::unlink(path.c_str());
  }
  // InvalidArgument if `path` cannot be opened for writing.
  absl::Status Check(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      created_.push_back(path);
    } else if (errno == EEXIST) {
      fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    }
    if (fd < 0) return absl::InvalidArgumentError(absl::StrCat("cannot write ", path));
    ::close(fd);
    return absl::OkStatus();
  }
  // The run completed: what is written stays, whatever happens next.
  void Keep() { kept_ = true; }

 private:
  std::vector<std::string> created_;
  bool kept_ = false;
};

// Replaces what `path` holds with `content`.
bool WriteFile(const std::string& path, const std::string& content) {
  File file(std::fopen(path.c_str(), "w"), &std::fclose);
  if (file == nullptr ||
      std::fwrite(content.data(), 1, content.size(), file.get()) != content.size() ||
      std::fclose(file.release()) != 0) {
    std::fprintf(stderr, "loadgen: error writing %s\n", path.c_str());
    return false;
  }
  return true;
}

LatencyRecorder& Selected(RunStats& stats, std::string_view answers) {
  if (answers == "2xx") return stats.latencies_ok;
  if (answers == "non2xx") return stats.latencies_non2xx;
  return stats.latencies;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "open-loop constant-rate HTTP/1.1 load generator\n"
      "  loadgen --port=8080 --rate=1000 --duration=10s [--connections=64]\n"
      "  loadgen --port=8080 --request='fast rate=450 target=/a sla=20ms' "
      "--request='slow rate=200 target=/b sla=500ms'");
  // --help lists the flags below (abseil's default looks for them in a file
  // named like the program, loadgen.cc, and found none).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "tools/loadgen/");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  usage.version_string = [] {  // abseil's says how the system's abseil was built
#ifdef NDEBUG
    return std::string("loadgen (brisk tools), optimized build\n");
#else
    return std::string("loadgen (brisk tools), debug build (assertions on)\n");
#endif
  };
  absl::SetFlagsUsageConfig(usage);
  const std::vector<std::string> headers =
      brisk::loadgen::SplitHeaders(CollectRepeatedFlag(argc, argv, "header"));
  const std::vector<std::string> request_flags = CollectRepeatedFlag(argc, argv, "request");
  if (const std::vector<char*> rest = absl::ParseCommandLine(argc, argv); rest.size() > 1) {
    return Fail(absl::StrCat("unexpected argument '", rest[1],
                             "': only flags are taken (--help lists them)"));
  }

  const int64_t rate = absl::GetFlag(FLAGS_rate);
  const int32_t port = absl::GetFlag(FLAGS_port);
  const std::string host = absl::GetFlag(FLAGS_host);
  const std::string mix_file = absl::GetFlag(FLAGS_mix_file);
  const std::string answers = absl::GetFlag(FLAGS_latency_answers);
  const bool mix = !request_flags.empty() || !mix_file.empty();
  if (port <= 0 || port > 65535) return Fail("--port must be in 1..65535");
  {
    // The plot is SVG: a name that says otherwise (plot.png) would hold a
    // file no image viewer opens as what its name says.
    const std::string plot = absl::GetFlag(FLAGS_plot_out);
    const size_t dot = plot.rfind('.');
    if (!plot.empty() && plot != "none" &&
        (dot == std::string::npos || plot.find('/', dot) != std::string::npos ||
         !absl::EqualsIgnoreCase(absl::string_view(plot).substr(dot), ".svg"))) {
      return Fail(absl::StrCat("--plot_out: the plot is an SVG image; name it *.svg (got '",
                               plot, "')"));
    }
  }
  if (answers != "all" && answers != "2xx" && answers != "non2xx") {
    return Fail("--latency_answers must be all, 2xx or non2xx");
  }
  if (mix && rate != 0) {
    return Fail("--rate is for a single request; give rate=N in each --request");
  }
  if (!mix && rate <= 0) return Fail("--rate is required and must be > 0");
  if (!brisk::loadgen::ValidSla(absl::GetFlag(FLAGS_sla))) {
    return Fail(absl::StrCat(
        "--sla must be from 0 to ", absl::ToInt64Microseconds(brisk::loadgen::kMaxSla), "us (",
        absl::FormatDuration(brisk::loadgen::kMaxSla), ", the longest latency recorded), not ",
        absl::FormatDuration(absl::GetFlag(FLAGS_sla))));
  }

  // The global flags: the single request, or the defaults of every class.
  ClassSpec defaults{.rate = static_cast<uint64_t>(rate),
                     .method = absl::GetFlag(FLAGS_method),
                     .target = absl::GetFlag(FLAGS_path),
                     .headers = headers,
                     .body = absl::GetFlag(FLAGS_body),
                     .sla = absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_sla)),
                     .connections = absl::GetFlag(FLAGS_connections)};
  if (const std::string body_file = absl::GetFlag(FLAGS_body_file); !body_file.empty()) {
    if (!defaults.body.empty()) return Fail("--body and --body_file both given");
    absl::StatusOr<std::string> body = brisk::loadgen::ReadFile(body_file);
    if (!body.ok()) return Fail(body.status());
    defaults.body = *std::move(body);
  }

  std::vector<ClassSpec> specs;
  if (!mix) {
    specs.push_back(defaults);
  } else {
    if (!mix_file.empty()) {
      absl::StatusOr<std::string> text = brisk::loadgen::ReadFile(mix_file);
      if (!text.ok()) return Fail(text.status());
      absl::StatusOr<std::vector<ClassSpec>> from_file =
          brisk::loadgen::ParseMixFile(*text, defaults);
      if (!from_file.ok()) {
        return Fail(absl::StrCat(mix_file, ": ", from_file.status().message()));
      }
      specs = *std::move(from_file);
    }
    for (const std::string& flag : request_flags) {
      absl::StatusOr<ClassSpec> spec = brisk::loadgen::ParseClassSpec(flag, defaults);
      if (!spec.ok()) return Fail(absl::StrCat("--request: ", spec.status().message()));
      specs.push_back(*std::move(spec));
    }
    if (specs.empty()) return Fail(absl::StrCat(mix_file, ": no request classes"));
    if (absl::Status names = brisk::loadgen::CheckClassNames(specs); !names.ok()) {
      return Fail(names);
    }
  }

  brisk::loadgen::LoadOptions options;
  options.host = host;
  options.port = static_cast<uint16_t>(port);
  options.duration = absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_duration));
  options.warmup = absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_warmup));
  options.timeout = absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_timeout));
  options.connections = absl::GetFlag(FLAGS_connections);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.busy_poll = absl::GetFlag(FLAGS_busy_poll);
  std::vector<ReportInfo> infos;
  for (const ClassSpec& spec : specs) {
    absl::StatusOr<std::string> request =
        brisk::loadgen::BuildRequest({.method = spec.method,
                                      .host = host,
                                      .port = options.port,
                                      .path = spec.target,
                                      .headers = spec.headers,
                                      .body = spec.body});
    if (!request.ok()) {
      return Fail(mix ? absl::StrCat("class ", spec.name, ": ", request.status().message())
                      : std::string(request.status().message()));
    }
    options.classes.push_back({.name = spec.name,
                               .request = *std::move(request),
                               .head_request = spec.method == "HEAD",
                               .rate = spec.rate,
                               .connections = spec.connections});
    infos.push_back(
        {.name = spec.name,
         .target = spec.target.starts_with('/')
                       ? absl::StrCat(spec.method, " http://", host, ":", port, spec.target)
                       : absl::StrCat(spec.method, " ", spec.target, " (to ", host, ":", port, ")"),
         .rate = spec.rate,
         .duration = options.duration,
         .connections = spec.connections,
         .threads = options.threads,
         .sla = spec.sla});
  }

  // Output files: one CSV per class when there are several.
  const std::string csv_path = absl::GetFlag(FLAGS_latency_out);
  std::vector<std::string> csv_paths;
  if (!csv_path.empty()) {
    for (const ClassSpec& spec : specs) {
      csv_paths.push_back(specs.size() == 1 ? csv_path
                                            : brisk::loadgen::ClassFileName(csv_path, spec.name));
    }
  }
  // The plot goes next to the CSV unless it is asked for elsewhere (or
  // turned off with --plot_out=none).
  std::string plot_path = absl::GetFlag(FLAGS_plot_out);
  if (plot_path.empty() && !csv_path.empty()) {
    const size_t dot = csv_path.rfind('.');
    const size_t slash = csv_path.rfind('/');
    plot_path = (dot != std::string::npos && (slash == std::string::npos || dot > slash)
                     ? csv_path.substr(0, dot)
                     : csv_path) + ".svg";
  }
  if (plot_path == "none") plot_path.clear();
  std::vector<std::string> output_paths = csv_paths;
  if (!plot_path.empty()) output_paths.push_back(plot_path);
  // One file each: a plot named like a CSV (--latency_out=r.svg, or a class
  // named svg) would overwrite it.
  std::set<std::filesystem::path> seen;
  for (const std::string& path : output_paths) {
    std::error_code error;
    std::filesystem::path key = std::filesystem::weakly_canonical(path, error);
    if (error) key = std::filesystem::path(path).lexically_normal();
    if (!seen.insert(key).second) {
      return Fail(absl::StrCat(path, " would be written twice (--latency_out's CSV ",
                               "files and --plot_out's plot must be different files)"));
    }
  }
  Outputs outputs;
  for (const std::string& path : output_paths) {
    if (absl::Status s = outputs.Check(path); !s.ok()) return Fail(s);
  }

  absl::StatusOr<std::vector<RunStats>> stats = brisk::loadgen::RunLoadByClass(options);
  if (!stats.ok()) {
    if (stats.status().code() == absl::StatusCode::kInvalidArgument) {
      return Fail(stats.status());
    }
    std::fprintf(stderr, "loadgen: %s\n", std::string(stats.status().message()).c_str());
    return 3;
  }

  outputs.Keep();

  std::vector<ClassReport> classes;
  for (size_t i = 0; i < specs.size(); ++i) {
    classes.push_back({.info = infos[i], .stats = std::move((*stats)[i])});
  }
  ReportInfo run = infos[0];
  if (mix) {
    run = ReportInfo{.target = absl::StrCat("http://", host, ":", port),
                     .duration = options.duration,
                     .threads = options.threads};
    for (const ReportInfo& info : infos) {
      run.rate += info.rate;
      run.connections += info.connections;
    }
  }
  const bool json = absl::GetFlag(FLAGS_json);
  std::string report =
      mix ? (json ? brisk::loadgen::FormatMixJson(classes, run)
                  : brisk::loadgen::FormatMixReport(classes, run))
          : (json ? brisk::loadgen::FormatJson(classes[0].stats, run)
                  : brisk::loadgen::FormatReport(classes[0].stats, run));
  std::fputs(json ? (report + "\n").c_str() : report.c_str(), stdout);
  std::fflush(stdout);

  bool written = true;
  for (size_t i = 0; i < csv_paths.size(); ++i) {
    written &= WriteFile(csv_paths[i],
                         brisk::loadgen::FormatLatencyCsv(Selected(classes[i].stats, answers)));
  }
  if (!plot_path.empty()) {
    std::vector<brisk::loadgen::PlotSeries> series;
    std::string rates;
    for (size_t i = 0; i < classes.size(); ++i) {
      LatencyRecorder& latencies = Selected(classes[i].stats, answers);
      brisk::loadgen::PlotSeries s{
          .label = mix ? specs[i].name : absl::StrCat(specs[i].method, " ", specs[i].target)};
      for (double p : brisk::loadgen::CsvPercentiles()) {
        s.points.push_back({p, static_cast<double>(latencies.Percentile(p))});
      }
      series.push_back(std::move(s));
      absl::StrAppend(&rates, i == 0 ? "" : " + ", mix ? specs[i].name + " " : "",
                      specs[i].rate);
    }
    std::string title = absl::GetFlag(FLAGS_plot_title);
    if (title.empty()) {
      title = absl::StrCat(run.target, ", ", rates, " req/s for ",
                           absl::FormatDuration(absl::GetFlag(FLAGS_duration)), " (",
                           answers == "non2xx" ? "non-2xx" : answers, " answers)");
    }
    written &= WriteFile(plot_path, brisk::loadgen::RenderPercentilePlot(series, title));
  }
  return written ? 0 : 3;
}
