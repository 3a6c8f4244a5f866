#include "server/http_server.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <iterator>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "concurrency/start_thread.h"
#include "net/event_loop.h"
#include "net/ip_prefix.h"
#include "net/signals.h"
#include "net/socket.h"
#include "server/access_log.h"
#include "server/codel_policy.h"
#include "server/connection.h"
#include "server/deadline_policy.h"
#include "server/dispatcher.h"
#include "server/handover.h"
#include "server/lifecycle.h"
#include "server/process_metrics.h"
#include "server/reactor.h"
#include "server/route_table.h"
#include "server/server_thread.h"
#include "server/status_page.h"
#include "server/stderr_writer.h"
#include "server/tls_endpoint.h"
#include "server/wait_bound.h"
#include "server/worker_pool.h"

namespace brisk {
namespace {

// What a stop stuck on a handler that never returns waits for before it
// ends the process: servers of this process still draining (their
// shutdown began, their drain is not over: it would cut their answers off),
// plus those in the first two steps of their stop (closing connections,
// finishing handlers), less those stuck there past their own watchdog's
// limit (two stuck stops would wait for each other). Not a server that is
// not shutting down (one that owns no signals: its host, waiting for the
// stuck Run() to return, would never stop it), nor one that drained and
// waits for its host's Stop() (as in a.Run(); b.Run();).
std::atomic<int> draining_servers{0};
std::atomic<int> servers_in_stop{0};
std::atomic<int> stuck_servers{0};
// SIGTERMs and SIGINTs read since the last server that handles signals
// started (under HttpServer::Impl::signal_servers_mu()): one read while
// every such server is in its stop is a second stop signal if it is not
// the first since then, whichever server read it.
int stop_signals_read = 0;

// Ends the process at once with `code`: the logs get a moment (not the
// wait of a blocked pipe), since _exit skips atexit and destructors.
[[noreturn]] void FlushAndExit(AccessLog* access_log, int code) {
  if (access_log != nullptr) access_log->Flush(std::chrono::milliseconds(200));
  internal::Stderr().Flush(std::chrono::milliseconds(200));
  // Not if a stuck handler holds stdout (blocked writing to a pipe).
  if (ftrylockfile(stdout) == 0) {
    fflush_unlocked(stdout);
    funlockfile(stdout);
  }
  _exit(code);
}

// max_connections open at once needs as many descriptors besides the
// server's own (listeners, loops, the log, a few made after this): say so
// at start when the open-file limit is lower, or the server finds out under
// load, where new clients then wait in the listen backlog
// (brisk_accept_fd_limit_total).
void WarnIfFewerFilesThanConnections(int max_connections) {
  constexpr rlim_t kSlack = 8;  // descriptors the server opens after this
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur == RLIM_INFINITY) return;
  rlim_t open_now = 0;
  if (DIR* dir = opendir("/proc/self/fd"); dir != nullptr) {
    while (readdir(dir) != nullptr) ++open_now;
    closedir(dir);
    open_now = open_now > 3 ? open_now - 3 : 0;  // ".", ".." and the DIR's own
  }
  const rlim_t own = open_now + kSlack;
  if (static_cast<rlim_t>(max_connections) + own <= files.rlim_cur) return;
  if (files.rlim_cur <= own) {
    // Start() refuses to start when not one connection fits; this says
    // why when a few barely do.
    internal::SayOnStderr(
        "warning: the open-file limit (%llu descriptors) leaves almost "
        "none for connections beside the server's own (~%llu); raise "
        "it (ulimit -n, systemd LimitNOFILE=)",
        static_cast<unsigned long long>(files.rlim_cur), static_cast<unsigned long long>(own));
    return;
  }
  internal::SayOnStderr(
      "warning: max_connections %d is above what the open-file limit "
      "allows (%llu descriptors, ~%llu of them the server's own): past "
      "~%llu connections new clients wait in the listen backlog; raise "
      "the limit (ulimit -n, systemd LimitNOFILE=) or lower "
      "--max_connections",
      max_connections, static_cast<unsigned long long>(files.rlim_cur),
      static_cast<unsigned long long>(own), static_cast<unsigned long long>(files.rlim_cur - own));
}

// A start that leaves no descriptor for a connection (an open-file limit
// the server's own listeners, loops and log use up: `ulimit -n 32` with
// eight reactors) would print its "listening" line and then accept nothing,
// every client waiting in the backlog for good. Refused instead, with the
// reason. Probed by duplicating `any_fd`: exact, where counting the
// server's descriptors is an estimate. `opened_later`: descriptors the
// start opens after the check (a takeover's handover service, started once
// the takeover is confirmed, when failing would leave no one accepting).
absl::Status CheckADescriptorIsLeft(int any_fd, size_t opened_later) {
  std::vector<net::UniqueFd> probes;
  for (size_t i = 0; i <= opened_later; ++i) {
    net::UniqueFd probe(fcntl(any_fd, F_DUPFD_CLOEXEC, 0));
    if (!probe) break;
    probes.push_back(std::move(probe));
  }
  if (probes.size() > opened_later) return absl::OkStatus();
  if (errno != EMFILE) return absl::OkStatus();  // ENFILE: the system's, may pass
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  return absl::ResourceExhaustedError(absl::StrFormat(
      "the open-file limit (%llu descriptors) leaves none for a connection once "
      "the server's own are open; raise it (ulimit -n, systemd LimitNOFILE=) or "
      "use fewer --reactors",
      static_cast<unsigned long long>(files.rlim_cur)));
}

using internal::Route;

// Every timeout and deadline is added to a steady time (which starts near
// the machine's boot), and nanoseconds::max() (absl's "inf" on the command
// line) would overflow there: a longer duration than a century means
// "never" and is taken as a century, as the server's waits take it.
void Bound(std::chrono::nanoseconds* d) { *d = internal::WaitBound(*d); }

ServerOptions Bounded(ServerOptions o) {
  for (std::chrono::nanoseconds* t :
       {&o.header_timeout, &o.idle_timeout, &o.write_timeout,
        &o.request_deadline, &o.drain_grace, &o.drain_timeout,
        &o.codel_target, &o.codel_interval, &o.tls.handshake_timeout}) {
    Bound(t);
  }
  return o;
}

}  // namespace

struct HttpServer::Impl {
  explicit Impl(ServerOptions o) : options(Bounded(std::move(o))) {}

  absl::Status AddRoute(Route route);
  absl::Status AddBuiltinRoutes(HttpServer* server);
  absl::Status AddStatusRoutes(HttpServer* server);
  // Control thread: the shutdown's steps.
  void BeginShutdownOnControl();
  // Counts this server in draining_servers once its shutdown begins, and
  // no more once its drain is over or its stop began (never again).
  void CountDraining();
  void UncountDraining();
  // Records when the drain's timeout ends (steady clock), for Stop().
  void NoteShutdownDeadline();
  // A newer process took over the listening sockets.
  void HandedOverOnControl();
  void DrainOnControl();
  // Says on stderr, as the process's stop begins, whether its drain ended
  // with every connection closed or was cut by the drain timeout.
  void SayHowTheDrainEnded();
  void FinishShutdownOnControl();
  void OnSignal(int signo);
  // SIGHUP and SIGUSR1: reopens the access log file, and says so on stderr.
  void ReopenAccessLogOnSignal(int signo);
  // The kernel hands a process signal to one signalfd only (whichever is
  // read first), so the server that reads it passes it to every running
  // server that handles signals: one SIGTERM shuts them all down, as each
  // one's handle_signals promises. Any thread.
  // `signo`, read by `reader`'s signalfd, to every server that handles
  // signals.
  static void BroadcastSignal(int signo, Impl* reader);
  static std::mutex& signal_servers_mu();
  static std::vector<Impl*>& signal_servers();  // guarded by the above

