#include "server/flags.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "http/ascii.h"
#include "net/socket.h"

ABSL_FLAG(std::string, address, "0.0.0.0", "Address to listen on (IPv4 or IPv6).");
ABSL_FLAG(int32_t, port, 8080, "Port to listen on; 0 picks a free port.");
ABSL_FLAG(int32_t, reactors, 1, "Reactor (event loop) threads.");
ABSL_FLAG(std::string, io, "epoll",
          "How reactors wait for IO: epoll, or io_uring (Linux 6.0+).");
ABSL_FLAG(bool, defer_accept, true,
          "TCP_DEFER_ACCEPT on the listeners and a read right after accept.");
ABSL_FLAG(bool, receive_timestamps, true,
          "Start each request's deadline when the kernel received it "
          "(SO_TIMESTAMPNS, on both --io loops), not when a reactor read it.");
ABSL_FLAG(int32_t, workers, 4, "Worker threads for offloaded handlers.");
ABSL_FLAG(int32_t, worker_nice, 0,
          "CPU priority of worker threads, added to the process's own nice "
          "value as `nice -n` does (0..19; the sum stops at 19): above 0, busy "
          "handlers yield a shared core to the reactor (and to every other "
          "process); 0 = same as the reactors.");
ABSL_FLAG(int32_t, background_workers, 0,
          "Threads that run only background routes (e.g. /report), at CPU "
          "priority --background_nice; 0 = they run on the workers.");
ABSL_FLAG(int32_t, background_nice, 10,
          "CPU priority of the background workers, added to the process's "
          "own nice value (0..19; the sum stops at 19); with "
          "--background_workers above 0, at least --worker_nice.");
ABSL_FLAG(int32_t, queue_capacity, 1024,
          "Offloaded requests that may wait for a worker; beyond, refused at once "
          "(--shed_status).");
ABSL_FLAG(int32_t, max_connections, 10000,
          "Open connections; beyond, new ones are closed at once.");
ABSL_FLAG(absl::Duration, header_timeout, absl::Seconds(10),
          "Time allowed for a whole request head (slowloris): else 408.");
ABSL_FLAG(absl::Duration, idle_timeout, absl::Seconds(60),
          "Idle keep-alive connections are closed after this; also the "
          "longest pause while a body is received.");
ABSL_FLAG(absl::Duration, write_timeout, absl::Seconds(10),
          "Pending output must be written within this once the client "
          "stops reading.");
ABSL_FLAG(absl::Duration, request_deadline, absl::Seconds(5),
          "Default deadline of an offloaded request (503 when passed). "
          "Clients may shorten it with X-Request-Budget-Ms.");
ABSL_FLAG(absl::Duration, drain_grace, absl::Seconds(1),
          "On SIGTERM/SIGINT, readiness (/readyz) fails at once but the "
          "server keeps accepting and serving for this long, so load "
          "balancers stop sending first (about two health-check intervals); "
          "0 = stop accepting at once.");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(10),
          "On SIGTERM/SIGINT, the whole graceful shutdown (grace included) "
          "ends within this; handlers still running are then cancelled.");
ABSL_FLAG(int64_t, max_header_bytes, 32 * 1024,
          "Largest request header section (431 beyond).");
ABSL_FLAG(int64_t, max_body_bytes, 1 << 20, "Largest request body (413 beyond).");
ABSL_FLAG(int64_t, max_body_memory, 256 << 20,
          "Bytes of request bodies all connections may hold while they arrive; "
          "a body past it is refused (503, shed reason body_memory). At least "
          "--max_body_bytes.");
ABSL_FLAG(std::string, access_log, "",
          "Access log file; '-' for stdout; empty for none.");
ABSL_FLAG(std::string, access_log_quiet, "",
          "Route paths whose answers below 400 are not written to the access "
          "log, comma-separated (\"/healthz,/readyz,/metrics\": polled every "
          "few seconds); their errors still are, and /metrics counts every "
          "answer. Each must be a route's path (pattern), else the server "
          "does not start.");
ABSL_FLAG(std::string, trusted_proxies, "",
          "Load balancers trusted to name the client: comma-separated "
          "addresses and CIDR prefixes (\"10.0.0.0/8,::1\"). From them, "
          "X-Forwarded-For's rightmost entry (the one they appended) is the "
          "client (handlers' client_address(), the access log). Empty = none.");
ABSL_FLAG(bool, trusted_proxies_recursive, false,
          "Behind a chain of trusted proxies: the rightmost X-Forwarded-For "
          "entry that is not itself in --trusted_proxies (a client whose own "
          "address is in the list can then name any client).");
