// loadgen: an open-loop, constant-rate HTTP/1.1 load generator. See README.md.
//
//   tools/bazel run //tools/loadgen -- --port=8080 --rate=1000 --duration=10s
//
// Exit status: 0 when the run completed (errors are reported, not fatal);
// 1 for a flag abseil cannot parse (unknown flag, malformed value); 2 for a
// flag value loadgen rejects; 3 when the target cannot be reached at all.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tools/loadgen/load_generator.h"
#include "tools/loadgen/report.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "Server address (numeric or localhost).");
ABSL_FLAG(int32_t, port, 8080, "Server port.");
ABSL_FLAG(std::string, path, "/hello", "Request target (path and query).");
ABSL_FLAG(std::string, method, "GET", "Request method.");
ABSL_FLAG(std::string, body, "", "Request body (sets Content-Length).");
ABSL_FLAG(std::vector<std::string>, header, {},
          "Extra request header 'Name: value'; repeatable or comma-separated.");
ABSL_FLAG(int64_t, rate, 0, "Requests per second (required).");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10),
          "Measured duration of the run (after the warm-up).");
ABSL_FLAG(int32_t, connections, 64, "Keep-alive connections (one request each).");
ABSL_FLAG(absl::Duration, warmup, absl::ZeroDuration(),
          "Run this long first without recording.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10),
          "A request unanswered this long after its scheduled time is a "
          "timeout; its connection is reopened.");
ABSL_FLAG(std::string, latency_out, "",
          "Write the latency distribution as CSV (percentile,latency_us).");
ABSL_FLAG(bool, json, false, "Print the summary as one JSON line.");
ABSL_FLAG(absl::Duration, sla, absl::ZeroDuration(),
          "If set, also report goodput: 2xx answers within this latency.");
ABSL_FLAG(int32_t, threads, 1, "Event-loop threads (rate and connections split).");

namespace {

// Every --header value given: absl keeps only the last occurrence of a flag.
std::vector<std::string> CollectHeaderFlags(int argc, char** argv) {
  std::vector<std::string> raw;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    for (std::string_view prefix : {"--header=", "-header="}) {
      if (arg.substr(0, prefix.size()) == prefix) {
        raw.emplace_back(arg.substr(prefix.size()));
      }
    }
    if ((arg == "--header" || arg == "-header") && i + 1 < argc) {
      raw.emplace_back(argv[++i]);
    }
  }
  return raw;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "loadgen: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "open-loop constant-rate HTTP/1.1 load generator\n"
      "  loadgen --port=8080 --rate=1000 --duration=10s [--connections=64]");
  std::vector<std::string> headers =
      brisk::loadgen::SplitHeaders(CollectHeaderFlags(argc, argv));
  absl::ParseCommandLine(argc, argv);

  const int64_t rate = absl::GetFlag(FLAGS_rate);
  const int32_t port = absl::GetFlag(FLAGS_port);
  if (rate <= 0) return Fail("--rate is required and must be > 0");
  if (port <= 0 || port > 65535) return Fail("--port must be in 1..65535");

  brisk::loadgen::RequestSpec spec;
  spec.method = absl::GetFlag(FLAGS_method);
  spec.host = absl::GetFlag(FLAGS_host);
  spec.port = static_cast<uint16_t>(port);
  spec.path = absl::GetFlag(FLAGS_path);
  spec.headers = headers;
  spec.body = absl::GetFlag(FLAGS_body);
  absl::StatusOr<std::string> request = brisk::loadgen::BuildRequest(spec);
  if (!request.ok()) return Fail(std::string(request.status().message()));

  brisk::loadgen::LoadOptions options;
  options.host = spec.host;
  options.port = spec.port;
  options.request = *std::move(request);
  options.head_request = spec.method == "HEAD";
  options.rate = static_cast<uint64_t>(rate);
  options.duration = absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_duration));
  options.warmup = absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_warmup));
  options.timeout = absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_timeout));
  options.connections = absl::GetFlag(FLAGS_connections);
  options.threads = absl::GetFlag(FLAGS_threads);

  // Opened before the run, so a bad path does not waste one.
  const std::string csv_path = absl::GetFlag(FLAGS_latency_out);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> csv_file(nullptr, &std::fclose);
  if (!csv_path.empty()) {
    csv_file.reset(std::fopen(csv_path.c_str(), "w"));
    if (csv_file == nullptr) return Fail(absl::StrCat("cannot write ", csv_path));
  }

  absl::StatusOr<brisk::loadgen::RunStats> stats = brisk::loadgen::RunLoad(options);
  if (!stats.ok()) {
    if (stats.status().code() == absl::StatusCode::kInvalidArgument) {
      return Fail(std::string(stats.status().message()));
    }
    std::fprintf(stderr, "loadgen: %s\n", std::string(stats.status().message()).c_str());
    return 3;
  }

  brisk::loadgen::ReportInfo info;
  info.target = absl::StrCat(spec.method, " http://", spec.host, ":", port, spec.path);
  info.rate = options.rate;
  info.duration = options.duration;
  info.connections = options.connections;
  info.threads = options.threads;
  info.sla = absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_sla));
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("%s\n", brisk::loadgen::FormatJson(*stats, info).c_str());
  } else {
    std::fputs(brisk::loadgen::FormatReport(*stats, info).c_str(), stdout);
  }
  if (csv_file != nullptr) {
    std::string csv = brisk::loadgen::FormatLatencyCsv(stats->latencies);
    if (std::fwrite(csv.data(), 1, csv.size(), csv_file.get()) != csv.size() ||
        std::fclose(csv_file.release()) != 0) {
      std::fprintf(stderr, "loadgen: error writing %s\n", csv_path.c_str());
      return 3;
    }
  }
  return 0;
}