  const ServerOptions options;
  internal::RouteTable routes;
  // AddMetricsSource's; fixed once started (read by reactors then).
  std::vector<std::function<void(std::string*)>> metrics_sources;
  // Shared with every Exchange, which may outlive the server.
  std::shared_ptr<ServerMetrics> metrics;
  std::unique_ptr<AccessLog> access_log;
  internal::Lifecycle lifecycle;
  internal::ConnectionConfig connection_config;
  std::unique_ptr<internal::Dispatcher> dispatcher;
  std::unique_ptr<internal::WorkerPool> workers;
  // The background lane (ServerOptions::background_workers); null without.
  std::unique_ptr<internal::WorkerPool> background_workers;
  std::unique_ptr<internal::TlsEndpoint> tls;  // null: plain HTTP
  std::vector<std::unique_ptr<internal::Reactor>> reactors;
  // Published once the listeners are bound (port) and the figures exist
  // (metrics): read by port() and metrics() from any thread, a Run()
  // starting the server on another one included.
  std::atomic<uint16_t> port{0};
  std::atomic<const ServerMetrics*> published_metrics{nullptr};
  // Shutdown() writes here (an eventfd the control loop watches): a write(2)
  // is what a signal handler may do; Post() takes a lock.
  net::UniqueFd shutdown_event{eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  std::atomic<bool> running{false};  // started, and the event is watched
  // Wakes the control loop to begin the shutdown. Async-signal-safe.
  void PostShutdownEvent() {
    const uint64_t one = 1;
    (void)!write(shutdown_event.get(), &one, sizeof(one));
  }

  // The control thread: shutdown timers and signals.
  std::unique_ptr<net::EventLoop> control;
  std::thread control_thread;
  std::unique_ptr<net::SignalWatcher> signals;  // control thread only
  std::unique_ptr<internal::HandoverService> handover;
  int signals_seen = 0;                          // control thread only
  // In draining_servers: 0 not yet, 1 counted, 2 no more (a late handover
  // must not count it again).
  std::atomic<int> drain_state{0};

  std::mutex mu;
  std::condition_variable cv;
  bool started = false;           // guarded by mu
  bool start_attempted = false;   // guarded by mu
  bool stopped = false;           // guarded by mu
  bool shutdown_done = false;     // guarded by mu: Run() may return
  // Guarded by mu: Run() waits for the shutdown's end, and will stop the
  // server as soon as it comes (its drain's end hands over to its stop
  // with no gap in draining_servers + servers_in_stop).
  bool run_waiting = false;
  // Shutdown() came before Start(): Start() begins the shutdown, so a Run()
  // racing a Shutdown() from another thread still returns. Written under
  // mu; read by ready() too.
  std::atomic<bool> shutdown_requested{false};
  // When a drain under way must end (steady clock, ns); 0: none began.
  std::atomic<int64_t> shutdown_deadline_ns{0};
  // The shutdown under way is the process's (a signal, a handover): its
  // stop must end even if a handler never returns (see StopLocked).
  std::atomic<bool> process_shutdown{false};
  // Held by Start() and Stop() throughout: a Stop() from another thread
  // waits for a Start() in progress, then stops what it started.
  std::mutex stop_mu;

  // Stop()'s work; `stop_mu` held.
  void StopLocked();
  // True on one of this server's own threads (reactors, workers, control):
  // what must not wait for them (Stop(), the destructor) is called there.
  bool OnOwnThread() const {
    const ServerMetrics* token = published_metrics.load();
    return token != nullptr && internal::current_server_thread == token;
  }
};

absl::Status HttpServer::Impl::AddRoute(Route route) {
  // Held across the addition: Start() on another thread sets
  // `start_attempted` under it before it reads the route table, so a route
  // is either in the table it serves or refused, never added while the
  // reactors read it.
  std::lock_guard<std::mutex> lock(mu);
  if (started || start_attempted) {
    return absl::FailedPreconditionError(
        "routes are added before Start (AddRoute, AddAsyncRoute, "
        "AddBatchRoute)");
  }
  if (route.options.max_body_bytes > options.max_body_memory) {
    return absl::InvalidArgumentError(
        "a route's max_body_bytes must be <= the server's max_body_memory (one largest body must "
        "fit)");
  }
  Bound(&route.options.deadline);
  Bound(&route.batch_options.max_delay);
  return routes.Add(std::move(route));
}

absl::Status HttpServer::Impl::AddBuiltinRoutes(HttpServer* server) {
  // Each an inline GET (HEAD too); empty paths are not served.
  const std::pair<const std::string*, Handler> builtins[] = {
      {&options.metrics_path,
       [this](RequestContext&) {
         http::Response r;
         r.status = 200;
         metrics->AppendPrometheus(&r.body);
         if (tls != nullptr) tls->AppendPrometheus(&r.body);
         if (options.process_metrics) internal::AppendProcessMetrics(&r.body);
         for (const auto& source : metrics_sources) source(&r.body);
         r.AddHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
         r.AddHeader("Cache-Control", "no-store");
         return r;
       }},
      {&options.health_path,
       [](RequestContext&) { return http::Response::Text(200, "ok\n"); }},
      {&options.ready_path,
       [server](RequestContext&) {
         return server->ready() ? http::Response::Text(200, "ready\n")
                                : http::Response::Text(503, "shutting down\n");
       }},
  };
  for (const auto& [path, handler] : builtins) {
    if (path->empty()) continue;
    absl::Status s = routes.Add(Route{.method = "GET",
                                      .pattern = *path,
                                      .handler = handler,
                                      .options = {.run_inline = true}});
    if (!s.ok()) return s;
  }
  return AddStatusRoutes(server);
}

absl::Status HttpServer::Impl::AddStatusRoutes(HttpServer* server) {
  if (options.status_path.empty()) return absl::OkStatus();
  absl::Status s = routes.Add(Route{
      .method = "GET",
      .pattern = options.status_path,
      .handler =
          [](RequestContext&) {
            http::Response r = http::Response::Html(
                200, std::string(internal::StatusPageHtml()));
            r.AddHeader("Content-Security-Policy", internal::kStatusPagePolicy);
            r.AddHeader("Cache-Control", "no-store");
            return r;
          },
      .options = {.run_inline = true}});
  if (!s.ok()) return s;
  const int pid = getpid();
  return routes.Add(
      Route{.method = "GET",
            .pattern = options.status_path + ".json",
            .handler =
                [this, server, pid](RequestContext&) {
                  std::string tls_json;
                  if (tls != nullptr) tls->AppendJson(&tls_json);
                  http::Response r = http::Response::Json(
                      200, internal::StatusJson(*metrics, server->ready(),
                                                std::chrono::steady_clock::now().time_since_epoch(),
                                                pid, tls_json));
                  r.AddHeader("Cache-Control", "no-store");
                  return r;
                },
            .options = {.run_inline = true}});
}

namespace {

// Whether `fd` is readable now (a pending signal on a signalfd).
bool PollReadable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

// Descriptors 0, 1 and 2 that whoever started the process left closed
// (`brisk <&- 2>&-`, a careless supervisor) are opened on /dev/null, as
// OpenSSH's sanitise_stdfd() does. Otherwise the next descriptor the process
// opens takes that number, and what it writes to stdout or stderr (the
// start line, a diagnostic) goes there: into the access log, the shutdown
// eventfd (a write there begins the shutdown), or, once a rotation frees a
// number, a client's connection (outside review).
void OpenClosedStandardDescriptors() {
  for (;;) {
    const int fd = open("/dev/null", O_RDWR);
    if (fd < 0) return;  // nothing to be done: no descriptor left
    if (fd > STDERR_FILENO) {  // 0, 1 and 2 are all open
      close(fd);
      return;
    }
  }
}

// `value` in [lo, hi], else InvalidArgument "name must be in [lo, hi]".
template <typename T>
absl::Status CheckRange(const char* name, T value, T lo, T hi) {
  if (value >= lo && value <= hi) return absl::OkStatus();
  if (hi == std::numeric_limits<T>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " must be >= ", lo));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(name, " must be in [", lo, ", ", hi, "]"));
}