ABSL_FLAG(bool, proxy_protocol, false,
          "Every connection starts with a PROXY protocol header (v1 or v2: "
          "HAProxy send-proxy[-v2], AWS NLB, Envoy) naming the client a TCP "
          "balancer relays for; it stands for the peer in client_address(), "
          "the access log and --trusted_proxies. Connections without a valid "
          "header are closed, as are those from peers outside "
          "--trusted_proxies when it is set.");
ABSL_FLAG(std::string, handover_socket, "",
          "Binary upgrade: a Unix socket path. At start, take over the "
          "listening sockets of a running brisk that serves this path (it "
          "then drains); then serve the next upgrade there. Empty = off.");
ABSL_FLAG(std::string, admission, "deadline",
          "Admission control of offloaded requests: 'deadline' (each "
          "request's own deadline and its route's measured cost decide; "
          "earliest deadline first) or 'codel' (CoDel + adaptive LIFO).");
ABSL_FLAG(absl::Duration, codel_target, absl::Milliseconds(5),
          "CoDel target: queue wait allowed while a standing queue exists.");
ABSL_FLAG(absl::Duration, codel_interval, absl::Milliseconds(100),
          "CoDel interval: a queue not empty for this long is standing.");
ABSL_FLAG(bool, adaptive_lifo, true,
          "Serve the newest queued request first while a queue is standing.");
ABSL_FLAG(int32_t, shed_status, 503,
          "Status of an admission refusal: 503, or 429 for load balancers "
          "that eject backends after consecutive 5xx.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain (the server's certificate first, then its "
          "intermediates). Set with --tls_key to serve HTTPS.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA certificates that issue client certificates: mutual TLS "
          "(see --tls_client_auth).");
ABSL_FLAG(std::string, tls_client_auth, "",
          "With --tls_client_ca: 'require' a verified client certificate "
          "(empty: the default), or 'request' one (clients without one are "
          "served too). Refused without --tls_client_ca.");
ABSL_FLAG(std::string, tls_min_version, "1.2", "Lowest TLS version: 1.2 or 1.3.");
ABSL_FLAG(absl::Duration, tls_handshake_timeout, absl::Seconds(10),
          "A client that has not completed its TLS handshake this long after "
          "connecting is cut off.");