// A duration above 0, or at least 0 with `zero_ok` (no upper bound: one
// over a century means never, see Bounded()).
absl::Status CheckDuration(const char* name, std::chrono::nanoseconds d,
                           bool zero_ok = false) {
  const auto zero = std::chrono::nanoseconds(0);
  if (zero_ok ? d >= zero : d > zero) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(name, " must be ", zero_ok ? ">= 0" : "> 0"));
}

}  // namespace

absl::Status ValidateServerOptions(const ServerOptions& o) {
  const absl::Status checks[] = {
      CheckRange("reactors", o.reactors, 1, kMaxReactors),
      CheckRange("workers", o.workers, 1, kMaxWorkers),
      CheckRange("worker_nice", o.worker_nice, 0, 19),
      CheckRange("background_workers", o.background_workers, 0, kMaxWorkers),
      CheckRange("background_nice", o.background_nice, 0, 19),
      CheckRange<size_t>("queue_capacity", o.queue_capacity, 1, kMaxQueueCapacity),
      CheckRange("max_connections", o.max_connections, 1,
                 std::numeric_limits<int>::max()),
      // 0 answered nothing (no request could be parsed) and a tiny header
      // limit refuses every HTTP/1.1 request (431: Host alone is over it);
      // a stream buffer of 0 could never become writable.
      CheckRange<size_t>("max_pipeline_depth", o.max_pipeline_depth, 1,
                         std::numeric_limits<size_t>::max()),
      CheckRange<size_t>("max_header_bytes", o.max_header_bytes, 64,
                         std::numeric_limits<size_t>::max()),
      CheckRange<size_t>("stream_buffer_bytes", o.stream_buffer_bytes, 1,
                         std::numeric_limits<size_t>::max()),
      CheckDuration("header_timeout", o.header_timeout),
      CheckDuration("idle_timeout", o.idle_timeout),
      CheckDuration("write_timeout", o.write_timeout),
      CheckDuration("request_deadline", o.request_deadline),
      // A grace longer than drain_timeout is cut to it (the timeout bounds
      // the whole shutdown, grace included).
      CheckDuration("drain_grace", o.drain_grace, /*zero_ok=*/true),
      CheckDuration("drain_timeout", o.drain_timeout),
      CheckDuration("codel_target", o.codel_target),
      CheckDuration("codel_interval", o.codel_interval),
      CheckRange("shed_status", o.shed_status, 400, 599),
      CheckDuration("tls.handshake_timeout", o.tls.handshake_timeout),
  };
  for (const absl::Status& s : checks) {
    if (!s.ok()) return s;
  }
  if (o.io != IoBackend::kEpoll && o.io != IoBackend::kIoUring) {
    return absl::InvalidArgumentError("io must be IoBackend::kEpoll or kIoUring");
  }
  if (o.admission != ServerOptions::Admission::kDeadline &&
      o.admission != ServerOptions::Admission::kCodel) {
    return absl::InvalidArgumentError("admission must be Admission::kDeadline or kCodel");
  }
  // The server speaks HTTP/1.x: a client that negotiated "h2" would send
  // the HTTP/2 preface to the HTTP/1.1 parser (a browser fails the page).
  for (const std::string& protocol : o.tls.alpn_protocols) {
    if (protocol != "http/1.1" && protocol != "http/1.0") {
      return absl::InvalidArgumentError(
          absl::StrCat("tls.alpn_protocols: \"", absl::CEscape(protocol),
                       "\" is not spoken here (only http/1.1 and http/1.0)"));
    }
  }
  if (o.max_body_memory < o.max_body_bytes) {
    return absl::InvalidArgumentError(
        "max_body_memory must be >= max_body_bytes (one largest body must fit)");
  }
  if (!o.handover_socket.empty() && o.reactors > internal::kMaxHandoverListeners) {
    // One listening socket per reactor, all passed in one message, which
    // Linux caps at 253 descriptors (SCM_MAX_FD): every upgrade failed.
    return absl::InvalidArgumentError(
        absl::StrCat("handover_socket: at most ", internal::kMaxHandoverListeners,
                     " reactors (their listening sockets go in one message; Linux's SCM_MAX_FD)"));
  }
  if (absl::StatusOr<net::IpPrefixSet> trusted =
          net::IpPrefixSet::Parse(o.trusted_proxies);
      !trusted.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("trusted_proxies: ", trusted.status().message()));
  }
  if (o.background_workers > 0 && o.background_nice < o.worker_nice) {
    return absl::InvalidArgumentError(
        "background_nice must be >= worker_nice (the lane would outrank the workers)");
  }
  return absl::OkStatus();
}

void PrepareServerProcess() {
  // Closed standard descriptors opened on /dev/null, SIGHUP and SIGUSR1
  // blocked, SIGPIPE ignored, soft RLIMIT_NOFILE raised to the hard one.
  OpenClosedStandardDescriptors();
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  sigaddset(&hup, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &hup, nullptr);
  signal(SIGPIPE, SIG_IGN);
  struct rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);  // best effort: the old limit stays
  }
}

HttpServer::HttpServer(ServerOptions options)
    // Before the server opens its first descriptor (the shutdown eventfd).
    : impl_((OpenClosedStandardDescriptors(), std::make_unique<Impl>(std::move(options)))) {}

HttpServer::~HttpServer() {
  if (impl_->OnOwnThread()) {
    // From a handler: the server cannot outlive its own destruction, nor
    // wait for the thread it runs on. Say so, rather than crash later.
    internal::Stderr().Flush(std::chrono::milliseconds(200));  // what led here
    std::fprintf(stderr,
                 "HttpServer destroyed on one of its own threads (from a "
                 "handler?): a server cannot wait for itself; aborting. Destroy "
                 "it from another thread (Shutdown() from the handler, then "
                 "let Run() return).\n");
    std::abort();
  }
  Stop();
}

absl::Status HttpServer::AddRoute(std::string_view method,
                                  std::string_view pattern, Handler handler,
                                  RouteOptions route_options) {
  if (!handler) return absl::InvalidArgumentError("empty handler");
  return impl_->AddRoute(Route{.method = std::string(method),
                               .pattern = std::string(pattern),
                               .handler = std::move(handler),
                               .options = route_options});
}

absl::Status HttpServer::AddAsyncRoute(std::string_view method,
                                       std::string_view pattern,
                                       AsyncHandler handler,
                                       RouteOptions route_options) {
  if (!handler) return absl::InvalidArgumentError("empty handler");
  return impl_->AddRoute(Route{.method = std::string(method),
                               .pattern = std::string(pattern),
                               .async = std::move(handler),
                               .options = route_options});
}

absl::Status HttpServer::AddMetricsSource(std::function<void(std::string*)> source) {
  if (!source) return absl::InvalidArgumentError("empty metrics source");
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  if (d.started || d.start_attempted) {
    return absl::FailedPreconditionError("AddMetricsSource after Start");
  }
  d.metrics_sources.push_back(std::move(source));
  return absl::OkStatus();
}

absl::Status HttpServer::AddBatchRoute(std::string_view method,
                                       std::string_view pattern,
                                       BatchHandler handler,
                                       BatchOptions batch_options,
                                       RouteOptions route_options) {
  if (!handler) return absl::InvalidArgumentError("empty handler");
  if (impl_->options.admission != ServerOptions::Admission::kDeadline) {
    return absl::FailedPreconditionError(
        "batch routes need the deadline admission policy");
  }
  return impl_->AddRoute(Route{.method = std::string(method),
                               .pattern = std::string(pattern),
                               .batch = std::move(handler),
                               .options = route_options,
                               .batch_options = batch_options});
}

absl::Status HttpServer::Start() {
  Impl& d = *impl_;
  // A Stop() from another thread (right after ready() turned true, or while
  // a Run() there is starting) waits for this start to end: it stopped
  // nothing, or found the control thread not yet stored and never joined
  // it (std::terminate).
  std::lock_guard<std::mutex> stop_lock(d.stop_mu);
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (d.started) return absl::FailedPreconditionError("already started");
    if (d.stopped) {
      return absl::FailedPreconditionError(
          "Stop() came first; a stopped server does not start (make a new one)");
    }
    if (d.start_attempted) {
      return absl::FailedPreconditionError(
          "Start() failed before; a server is started at most once");
    }
    d.start_attempted = true;
  }
  const ServerOptions& o = d.options;
  if (absl::Status s = ValidateServerOptions(o); !s.ok()) return s;
  if (o.tls.enabled()) {
    absl::StatusOr<std::unique_ptr<internal::TlsEndpoint>> tls = internal::TlsEndpoint::Create(
        o.tls, [](std::string_view line) { internal::Stderr().Say(line); });
    if (!tls.ok()) return tls.status();
    d.tls = *std::move(tls);
  }
  if (absl::Status s = d.AddBuiltinRoutes(this); !s.ok()) return s;
  for (const std::string& path : o.access_log_quiet_paths) {
    if (absl::Status s = d.routes.QuietAccessLog(path); !s.ok()) return s;
  }
  d.metrics = std::make_shared<ServerMetrics>(d.routes.metric_names());
  for (size_t i = 0; i < d.routes.size(); ++i) {
    if (d.routes.route(i).batch) d.metrics->route(d.routes.metrics_index(i)).batch = true;
  }
  // The series an alert on errors watches exist from the first scrape.
  for (size_t i = 0; i < d.metrics->num_routes(); ++i) {
    for (int status : {200, 500, 503, o.shed_status}) {
      d.metrics->route(i).written_at_zero.set(static_cast<size_t>(status - 100));
    }
  }
  for (int status : {400, 404}) {
    d.metrics->unmatched().written_at_zero.set(static_cast<size_t>(status - 100));
  }
  d.metrics->start_time_seconds.store(
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(),
      std::memory_order_relaxed);
  d.metrics->start_monotonic_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count(),
                                      std::memory_order_relaxed);
  d.published_metrics.store(d.metrics.get());
  if (!o.access_log.empty()) {
    absl::StatusOr<std::unique_ptr<AccessLog>> log = AccessLog::Open(
        o.access_log, AccessLogHooks{.lost_lines = &d.metrics->access_log_lost_lines});
    if (!log.ok()) return log.status();
    d.access_log = *std::move(log);
  }
  d.connection_config = internal::ConnectionConfig{
      .header_timeout = o.header_timeout,
      .idle_timeout = o.idle_timeout,
      .write_timeout = o.write_timeout,
      .max_pipeline_depth = o.max_pipeline_depth,
      .max_unsent_bytes = o.max_unsent_bytes,
      .parser_limits = http::ParserLimits{.max_header_bytes = o.max_header_bytes,
                                          .max_body_bytes = o.max_body_bytes},
      .max_body_memory = o.max_body_memory,
      .proxy_protocol = o.proxy_protocol};
  if (net::IpPrefixSet trusted = *net::IpPrefixSet::Parse(o.trusted_proxies);
      !trusted.empty()) {  // validated above
    d.connection_config.trusted_proxies = std::make_shared<const internal::TrustedProxies>(
        internal::TrustedProxies{std::move(trusted), o.trusted_proxies_recursive});
  }
  d.dispatcher = std::make_unique<internal::Dispatcher>(
      &d.routes, d.metrics,
      internal::DispatchOptions{
          .request_deadline = o.request_deadline,
          .shed_status = o.shed_status,
          .exchange = {.stream_buffer_limit = o.stream_buffer_bytes}});
  bool has_background_routes = false;
  for (size_t i = 0; i < d.routes.size(); ++i) {
    has_background_routes = has_background_routes || d.routes.route(i).options.background;
  }
  // The background lane exists when some route may use it; each pool then
  // wakes itself for the batches it forms.
  const bool lane = o.background_workers > 0 && has_background_routes;
  bool workers_batch = false;
  bool lane_batch = false;
  for (size_t i = 0; i < d.routes.size(); ++i) {
    const internal::Route& route = d.routes.route(i);
    if (!route.batch) continue;
    (lane && route.options.background ? lane_batch : workers_batch) = true;
  }
  // One policy per worker pool (the lanes queue apart).
  auto make_policy = [&](int workers) -> std::unique_ptr<internal::AdmissionPolicy> {
    if (o.admission == ServerOptions::Admission::kCodel) {
      return internal::MakeCodelPolicy(
          AdmissionOptions{.capacity = o.queue_capacity,
                           .target = o.codel_target,
                           .interval = o.codel_interval,
                           .adaptive_lifo = o.adaptive_lifo});
    }
    internal::DeadlinePolicyOptions deadline{.capacity = o.queue_capacity,
                                             .workers = workers};
    for (size_t i = 0; i < d.routes.size(); ++i) {
      const internal::Route& route = d.routes.route(i);
      const RouteOptions& ro = route.options;
      deadline.max_concurrency.push_back(ro.max_concurrency);
      deadline.initial_estimate.push_back(ro.expected_service_time);
      std::optional<internal::BatchFormerOptions> batch;
      if (route.batch) {
        const BatchOptions& b = route.batch_options;
        batch = internal::BatchFormerOptions{
            .policy = b.policy == BatchOptions::Policy::kFixed
                          ? internal::BatchFormerOptions::Policy::kFixed
                          : internal::BatchFormerOptions::Policy::kDeadline,
            .max_batch = b.max_batch,
            .max_delay = b.max_delay,
            .expected_fixed_cost = b.expected_fixed_cost,
            .expected_per_item_cost = b.expected_per_item_cost};
      }
      deadline.batch.push_back(batch);
    }
    return std::make_unique<internal::DeadlinePolicy>(std::move(deadline));
  };

  if (o.handle_signals) {
    // This thread, and every thread made from here on (they inherit the
    // mask), leaves the signals to the signalfd installed below.
    const sigset_t set = internal::ServerSignals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }
  d.workers = std::make_unique<internal::WorkerPool>(
      o.workers, o.queue_capacity, make_policy(o.workers), d.dispatcher.get(),
      d.metrics.get(), o.worker_nice, workers_batch);
  if (lane) {
    d.background_workers = std::make_unique<internal::WorkerPool>(
        o.background_workers, o.queue_capacity,
        make_policy(o.background_workers), d.dispatcher.get(), d.metrics.get(),
        o.background_nice, lane_batch, "brisk-bg-worker");
  }
  // A system that refuses threads (a limit on processes in a container)
  // fails the start with the reason, nothing started.
  for (internal::WorkerPool* pool : {d.workers.get(), d.background_workers.get()}) {
    if (pool != nullptr && !pool->status().ok()) return pool->status();
  }
  d.dispatcher->set_pools(d.workers.get(), d.background_workers.get());

  const internal::ConnectionContext context{
      .config = &d.connection_config,
      .dispatcher = d.dispatcher.get(),
      .metrics = d.metrics.get(),
      .access_log = d.access_log.get(),
      .lifecycle = &d.lifecycle};
  // A binary upgrade: take over a running server's listening sockets.
  std::optional<internal::Takeover> takeover;
  // What this server's port speaks, sent with its sockets to the next
  // upgrade ("scheme=https proxy_protocol=off") and compared with the
  // running server's on a takeover.
  const std::pair<std::string, std::string> own_traits[] = {
      {"scheme", o.tls.enabled() ? "https" : "http"},
      {"proxy_protocol", o.proxy_protocol ? "on" : "off"}};
  const std::string traits = absl::StrJoin(own_traits, " ", absl::PairFormatter("="));
  // Readable once a stop signal is pending (they are blocked above): a
  // SIGTERM or SIGINT before the takeover is confirmed cancels it, so the
  // running server goes on (it used to be taken over, then left as this
  // one shut down: the port closed).
  net::UniqueFd stop_signal;
  if (o.handle_signals && !o.handover_socket.empty()) {
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    stop_signal.reset(signalfd(-1, &stops, SFD_CLOEXEC | SFD_NONBLOCK));
  }
  if (!o.handover_socket.empty()) {
    absl::StatusOr<internal::Takeover> t =
        internal::Takeover::Request(o.handover_socket, stop_signal.get());
    if (t.ok()) {
      takeover = *std::move(t);
    } else if (t.status().code() != absl::StatusCode::kNotFound) {
      return absl::Status(t.status().code(),
                          absl::StrCat("handover socket ", o.handover_socket,
                                       ": no takeover: ", t.status().message()));
    }
  }
  // One listener per reactor; with several, SO_REUSEPORT lets the kernel
  // spread connections between them.
  uint16_t port = o.port;
  if (!takeover.has_value() && o.reactors > 1 && port != 0) {
    // SO_REUSEPORT would also join a port another process (of this user)
    // listens on with it, a brisk still running there, say: that one would
    // keep a share of the connections. A port in use fails the start, as
    // it does with one reactor. (Port 0: the first listener's bind picks a
    // port no socket holds, SO_REUSEPORT or not, and the others join it;
    // probing first left the port free between the probe and the bind.)
    absl::StatusOr<uint16_t> free = net::ProbeFreePort(o.address, port);
    if (!free.ok()) return free.status();
    port = *free;
  }
  // The sockets each reactor accepts from, and the distinct ones (what the
  // next binary upgrade takes over).
  const size_t reactors = static_cast<size_t>(o.reactors);
  std::vector<std::vector<net::Listener>> accepts_from(reactors);
  std::vector<int> listener_fds;
  if (takeover.has_value()) {
    // The old process's sockets. Every one is accepted from, round robin
    // over the reactors: closing a surplus one (an old process with more
    // reactors) would reset the connections in its backlog. A reactor left
    // without one shares one (a duplicate descriptor of the same socket).
    std::vector<net::Listener>& got = takeover->listeners();
    if (got.empty()) return absl::FailedPreconditionError("no listening socket handed over");
    // The sockets of the address and port this server was asked for, or
    // none: a handover socket path shared by mistake would otherwise move
    // another instance's port here, and leave this one's unserved.
    absl::StatusOr<net::SocketAddress> want = net::SocketAddress::Parse(o.address, o.port);
    if (!want.ok()) return want.status();
    for (const net::Listener& l : got) {
      if (l.local_address().HostString() != want->HostString() ||
          (o.port != 0 && l.port() != o.port)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "handover socket ", o.handover_socket, ": the running server listens on ",
            l.local_address().ToString(), ", not on ", want->HostString(), ":",
            o.port == 0 ? std::string("(any port)") : absl::StrCat(o.port),
            "; nothing was taken over"));
      }
    }
    // What the port speaks must not change under its clients: an HTTPS
    // port served in cleartext, or a balancer's PROXY headers read as
    // requests. (An older brisk says nothing: not checked.)
    for (const auto& [key, mine] : own_traits) {
      const std::optional<std::string> theirs = takeover->trait(key);
      if (theirs.has_value() && *theirs != mine) {
        return absl::FailedPreconditionError(
            absl::StrCat("handover socket ", o.handover_socket, ": the running server's port has ",
                         key, "=", *theirs, ", this one would serve it with ", key, "=", mine,
                         key == "scheme" ? " (--tls_cert, --tls_key)" : " (--proxy_protocol)",
                         "; nothing was taken over"));
      }
    }
    port = got.front().port();  // one port: they all listen on it
    for (size_t i = got.size(); i < reactors; ++i) {
      absl::StatusOr<net::Listener> shared = net::Listener::Adopt(
          net::UniqueFd(fcntl(got[i % got.size()].fd(), F_DUPFD_CLOEXEC, 0)));
      if (!shared.ok()) return shared.status();
      accepts_from[i].push_back(*std::move(shared));
    }
    for (size_t k = 0; k < got.size(); ++k) {
      listener_fds.push_back(got[k].fd());
      accepts_from[k % reactors].push_back(std::move(got[k]));
    }
  } else {
    for (size_t i = 0; i < reactors; ++i) {
      absl::StatusOr<net::Listener> listener = net::Listener::Create(
          o.address, port,
          net::ListenerOptions{.backlog = 4096,
                               .reuse_port = o.reactors > 1,
                               .defer_accept_seconds = o.defer_accept ? 1 : 0});
      if (!listener.ok()) return listener.status();
      port = listener->port();
      listener_fds.push_back(listener->fd());
      accepts_from[i].push_back(*std::move(listener));
    }
  }
  for (std::vector<net::Listener>& listeners : accepts_from) {
    for (const net::Listener& listener : listeners) {
      // Also on a listener taken over: the flag is the new process's choice.
      if (o.receive_timestamps) {
        if (absl::Status s = net::EnableReceiveTimestamps(listener.fd()); !s.ok()) {
          return s;
        }
      }
    }
    auto reactor = std::make_unique<internal::Reactor>(
        context, &d.lifecycle, o.max_connections,
        net::StreamOptions{.read_on_start = o.defer_accept,
                           .receive_timestamps = o.receive_timestamps},
        d.tls.get());
    if (absl::Status s = reactor->Init(std::move(listeners), o.io == IoBackend::kIoUring);
        !s.ok()) {
      return s;
    }
    d.reactors.push_back(std::move(reactor));
  }
  WarnIfFewerFilesThanConnections(o.max_connections);
  absl::StatusOr<std::unique_ptr<net::EventLoop>> control = net::CreateEpollLoop();
  if (!control.ok()) return control.status();
  d.control = *std::move(control);
  d.lifecycle.SetOnDrained([&d] {
    d.control->Post([&d] { d.FinishShutdownOnControl(); });
  });
  if (o.handle_signals) {
    absl::StatusOr<std::unique_ptr<net::SignalWatcher>> w = net::SignalWatcher::Create(
        d.control.get(),
        std::vector<int>(std::begin(internal::kServerSignals), std::end(internal::kServerSignals)),
        [&d](int signo) { Impl::BroadcastSignal(signo, &d); });
    if (!w.ok()) return w.status();  // before `started`: Stop() is a no-op
    d.signals = *std::move(w);
  }
  const auto on_handed_over = [&d] {
    d.control->Post([&d] { d.HandedOverOnControl(); });
  };
  if (!o.handover_socket.empty() && !takeover.has_value()) {
    // Nothing taken over: the socket must serve the next upgrade, or the
    // server does not start (an upgrade would find no one to take over
    // from, and fail on the port in use, long after this start looked fine).
    absl::StatusOr<std::unique_ptr<internal::HandoverService>> service =
        internal::HandoverService::Start(o.handover_socket, listener_fds, on_handed_over,
                                         internal::kHandoverExchangeTimeout, traits);
    if (!service.ok()) {
      return absl::Status(service.status().code(),
                          absl::StrCat("handover socket ", o.handover_socket, ": ",
                                       service.status().message()));
    }
    d.handover = *std::move(service);
  }
  // A takeover starts its handover service later: its socket, its eventfd
  // and a copy of each listener.
  if (absl::Status s = CheckADescriptorIsLeft(
          listener_fds.front(), takeover.has_value() ? listener_fds.size() + 2 : 0);
      !s.ok()) {
    return s;
  }
  // Before the reactors run: nothing may fail between their start and
  // `started` but a thread (undone below), or a failed start would leave
  // them serving with no Stop() to end them, and this server in the
  // signal list after it is freed (static-analysis review).
  if (!d.shutdown_event) return absl::InternalError("eventfd for Shutdown() failed");
  if (absl::Status s = d.control->Watch(d.shutdown_event.get(), net::kReadable,
                                        [&d](uint32_t) {
                                          uint64_t n;
                                          (void)!read(d.shutdown_event.get(), &n, sizeof(n));
                                          d.BeginShutdownOnControl();
                                        });
      !s.ok()) {
    return s;
  }
  d.port = port;
  // The reactors run from here: a request may be served at once. If the
  // system refuses a thread, the ones started stop and the start fails with
  // the reason.
  for (auto& r : d.reactors) {
    if (absl::Status s = r->StartThread(); !s.ok()) {
      d.reactors.clear();  // each stops its thread, if it started one
      return s;
    }
  }
  if (o.handle_signals) {
    std::lock_guard<std::mutex> lock(Impl::signal_servers_mu());
    Impl::signal_servers().push_back(&d);
    stop_signals_read = 0;  // earlier stops' signals are not this one's
  }
  {
    std::lock_guard<std::mutex> lock(d.mu);
    d.started = true;
    d.running.store(true);
    // Asked before: the control thread, once it exists, begins it first.
    // (A Shutdown() from now on finds `running` set and writes itself.)
    if (d.shutdown_requested.load()) d.PostShutdownEvent();
  }
  // The control thread is the last thing that can fail: it is made before
  // a takeover is confirmed (a start that fails after the confirmation
  // left no one accepting: the old process had begun to drain), and runs
  // once everything it reads (`handover` below among them) is set. A
  // takeover confirmed meanwhile, or a signal, only queued its task.
  auto go = std::make_shared<std::promise<void>>();
  absl::StatusOr<std::thread> control_thread =
      internal::StartServerThread("the control thread", [&d, ready = go->get_future().share()] {
        ready.wait();
        pthread_setname_np(pthread_self(), "brisk-control");
        internal::current_server_thread = d.metrics.get();
        d.control->Run();
      });
  if (!control_thread.ok()) {
    d.StopLocked();  // closes what the reactors accepted; joins every thread
    return control_thread.status();
  }
  if (takeover.has_value() && stop_signal && PollReadable(stop_signal.get())) {
    // Stopped while starting: not confirmed (the connection closes), so the
    // old process goes on as if nothing happened; this one drains what it
    // accepted from the shared sockets as the pending signal asks.
    internal::SayOnStderr(
        "handover: a stop signal came before the takeover was confirmed: the running server "
        "keeps its sockets");
    takeover.reset();
  }
  if (takeover.has_value()) {
    // This one accepts now: the old one may stop. Only then is the socket
    // path ours (the old one serves it until here); failing now would
    // leave no one accepting, so a failure is only reported.
    if (absl::Status confirmed = takeover->Confirm(); !confirmed.ok()) {
      // The old process is gone, or stopped waiting: it goes on serving.
      internal::SayOnStderr(
          "handover: could not confirm the takeover to the old process (%s); it may still be "
          "serving",
          std::string(confirmed.message()).c_str());
    } else {
      // The new process's side of the upgrade, for the journal (the old
      // one says it handed the sockets over).
      internal::SayOnStderr("handover: took over %zu listening socket%s from the running server",
                            listener_fds.size(), listener_fds.size() == 1 ? "" : "s");
    }
    absl::StatusOr<std::unique_ptr<internal::HandoverService>> service =
        internal::HandoverService::Start(o.handover_socket, listener_fds, on_handed_over,
                                         internal::kHandoverExchangeTimeout, traits);
    if (!service.ok()) {
      internal::SayOnStderr("handover socket %s: %s", o.handover_socket.c_str(),
                            service.status().ToString().c_str());
    } else {
      d.handover = *std::move(service);
    }
  }
  go->set_value();
  d.control_thread = *std::move(control_thread);
  // What is served, as each reload says it: a chain that lacks an
  // intermediate is then known at start, not at the first rotation.
  if (d.tls != nullptr) {
    internal::SayOnStderr("tls: %s", d.tls->certificate_summary().c_str());
  }
  return absl::OkStatus();
}