namespace brisk {
namespace {

std::chrono::nanoseconds ToChrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(d);
}

// The --tls_* flags into `tls`; an error names the flag.
absl::Status TlsFromFlags(TlsOptions* tls) {
  tls->cert_chain_file = absl::GetFlag(FLAGS_tls_cert);
  tls->key_file = absl::GetFlag(FLAGS_tls_key);
  tls->client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  if (tls->cert_chain_file.empty() != tls->key_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  if (!tls->client_ca_file.empty() && tls->cert_chain_file.empty()) {
    return absl::InvalidArgumentError("--tls_client_ca needs --tls_cert and --tls_key");
  }
  const std::string auth = absl::GetFlag(FLAGS_tls_client_auth);
  if (!auth.empty() && auth != "require" && auth != "request") {
    return absl::InvalidArgumentError("--tls_client_auth must be require or request");
  }
  // Asked for client certificates but named no CA to check them: refused,
  // not served without mutual TLS (an operator who wrote "require" would
  // otherwise accept every client without knowing it).
  if (!auth.empty() && tls->client_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_auth needs --tls_client_ca (the CAs that issue client "
        "certificates)");
  }
  if (!tls->client_ca_file.empty()) {
    tls->client_auth =
        auth == "request" ? tls::ClientAuth::kRequest : tls::ClientAuth::kRequire;
  }
  const std::string min_version = absl::GetFlag(FLAGS_tls_min_version);
  if (min_version != "1.2" && min_version != "1.3") {
    return absl::InvalidArgumentError("--tls_min_version must be 1.2 or 1.3");
  }
  tls->min_version =
      min_version == "1.3" ? tls::TlsVersion::kTls13 : tls::TlsVersion::kTls12;
  tls->handshake_timeout = ToChrono(absl::GetFlag(FLAGS_tls_handshake_timeout));
  return absl::OkStatus();
}

// A flag defined outside abseil: the program's or brisk's.
bool IsOwnFlagFile(absl::string_view file) {
  return !absl::StrContains(file, "absl/");
}

}  // namespace

void SetFlagsUsage(absl::string_view usage) {
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig config;
  config.contains_helpshort_flags = IsOwnFlagFile;
  config.contains_help_flags = IsOwnFlagFile;
  config.version_string = [] {
#ifdef NDEBUG
    return std::string("built on brisk, optimized build\n");
#else
    return std::string("built on brisk, debug build (assertions on)\n");
#endif
  };
  absl::SetFlagsUsageConfig(config);
}

absl::StatusOr<ServerOptions> ServerOptionsFromFlags() {
  ServerOptions o;
  o.address = absl::GetFlag(FLAGS_address);
  if (absl::StatusOr<net::SocketAddress> a = net::SocketAddress::Parse(o.address, 0); !a.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--address must be a numeric IPv4 or IPv6 address (or localhost), got \"",
        o.address, "\""));
  }
  const int32_t port = absl::GetFlag(FLAGS_port);
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError("--port must be in [0, 65535]");
  }
  o.port = static_cast<uint16_t>(port);
  o.reactors = absl::GetFlag(FLAGS_reactors);
  const std::string io = absl::GetFlag(FLAGS_io);
  if (io == "epoll") {
    o.io = IoBackend::kEpoll;
  } else if (io == "io_uring") {
    o.io = IoBackend::kIoUring;
  } else {
    return absl::InvalidArgumentError("--io must be 'epoll' or 'io_uring'");
  }
  o.defer_accept = absl::GetFlag(FLAGS_defer_accept);
  o.receive_timestamps = absl::GetFlag(FLAGS_receive_timestamps);
  o.workers = absl::GetFlag(FLAGS_workers);
  o.worker_nice = absl::GetFlag(FLAGS_worker_nice);
  o.background_workers = absl::GetFlag(FLAGS_background_workers);
  o.background_nice = absl::GetFlag(FLAGS_background_nice);
  // Checked with the other ranges below (a negative count must not wrap).
  o.queue_capacity = static_cast<size_t>(
      std::max<int32_t>(absl::GetFlag(FLAGS_queue_capacity), 0));
  o.max_connections = absl::GetFlag(FLAGS_max_connections);
  o.header_timeout = ToChrono(absl::GetFlag(FLAGS_header_timeout));
  o.idle_timeout = ToChrono(absl::GetFlag(FLAGS_idle_timeout));
  o.write_timeout = ToChrono(absl::GetFlag(FLAGS_write_timeout));
  o.request_deadline = ToChrono(absl::GetFlag(FLAGS_request_deadline));
  o.drain_grace = ToChrono(absl::GetFlag(FLAGS_drain_grace));
  o.drain_timeout = ToChrono(absl::GetFlag(FLAGS_drain_timeout));
  const int64_t max_header_bytes = absl::GetFlag(FLAGS_max_header_bytes);
  if (max_header_bytes < 1024) {
    return absl::InvalidArgumentError("--max_header_bytes must be >= 1024");
  }
  o.max_header_bytes = static_cast<size_t>(max_header_bytes);
  const int64_t max_body_bytes = absl::GetFlag(FLAGS_max_body_bytes);
  if (max_body_bytes < 0) {
    return absl::InvalidArgumentError(
        "--max_body_bytes must be >= 0 (0: no request may carry a body)");
  }
  o.max_body_bytes = static_cast<size_t>(max_body_bytes);
  const int64_t max_body_memory = absl::GetFlag(FLAGS_max_body_memory);
  if (max_body_memory < 0) {
    return absl::InvalidArgumentError("--max_body_memory must be >= 0");
  }
  o.max_body_memory = static_cast<size_t>(max_body_memory);
  o.access_log = absl::GetFlag(FLAGS_access_log);
  o.access_log_quiet_paths.clear();
  for (absl::string_view path :
       absl::StrSplit(absl::GetFlag(FLAGS_access_log_quiet), ',', absl::SkipWhitespace())) {
    o.access_log_quiet_paths.emplace_back(absl::StripAsciiWhitespace(path));
  }
  o.trusted_proxies = absl::GetFlag(FLAGS_trusted_proxies);
  o.trusted_proxies_recursive = absl::GetFlag(FLAGS_trusted_proxies_recursive);
  o.proxy_protocol = absl::GetFlag(FLAGS_proxy_protocol);
  o.handover_socket = absl::GetFlag(FLAGS_handover_socket);
  o.codel_target = ToChrono(absl::GetFlag(FLAGS_codel_target));
  o.codel_interval = ToChrono(absl::GetFlag(FLAGS_codel_interval));
  o.adaptive_lifo = absl::GetFlag(FLAGS_adaptive_lifo);
  o.shed_status = absl::GetFlag(FLAGS_shed_status);
  if (o.shed_status != 503 && o.shed_status != 429) {
    return absl::InvalidArgumentError("--shed_status must be 503 or 429");
  }
  const std::string admission = absl::GetFlag(FLAGS_admission);
  if (admission == "deadline") {
    o.admission = ServerOptions::Admission::kDeadline;
  } else if (admission == "codel") {
    o.admission = ServerOptions::Admission::kCodel;
  } else {
    return absl::InvalidArgumentError("--admission must be 'deadline' or 'codel'");
  }
  if (absl::Status s = TlsFromFlags(&o.tls); !s.ok()) return s;
  // The ranges the server checks at Start(), here as usage errors naming
  // the flag: a value out of them never starts a server half-configured.
  if (absl::Status s = ValidateServerOptions(o); !s.ok()) {
    std::string flag = absl::StrCat("--", s.message());
    if (absl::StartsWith(flag, "--tls.")) flag[5] = '_';  // --tls_handshake_timeout
    return absl::InvalidArgumentError(flag);
  }
  // A TLS setting changed without TLS: the operator meant TLS, and would
  // otherwise get cleartext with only the "listening on http://" line to
  // say so. (Its default, given explicitly, changes nothing.)
  if (!o.tls.enabled()) {
    for (const char* name : {"tls_min_version", "tls_handshake_timeout"}) {
      const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
      if (flag != nullptr && flag->CurrentValue() != flag->DefaultValue()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs --tls_cert and --tls_key"));
      }
    }
  }
  return o;
}