void HttpServer::Impl::ReopenAccessLogOnSignal(int signo) {
  if (absl::Status s = access_log->Reopen(); s.ok()) {
    internal::SayOnStderr("signal %d: access log reopened", signo);
  } else {
    internal::SayOnStderr("signal %d: %s (still writing to the old file)", signo,
                          std::string(s.message()).c_str());
  }
}

void HttpServer::Impl::OnSignal(int signo) {
  const bool log_file = access_log != nullptr && access_log->owns_file();
  if (signo == SIGUSR1) {
    // As nginx: reopen the log files only (no TLS reload).
    if (!log_file) {
      internal::SayOnStderr("signal %d: no access log file to reopen", signo);
      return;
    }
    ReopenAccessLogOnSignal(signo);
    return;
  }
  if (signo == SIGHUP) {
    if (tls == nullptr && !log_file) {
      internal::SayOnStderr("signal %d: nothing to reload", signo);
    }
    if (log_file) ReopenAccessLogOnSignal(signo);
    if (tls == nullptr) return;
    if (absl::Status s = tls->Reload(); s.ok()) {
      internal::SayOnStderr("signal %d: tls reloaded: %s", signo,
                            tls->certificate_summary().c_str());
    } else {
      internal::SayOnStderr("signal %d: tls reload failed: %s", signo,
                            std::string(s.message()).c_str());
    }
    return;
  }
  if (++signals_seen > 1) {
    // A second signal: the operator wants out now (the log gets a moment,
    // not the wait of a blocked pipe). Said first, so that the log does
    // not read as a crash in the middle of a drain.
    const long long open = metrics->open_connections.load();
    const long long in_flight = metrics->in_flight.load();
    internal::SayOnStderr(
        "signal %d again: exiting now, the drain cut short (%lld connection%s open, %lld "
        "request%s in flight)",
        signo, open, open == 1 ? "" : "s", in_flight, in_flight == 1 ? "" : "s");
    FlushAndExit(access_log.get(), 128 + signo);
  }
  if (options.drain_timeout >= std::chrono::hours(24 * 365)) {  // --drain_timeout=inf
    internal::SayOnStderr("signal %d: shutting down (drain with no time limit)", signo);
  } else {
    internal::SayOnStderr("signal %d: shutting down (drain up to %.3gs)", signo,
                          std::chrono::duration<double>(options.drain_timeout).count());
  }
  BeginShutdownOnControl();  // notes the deadline (or a shutdown had)
  process_shutdown.store(true);
}

std::mutex& HttpServer::Impl::signal_servers_mu() {
  static auto* mu = new std::mutex;
  return *mu;
}

std::vector<HttpServer::Impl*>& HttpServer::Impl::signal_servers() {
  static auto* servers = new std::vector<Impl*>;
  return *servers;
}

void HttpServer::Impl::BroadcastSignal(int signo, Impl* reader) {
  std::lock_guard<std::mutex> lock(signal_servers_mu());
  for (Impl* server : signal_servers()) {
    server->control->Post([server, signo] { server->OnSignal(signo); });
  }
  if (signo != SIGTERM && signo != SIGINT) return;
  ++stop_signals_read;
  if (!signal_servers().empty()) return;
  // Read by a server whose stop has begun (it left the list, its control
  // thread still reads its signalfd), with no server left to take it: the
  // process is stopping already. It was dropped, so a stop stuck on a
  // handler could be ended by nothing but SIGKILL. A second stop signal
  // ends the process at once, as while draining; a first, during a stop
  // its host began, is only said.
  if (stop_signals_read == 1) {
    internal::SayOnStderr("signal %d: already stopping; a second one ends the process at once",
                          signo);
    return;
  }
  internal::SayOnStderr("signal %d: exiting at once", signo);
  FlushAndExit(reader->access_log.get(), 128 + signo);
}