std::string ListeningLine(const ServerOptions& options, uint16_t port) {
  std::string host = options.address;
  // "[::1]" is accepted as well as "::1": bracket it once, not twice.
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const bool v6 = host.find(':') != std::string::npos;
  return absl::StrCat("listening on ", options.tls.enabled() ? "https" : "http",
                      "://", v6 ? "[" : "", host, v6 ? "]" : "", ":", port);
}

namespace {

// Whether `value` (plain decimal) fits in T; else the range it must be in.
template <typename T>
std::optional<std::string> OutOfRange(std::string_view value) {
  T parsed;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
  if (error == std::errc() && end == value.data() + value.size()) return std::nullopt;
  return absl::StrCat("[", std::numeric_limits<T>::min(), ", ", std::numeric_limits<T>::max(), "]");
}

// The range check of an integer flag's type; null for other flags.
using RangeCheck = std::optional<std::string> (*)(std::string_view);
RangeCheck RangeCheckFor(const absl::CommandLineFlag& flag) {
  if (flag.IsOfType<int32_t>()) return &OutOfRange<int32_t>;
  if (flag.IsOfType<int64_t>()) return &OutOfRange<int64_t>;
  if (flag.IsOfType<uint32_t>()) return &OutOfRange<uint32_t>;
  if (flag.IsOfType<uint64_t>()) return &OutOfRange<uint64_t>;
  return nullptr;
}

// An argument that names a flag ("--name=value", "-name"): its name, and
// the value after '=' if there is one. Nothing for a value or for "--".
struct FlagArgument {
  std::string_view name;
  std::optional<std::string_view> value;
};
std::optional<FlagArgument> ParseFlagArgument(std::string_view arg) {
  if (!arg.starts_with('-') || arg == "--") return std::nullopt;
  arg.remove_prefix(arg.starts_with("--") ? 2 : 1);
  const size_t eq = arg.find('=');
  if (eq == std::string_view::npos) return FlagArgument{arg, std::nullopt};
  return FlagArgument{arg.substr(0, eq), arg.substr(eq + 1)};
}

// One argument as ParseCommandLine meets it: from argv, or brought in by
// --flagfile, --fromenv or --tryfromenv (`origin` says from where, for
// the message).
struct Argument {
  std::string text;
  std::string origin;
};

// Flag files within flag files, followed this deep (abseil follows them
// without a bound; a file that names itself is its parser's to report).
constexpr int kMaxFlagfileDepth = 8;

// Appends `in` to `out` with what its --flagfile, --fromenv and
// --tryfromenv arguments bring in right after them, read as abseil reads
// them: a flag file's lines with leading whitespace stripped, empty lines
// and '#' comments skipped, one flag per line; FLAGS_<name> from the
// environment as --<name>=<value>. A file that cannot be read or an
// unset variable is left to ParseCommandLine to report.
void ExpandGeneratorFlags(const std::vector<Argument>& in, int depth, std::vector<Argument>& out) {
  for (size_t i = 0; i < in.size(); ++i) {
    out.push_back(in[i]);
    const std::optional<FlagArgument> arg = ParseFlagArgument(in[i].text);
    if (!arg.has_value() ||
        (arg->name != "flagfile" && arg->name != "fromenv" && arg->name != "tryfromenv")) {
      continue;
    }
    std::string value;
    if (arg->value.has_value()) {
      value = std::string(*arg->value);
    } else if (i + 1 < in.size()) {
      out.push_back(in[++i]);  // "--flagfile FILE"
      value = in[i].text;
    } else {
      continue;
    }
    for (const absl::string_view item : absl::StrSplit(value, ',', absl::SkipEmpty())) {
      if (arg->name != "flagfile") {
        const std::string variable = absl::StrCat("FLAGS_", item);
        if (const char* env = std::getenv(variable.c_str()); env != nullptr) {
          out.push_back(
              {absl::StrCat("--", item, "=", env), absl::StrCat(" (from ", variable, ")")});
        }
        continue;
      }
      if (depth >= kMaxFlagfileDepth) continue;
      std::ifstream file{std::string(item)};
      if (!file) continue;
      std::vector<Argument> lines;
      std::string line;
      while (std::getline(file, line)) {
        // Trailing whitespace too (a CRLF file, a space after the value):
        // abseil's integer parse ignores it, so must this check.
        const absl::string_view flag = absl::StripAsciiWhitespace(line);
        if (flag.empty() || flag.front() != '-') continue;  // '#', or abseil's error
        lines.push_back({std::string(flag), absl::StrCat(" (in --flagfile ", item, ")")});
      }
      ExpandGeneratorFlags(lines, depth + 1, out);
    }
  }
}

// abseil reads an integer flag in hex too ("--port=0x50" is port 80) and a
// leading zero as decimal ("070" is 70, where C and Go read 56): an operator
// who typed either did not mean what the server would do. Integer flags
// take decimal only, on the command line, in flag files and from the
// environment alike; what this does not look at (unknown flags, values of
// other types), ParseCommandLine judges. Asked for help or the version,
// abseil answers that instead.
absl::Status CheckIntegerFlagsAreDecimal(int argc, char** argv) {
  std::vector<Argument> given;
  for (int i = 1; i < argc && std::string_view(argv[i]) != "--"; ++i) {
    const std::optional<FlagArgument> arg = ParseFlagArgument(argv[i]);
    if (arg.has_value() && (arg->name.starts_with("help") || arg->name == "version") &&
        arg->value != "false" && arg->value != "0") {
      return absl::OkStatus();
    }
    given.push_back({argv[i], ""});
  }
  std::vector<Argument> args;
  ExpandGeneratorFlags(given, 0, args);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::optional<FlagArgument> arg = ParseFlagArgument(args[i].text);
    if (!arg.has_value()) continue;  // a value ("--access_log help.log")
    const absl::CommandLineFlag* flag =
        absl::FindCommandLineFlag(absl::string_view(arg->name.data(), arg->name.size()));
    const RangeCheck out_of_range = flag != nullptr ? RangeCheckFor(*flag) : nullptr;
    if (out_of_range == nullptr) continue;
    const std::string& origin = args[i].origin;
    std::string_view value;
    if (arg->value.has_value()) {
      value = *arg->value;
    } else if (i + 1 < args.size()) {
      value = args[++i].text;  // "--port 8080"
    } else {
      continue;  // no value: ParseCommandLine says so
    }
    const std::string name(arg->name);
    std::string_view digits = value;
    if (digits.starts_with('-')) digits.remove_prefix(1);
    const bool decimal = !digits.empty() &&
                         std::all_of(digits.begin(), digits.end(), http::IsDigit) &&
                         (digits.size() == 1 || digits.front() != '0');
    if (!decimal) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " must be a decimal integer without leading zeros, not '",
                       std::string(value), "'", origin));
    }
    // Past the type's range: abseil's "Illegal value" (exit 1), where a
    // value past the flag's own range is a usage error (exit 2). The
    // flag's own range is checked after parsing, so it is not known here:
    // the message does not pass the type's range off as the flag's.
    if (const std::optional<std::string> range = out_of_range(value); range.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " must be ", value.starts_with('-') ? "larger" : "smaller",
                       ": '", std::string(value), "' does not even fit the flag's type, ", *range,
                       " (its own range is narrower)", origin));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServerOptions> ServerOptionsFromCommandLine(int argc, char** argv) {
  if (absl::Status s = CheckIntegerFlagsAreDecimal(argc, argv); !s.ok()) return s;
  const std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() > 1) {  // args[0] is the program
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", args[1],
                     "': only flags are taken (--name=value; --help lists them)"));
  }
  return ServerOptionsFromFlags();
}

}  // namespace brisk