void HttpServer::Impl::CountDraining() {
  int not_counted = 0;
  if (drain_state.compare_exchange_strong(not_counted, 1)) draining_servers.fetch_add(1);
}

void HttpServer::Impl::UncountDraining() {
  if (drain_state.exchange(2) == 1) draining_servers.fetch_sub(1);
}

void HttpServer::Impl::BeginShutdownOnControl() {
  if (!lifecycle.BeginShutdown()) return;  // readiness fails from now on
  CountDraining();
  NoteShutdownDeadline();
  // Grace: accepting and serving normally while the balancers notice.
  const std::chrono::nanoseconds grace =
      std::min(options.drain_grace, options.drain_timeout);
  control->RunAfter(grace, [this] { DrainOnControl(); });
  // The whole shutdown, grace included, ends by the drain timeout.
  control->RunAfter(options.drain_timeout, [this] { FinishShutdownOnControl(); });
}

void HttpServer::Impl::NoteShutdownDeadline() {
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  shutdown_deadline_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 now + options.drain_timeout)  // bounded: at most a century
                                 .count());
}

void HttpServer::Impl::HandedOverOnControl() {
  internal::SayOnStderr("handed the listening sockets over: draining");
  // Answers say Connection: close from now on, on every reactor, before
  // readiness fails (the reactors' own drain comes by a post, later).
  lifecycle.BeginHandover();
  // Already shutting down (a signal came first): only stop accepting.
  const bool first = lifecycle.BeginShutdown();
  CountDraining();
  if (handover) handover->Close();
  // The new process accepts on the same sockets from now on; connections
  // here are told to go (Connection: close) but idle ones are closed only
  // after the grace, once clients and balancers had the chance to move.
  for (auto& r : reactors) {
    r->PostStopAccepting();
    r->PostDrainConnections(/*close_idle=*/false);
  }
  if (!first) {
    process_shutdown.store(true);  // the deadline was noted by the first
    return;
  }
  NoteShutdownDeadline();
  process_shutdown.store(true);
  control->RunAfter(std::min(options.drain_grace, options.drain_timeout),
                    [this] { DrainOnControl(); });
  control->RunAfter(options.drain_timeout, [this] { FinishShutdownOnControl(); });
}

void HttpServer::Impl::SayHowTheDrainEnded() {
  const long long open = metrics->open_connections.load();
  const long long in_flight = metrics->in_flight.load();
  // The drain began drain_timeout before its deadline (NoteShutdownDeadline).
  const int64_t deadline = shutdown_deadline_ns.load();
  const double took = deadline == 0
                          ? 0.0
                          : std::chrono::duration<double>(
                                std::chrono::steady_clock::now().time_since_epoch() -
                                (std::chrono::nanoseconds(deadline) - options.drain_timeout))
                                .count();
  if (open == 0) {
    internal::SayOnStderr("shutdown: drained in %.3gs, every connection closed; exiting", took);
    return;
  }
  // Out of time (--drain_timeout): what is cut now is said, so that a
  // clean drain and a cut one do not read alike in the journal.
  internal::SayOnStderr(
      "shutdown: drain timeout reached after %.3gs: closing %lld connection%s (%lld request%s in "
      "flight cut short); exiting",
      took, open, open == 1 ? "" : "s", in_flight, in_flight == 1 ? "" : "s");
}

void HttpServer::Impl::DrainOnControl() {
  if (handover) handover->Close();  // no takeover of a closing listener
  // Held until every reactor's stop is posted: a first reactor with no
  // connection could run its stop and drain tasks before the next one was
  // told, and the drain was complete while that one still accepted (what
  // it took then was cut by the stop, not served).
  lifecycle.AcceptStopBegan();
  lifecycle.BeginDrain();
  for (auto& r : reactors) {
    r->PostStopAccepting();
    r->PostDrainConnections(/*close_idle=*/true);
  }
  lifecycle.AcceptStopEnded();
}

void HttpServer::Impl::FinishShutdownOnControl() {
  std::lock_guard<std::mutex> lock(mu);
  // Drained, or out of time. With Run() waiting, the stop it begins
  // uncounts the drain once it is counted in servers_in_stop: between the
  // two, a stuck server's watchdog must not see this one done and exit.
  if (!run_waiting) UncountDraining();
  shutdown_done = true;
  cv.notify_all();
}

absl::Status HttpServer::Run() {
  Impl& d = *impl_;
  bool started;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    started = d.started;
    // Served and stopped already: it cannot serve again (a new server can).
    if (d.stopped) return absl::FailedPreconditionError("Run() after the server stopped");
  }
  if (!started) {
    if (absl::Status s = Start(); !s.ok()) {
      // Another thread's Start() (or Run()) got there first: wait with it.
      std::lock_guard<std::mutex> lock(d.mu);
      if (!d.started || d.stopped) return s;
    }
  }
  {
    std::unique_lock<std::mutex> lock(d.mu);
    d.run_waiting = true;
    d.cv.wait(lock, [&d] { return d.shutdown_done || d.stopped; });
  }
  Stop();
  return absl::OkStatus();
}

void HttpServer::Shutdown() {
  // Async-signal-safe (a host's signal handler may call it): atomics and a
  // write(2) only. Readiness fails from here on; before Start(), the next
  // Start() (or Run()) begins the shutdown at once; after it, the control
  // thread does, woken by the event (an eventfd write never blocks: it
  // adds to a counter). Both the flag and `running` are sequentially
  // consistent, so a Start() racing this either sees the flag or is seen.
  Impl& d = *impl_;
  d.shutdown_requested.store(true);
  if (d.running.load()) d.PostShutdownEvent();
}

bool HttpServer::WaitDrained(std::chrono::nanoseconds timeout) {
  return impl_->lifecycle.WaitDrained(timeout);
}

void HttpServer::Stop() {
  Impl& d = *impl_;
  if (d.OnOwnThread()) {
    // From a handler (or anything else on the server's threads): stopping
    // waits for every one of them, this one included, and would never
    // return. The graceful shutdown is what can be done from here.
    internal::SayOnStderr(
        "HttpServer::Stop() called on one of the server's own threads "
        "(from a handler?): it would wait for itself; shutting down "
        "gracefully instead (Shutdown()). Call Stop() from another thread.");
    Shutdown();
    return;
  }
  std::lock_guard<std::mutex> stop_lock(d.stop_mu);
  d.StopLocked();
}

namespace {

// How long a process's stop may wait for handlers past the drain's end.
constexpr std::chrono::seconds kStuckStopGrace(1);

// Ends the process if the steps of the stop it watches have not ended
// within `limit`, once no other server of the process is draining or in
// its stop without being stuck too (until then it waits for them): says
// why on stderr, gives the logs a moment, and exits 0 (the connections
// were answered and closed, but those of a reactor held by a stuck inline
// handler; only the stuck handlers' threads are left). Without a thread
// to spare, the stop waits as before.
class StuckStopWatchdog {
 public:
  // `exits`: false in a stop the host began, which waits for its handlers
  // however long they run; past the limit the watchdog then only counts it
  // stuck.
  StuckStopWatchdog(std::chrono::nanoseconds limit, AccessLog* access_log, bool exits) {
    absl::StatusOr<std::thread> t =
        internal::StartServerThread("the shutdown watchdog", [this, limit, access_log, exits] {
          pthread_setname_np(pthread_self(), "brisk-watchdog");
          std::unique_lock<std::mutex> lock(mu_);
          if (cv_.wait_for(lock, limit, [this] { return done_; })) return;
          stuck_servers.fetch_add(1);
          if (!exits) {
            cv_.wait(lock, [this] { return done_; });
            stuck_servers.fetch_sub(1);
            return;
          }
          // Others still draining or stopping, and not stuck (this one is
          // in its stop and stuck: it counts for neither).
          const auto waiting_for_others = [] {
            // Loaded in this order: a server counts in servers_in_stop
            // before it leaves draining_servers, and leaves stuck_servers
            // before servers_in_stop, so no move between them reads as 0.
            const int draining = draining_servers.load();
            const int in_stop = servers_in_stop.load();
            const int stuck = stuck_servers.load();
            return draining + in_stop - stuck > 0;
          };
          if (waiting_for_others()) {
            internal::SayOnStderr(
                "shutdown: handlers still running %.3gs after the drain's end (a handler that "
                "ignores its cancellation, on a worker or inline on a reactor?); waiting for the "
                "process's other servers to stop",
                std::chrono::duration<double>(kStuckStopGrace).count());
            while (waiting_for_others()) {
              if (cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return done_; })) {
                stuck_servers.fetch_sub(1);
                return;
              }
            }
          }
          internal::SayOnStderr(
              "shutdown: handlers still running %.3gs after the drain's end (a handler that "
              "ignores its cancellation, on a worker or inline on a reactor?): exiting without "
              "them",
              std::chrono::duration<double>(kStuckStopGrace).count());
          FlushAndExit(access_log, 0);
        });
    if (t.ok()) thread_ = *std::move(t);
  }
  ~StuckStopWatchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace

void HttpServer::Impl::StopLocked() {
  Impl& d = *this;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (d.stopped) return;
    d.stopped = true;  // before Start(): it will not start
    d.running.store(false);  // not ready; a late Shutdown() writes nothing
    d.cv.notify_all();
    if (!d.started) return;
  }
  // Its stop takes over from its drain, if one was on.
  servers_in_stop.fetch_add(1);
  d.UncountDraining();
  if (d.options.handle_signals) {
    // No signal is passed to this server from now on (it is stopping).
    std::lock_guard<std::mutex> lock(Impl::signal_servers_mu());
    std::vector<Impl*>& servers = Impl::signal_servers();
    servers.erase(std::remove(servers.begin(), servers.end(), &d), servers.end());
  }
  d.lifecycle.BeginDrain();
  if (d.process_shutdown.load()) d.SayHowTheDrainEnded();
  // A handler that never returns (it ignores its cancellation: a blocking
  // call with no timeout) would hold the steps below, and the process,
  // forever: on a worker, the joins of step 2; run inline, its reactor,
  // which step 1 waits for. In a shutdown of the process (a signal, a
  // handover), the process exits without it a second past the drain's end
  // (or, if later, once the process's other servers still draining or
  // stopping are done or stuck), as nginx's worker_shutdown_timeout does.
  {
    // In a stop the host began, the watchdog only counts this stop stuck
    // once past its limit (another server's stuck stop does not wait for
    // it then); it ends the process only in a shutdown of the process.
    const auto now = std::chrono::steady_clock::now().time_since_epoch();
    const auto deadline = std::chrono::nanoseconds(d.shutdown_deadline_ns.load());
    StuckStopWatchdog watchdog(
        std::max<std::chrono::nanoseconds>(now, deadline) + kStuckStopGrace - now,
        d.access_log.get(), /*exits=*/d.process_shutdown.load());
    // 1. Close every connection (cancelling in-flight handlers) while the
    //    loops still run, so workers can still post their (dropped)
    //    results.
    std::vector<std::future<void>> closed;
    for (auto& r : d.reactors) closed.push_back(r->CloseAll());
    for (std::future<void>& f : closed) f.wait();
    // 2. Finish the workers: queued requests are all cancelled and
    //    skipped; running handlers see their cancellation flag.
    d.workers->Shutdown();
    if (d.background_workers) d.background_workers->Shutdown();
  }
  // 3. Stop the loops.
  for (auto& r : d.reactors) r->StopAndJoin();
  d.control->Post([&d] { d.signals.reset(); });
  d.control->Stop();
  if (d.control_thread.joinable()) d.control_thread.join();
  d.signals.reset();
  if (d.handover) d.handover->Close();
  d.reactors.clear();
  // The count of TLS failure lines suppressed since the last line: the
  // stop's own closes (handshakes cut short) may be a burst whose timer
  // the loops did not live to run.
  if (d.tls) d.tls->FlushSuppressedLog();
  if (d.access_log) {
    // Up to 2 s for the last lines, but within what is left of a drain's
    // timeout (at least 100 ms): a stalled log destination made the exit
    // come 4 s after --drain_timeout (white-box review).
    std::chrono::nanoseconds wait = std::chrono::seconds(2);
    if (const int64_t deadline = d.shutdown_deadline_ns.load(); deadline != 0) {
      const auto left = std::chrono::nanoseconds(deadline) -
                        std::chrono::steady_clock::now().time_since_epoch();
      wait = std::clamp<std::chrono::nanoseconds>(left, std::chrono::milliseconds(100), wait);
    }
    d.access_log->Flush(std::chrono::duration_cast<std::chrono::milliseconds>(wait));
  }
  // Its lingering closes and last log lines are done: another server's
  // stuck stop may end the process from here.
  servers_in_stop.fetch_sub(1);
}

uint16_t HttpServer::port() const { return impl_->port.load(); }

bool HttpServer::ready() const {
  return impl_->running.load() && !impl_->shutdown_requested.load() &&
         !impl_->lifecycle.shutting_down();
}

bool HttpServer::draining() const { return impl_->lifecycle.draining(); }

const ServerMetrics& HttpServer::metrics() const {
  const ServerMetrics* m = impl_->published_metrics.load();
  if (m == nullptr) {
    // Before Start(): no route has its figures yet; all zero, not a crash.
    static const ServerMetrics* const kNone = new ServerMetrics({});
    return *kNone;
  }
  return *m;
}

absl::Status HttpServer::ReopenAccessLog() {
  Impl& d = *impl_;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (!d.started) return absl::FailedPreconditionError("ReopenAccessLog before Start");
  }
  return d.access_log != nullptr ? d.access_log->Reopen() : absl::OkStatus();
}

absl::Status HttpServer::ReloadTls() {
  Impl& d = *impl_;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (!d.started) return absl::FailedPreconditionError("ReloadTls before Start");
  }
  if (d.tls == nullptr) return absl::FailedPreconditionError("TLS is off");
  return d.tls->Reload();
}

tls::TlsStats HttpServer::tls_stats() const {
  Impl& d = *impl_;
  {
    // Start() sets `tls` before `started`, under `mu`: any thread may ask,
    // also while a Start() or Run() on another thread begins.
    std::lock_guard<std::mutex> lock(d.mu);
    if (!d.started) return tls::TlsStats{};
  }
  return d.tls != nullptr ? d.tls->stats() : tls::TlsStats{};
}

const ServerOptions& HttpServer::options() const { return impl_->options; }

}  // namespace brisk
