// HttpServer: brisk's embeddable HTTP/1.1 server.
//
//   #include "server/http_server.h"
//
//   int main() {
//     brisk::ServerOptions options;
//     options.port = 8080;
//     options.metrics_path = "/metrics";   // built-in routes are opt-in
//     options.health_path = "/healthz";
//     options.ready_path = "/readyz";
//     brisk::HttpServer server(options);
//     absl::Status s = server.AddRoute(
//         "GET", "/hello", [](brisk::RequestContext&) {
//       return brisk::http::Response::Text(200, "hello\n");
//     }, {.run_inline = true});
//     if (s.ok()) {
//       s = server.AddRoute("GET", "/report/{id}", SlowReportHandler);  // offloaded
//     }
//     if (s.ok()) s = server.Run();  // until SIGTERM/SIGINT or Shutdown()
//     return s.ok() ? 0 : 1;
//   }
//
// Lifecycle. Run() starts the server if needed and blocks. The first
// SIGTERM or SIGINT (or a Shutdown() call from any thread) begins a graceful
// shutdown: readiness fails at once (ready_path answers 503) while the
// server keeps accepting and serving for drain_grace; then the listeners
// close, idle keep-alive connections are closed, busy ones are answered
// (their last answer carrying Connection: close), and Run() returns once
// every connection is closed or drain_timeout (counted from the start) has
// passed (handlers still running then are cancelled and waited for). In a
// shutdown begun by a signal or a handover, a handler that ignores its
// cancellation (offloaded, or inline, holding its reactor) is waited for
// until 1 s past the drain's end (and until the process's other servers
// that are shutting down, if any, have stopped or are stuck too); then the
// process exits 0 without it (once the process's other servers ended
// their drains and stops, or are stuck too), saying so on stderr (an
// offloaded one's
// connection was already answered or, mid-stream, cut off, and closed).
// In a shutdown the host began, the stop waits for every handler, however
// long it runs. A second signal (also one during such a wait, after a
// first) ends the process at once, exit status 128 + the signal number;
// like the exits above it skips atexit handlers and destructors (_exit).
// Hosts that own signal handling set handle_signals = false and call
// Shutdown() themselves. Without Run(): Start(), later Shutdown(),
// WaitDrained(), Stop().
//
// Threads: `reactors` threads each run an event loop and own the
// connections they accept (one SO_REUSEPORT listener each) for their whole
// life; only that thread reads, writes or closes them. Offloaded handlers
// run on `workers` threads fed through admission control; their answers are
// handed back to the owning reactor, which writes them in request order.
// One more small thread runs the shutdown's timers and, under Run(), reads
// the signals. See handler.h for the kinds of handler, deadlines and
// cancellation.
//
// TLS: with options.tls set (tls_options.h), every connection speaks HTTPS
// (TLS 1.2+, ALPN http/1.1 or http/1.0, session tickets; optionally mutual TLS, the
// verified client visible to handlers as RequestContext::client_certificate()
// and in the access log). SIGHUP or ReloadTls() swaps the certificate files
// without a restart. SIGHUP (or ReopenAccessLog()) also reopens the access
// log file, for log rotation.
//
// Thread-safety: AddRoute()/AddAsyncRoute()/AddBatchRoute() before Start()
// (from any thread, also while a Start() or Run() on another thread begins:
// a route added once Start() began, or after a failed Start(), is refused
// with FailedPreconditionError, never half-served). After
// Start(): Shutdown(), WaitDrained(), ReloadTls(), ReopenAccessLog(), port(), ready(),
// draining(), metrics() and tls_stats() from any thread; Stop() from a thread that is not one of
// the server's (from a handler it only begins Shutdown(): see Stop()).
#ifndef BRISK_SERVER_HTTP_SERVER_H_
#define BRISK_SERVER_HTTP_SERVER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "server/handler.h"
#include "server/metrics.h"
#include "server/tls_options.h"
#include "tls/counters.h"

namespace brisk {

// How the reactors wait for IO (--io): epoll readiness, or io_uring
// completions (Linux 6.0+; Start() fails with the reason if the kernel
// cannot). The server behaves the same on both.
enum class IoBackend { kEpoll, kIoUring };

// Durations: one over a century (nanoseconds::max(), or "inf" through the
// flags) means never, as does a RouteOptions::deadline that long.
struct ServerOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 8080;  // 0 = any free port (see port())
  int reactors = 1;
  IoBackend io = IoBackend::kEpoll;
  // New connections: TCP_DEFER_ACCEPT on the listeners (a connection is
  // accepted with its request, after about 1 s if it sends nothing) and a
  // read right after accept, so a short exchange needs no poller round.
  bool defer_accept = true;
  // Deadlines start when the kernel received a request, not when a reactor
  // got to it: SO_TIMESTAMPNS on the listeners (inherited by every
  // connection) and recvmsg() (a multishot one on io_uring), so a request
  // that sat in its socket while the reactor was busy has that wait counted
  // against its budget (admission, deadline, "no 2xx after the deadline").
  // When off, the clock starts at the reactor's read. Over TLS, it is the
  // arrival of the record that completed the request head's bytes. On
  // io_uring, a connection whose client sent while reading was paused (it
  // ran ahead of its answers) receives one-shot without stamps from then
  // on: its clocks start at the read (net/README.md).
  bool receive_timestamps = true;
  int workers = 4;
  // CPU priority (nice value, 0..19) of the worker threads. Above 0, busy
  // handlers on a core shared with a reactor yield to it, so it keeps
  // reading requests, refusing what cannot be served and writing answers
  // on time; but the workers also yield to every other process on the
  // machine. 0 = the same priority as the reactors. Added to the nice
  // value the process runs at (`nice -n`, systemd's Nice=), up to 19, so
  // the workers of a niced process still rank below its reactors; a
  // refusal by the kernel is said once on stderr.
  int worker_nice = 0;
  // Background lane: threads that run only the routes marked
  // RouteOptions::background, with their own admission queue (same policy
  // and queue_capacity), at CPU priority background_nice (0..19, added to
  // the process's own like worker_nice; it should be above worker_nice). A
  // busy background handler then takes only the CPU that the reactors and
  // the other workers leave: at nice 10 against 0 the kernel gives it ~9%
  // of a contended core instead of half. 0 = no lane: background routes
  // run on the workers like any other.
  int background_workers = 0;
  int background_nice = 10;
  // Offloaded requests that may wait for a worker; beyond: refused at once.
  size_t queue_capacity = 1024;
  // Open connections; beyond, new connections are closed at once.
  int max_connections = 10000;
  // The whole request head must arrive within this (slowloris): else 408.
  std::chrono::nanoseconds header_timeout = std::chrono::seconds(10);
  // A keep-alive connection with no request in progress is closed after
  // this; also the longest pause allowed while a body is being received.
  std::chrono::nanoseconds idle_timeout = std::chrono::seconds(60);
  // Pending output that makes no progress for this long (the client stopped
  // reading) closes the connection.
  std::chrono::nanoseconds write_timeout = std::chrono::seconds(10);
  // Default deadline of an offloaded or async request, from when it reached
  // the machine (the kernel's receive time, see receive_timestamps; the
  // reactor's read when that is off), not from its parse: time it waited in
  // its socket counts. A client's X-Request-Budget-Ms only shortens it (0 or
  // a negative budget: no time left, refused at arrival).
  std::chrono::nanoseconds request_deadline = std::chrono::seconds(5);
  // Graceful shutdown (see Lifecycle above): for drain_grace after it
  // begins, readiness fails but the server keeps accepting and serving
  // normally, so that load balancers see the readiness check fail before
  // anything is refused (set it to about two of their health-check
  // intervals; 0 = stop accepting at once). Then it stops accepting,
  // answers with Connection: close and closes idle connections. The whole
  // shutdown, grace included, ends within drain_timeout (handlers still
  // running then are cancelled; see Run() for one that ignores it).
  std::chrono::nanoseconds drain_grace = std::chrono::seconds(1);
  std::chrono::nanoseconds drain_timeout = std::chrono::seconds(10);
  size_t max_header_bytes = 32 * 1024;
  size_t max_body_bytes = 1 << 20;
  // Bytes of request bodies all connections together may hold (a body
  // counts as its bytes come, and stays counted while it waits in the
  // queue and while its handler has it, until the handler is done).
  // A body that would go past it is refused: 503 (shed_status) with
  // Retry-After, shed reason "body_memory", and the connection closes. It
  // keeps slow uploads on many connections from taking the process's
  // memory (an allocation that fails ends the process). At least
  // max_body_bytes; size it to the memory the process may use.
  size_t max_body_memory = 256 << 20;
  // Requests parsed ahead on one connection while earlier ones are pending.
  size_t max_pipeline_depth = 64;
  // Answers written on one connection but not yet taken by the kernel
  // beyond which it reads no more requests until they drain: a client that
  // pipelines and does not read holds at most this much (plus one read),
  // and --write_timeout then closes it.
  size_t max_unsent_bytes = 256 * 1024;
  // A streamed answer's bytes buffered per request before
  // Responder::Write() asks the handler to wait; a handler that writes 4x
  // this more without waiting has its stream cut off.
  size_t stream_buffer_bytes = 256 * 1024;
  // Access log path; "-" = stdout; empty = off.
  std::string access_log;
  // Route patterns whose answers below 400 are not logged, as if each of
  // their routes had RouteOptions::access_log = false: e.g. {"/healthz",
  // "/readyz", "/metrics"}, polled every few seconds by a load balancer
  // and a scraper. Every route on the pattern (an OPTIONS the server
  // answers itself, with no route of its own, is still logged); each must be the pattern
  // of a route (built-in or added) when Start() runs, else Start() fails
  // (InvalidArgument: a misspelt path would silently log everything).
  std::vector<std::string> access_log_quiet_paths;
  // Load balancers / reverse proxies trusted to say who the client is:
  // comma-separated addresses and CIDR prefixes ("10.0.0.0/8, ::1"; empty
  // = none). A request from one of them is taken to come from the client
  // its X-Forwarded-For names: the rightmost entry, the one that proxy
  // appended (what the client wrote there itself is never believed).
  // RequestContext::client_address() and the access log show it. From any
  // other peer X-Forwarded-For is ignored (anyone can write it).
  std::string trusted_proxies;
  // Behind a chain of trusted proxies (a CDN, then a balancer): the
  // rightmost entry that is not itself a trusted proxy. Then a client whose
  // own address is in trusted_proxies (one on the balancer's host or in
  // its network) can name any client it likes: list only the proxies.
  bool trusted_proxies_recursive = false;
  // Every connection starts with a PROXY protocol header (v1 or v2, as
  // HAProxy's send-proxy / send-proxy-v2, AWS NLB, Envoy or nginx send it)
  // naming the client a TCP load balancer relays for; it then stands for
  // the peer everywhere (client_address(), peer_address(), the access log,
  // trusted_proxies for X-Forwarded-For). Needed behind a balancer that
  // passes TLS through, which cannot add X-Forwarded-For. A header that
  // names no client (v2 LOCAL, v1 UNKNOWN) leaves the balancer as the peer,
  // and X-Forwarded-For on that connection is not believed (the balancer
  // vouched for none). A connection without a valid header is closed (the
  // protocol is never guessed), as is one from a peer outside
  // trusted_proxies when that is set: on a listener open to clients, anyone
  // could name any address.
  bool proxy_protocol = false;

  // Admission control of offloaded requests:
  //  kDeadline (default): each request is admitted, ordered (earliest
  //    deadline first) and refused from its own deadline and its route's
  //    measured cost: refused at once when it cannot finish in time, never
  //    run when too little time is left; per-route concurrency limits keep
  //    a flooded route from taking every worker. See deadline_policy.h.
  //  kCodel: a bounded FIFO with CoDel queue timeouts and adaptive LIFO
  //    ("Fail at Scale"), deadlines enforced only by their timers.
  enum class Admission { kDeadline, kCodel };
  Admission admission = Admission::kDeadline;
  // kCodel: CoDel target/interval; adaptive LIFO.
  std::chrono::nanoseconds codel_target = std::chrono::milliseconds(5);
  std::chrono::nanoseconds codel_interval = std::chrono::milliseconds(100);
  bool adaptive_lifo = true;
  // Status of a refusal by admission control: 503, or 429 for load
  // balancers that eject a backend after consecutive 5xx (any 4xx or 5xx is
  // accepted here; the binary's --shed_status takes these two).
  int shed_status = 503;

  // The server handles SIGTERM/SIGINT (graceful shutdown; a second one exits
  // at once), SIGHUP (reload: the access log and TLS files) and SIGUSR1
  // (reopen the access log only, as nginx): Start() blocks them in the calling thread
  // and the server's threads, and reads them from a signalfd. Call Start()
  // (or Run()) from the main thread before other threads exist, or block
  // these signals in them too. false: the host owns signals and calls
  // Shutdown() itself. Several servers of one process that handle signals
  // all get each signal (one SIGTERM shuts them all down). The signals stay
  // blocked in those threads after the server stops (or fails to start),
  // and a process started from them inherits the mask across exec: a host
  // that goes on without the server, or spawns children (from a handler
  // too), unblocks them there (pthread_sigmask(SIG_UNBLOCK, ...), or
  // posix_spawnattr_setsigmask for the child). A server's own threads
  // always start with these four blocked, whatever this says (so does a
  // process a handler spawns, unless it unblocks them). A server that does
  // not handle signals does not reopen its access log on SIGHUP/SIGUSR1:
  // its host calls ReopenAccessLog(). Start() from a worker thread (a
  // handler) gives the new server's threads that worker's nice value
  // (ServerOptions::worker_nice), which only a privileged process can undo:
  // start servers from the host's own threads.
  bool handle_signals = true;

  // Binary upgrade with no refused connection: a Unix socket path. At
  // Start(), if a running server answers there, this one takes over its
  // listening sockets (address and port then come from them) and the old
  // one stops accepting and drains (answers carry Connection: close; idle
  // connections close after drain_grace). Either way this server then
  // answers the next upgrade there. Empty = off.
  std::string handover_socket;

  // HTTPS and mutual TLS (tls_options.h); off while tls.cert_chain_file is
  // empty.
  TlsOptions tls;

  // Built-in routes, each an inline GET (HEAD too); empty = not served.
  std::string metrics_path;  // e.g. "/metrics": Prometheus text format
  // The metrics page also carries the process's figures in the Prometheus
  // client libraries' standard names (process_open_fds, process_max_fds,
  // process_cpu_seconds_total, process_resident_memory_bytes, ...; read
  // from /proc at each scrape). False when a metrics source of the
  // embedder's exports them already (a client library's process collector).
  bool process_metrics = true;
  std::string health_path;   // e.g. "/healthz": liveness, 200 while serving
  std::string ready_path;    // e.g. "/readyz": 200, 503 once shutting down
  // e.g. "/status": a live HTML status page (per-route rate, p50/p99,
  // refusals by reason, queue depth, connections, loop lag; with TLS,
  // handshakes, failures, reloads and the certificate served;
  // self-contained, no external resources) and, at status_path + ".json",
  // the JSON snapshot it polls every second (ServerMetrics::AppendJson plus
  // time_ns, pid, uptime_seconds, ready and, with TLS, "tls").
  std::string status_path;
};

// The ranges ServerOptions must be in, checked by ValidateServerOptions().
// Beyond them a server cannot work as configured: more threads or queue
// slots than any machine serves end in a failed allocation at Start().
// Durations must be above 0 (drain_grace may be 0); any length is taken,
// one over a century meaning never (see ServerOptions).
inline constexpr int kMaxReactors = 1024;
inline constexpr int kMaxWorkers = 4096;  // workers, and background_workers
inline constexpr size_t kMaxQueueCapacity = size_t{1} << 20;

// What Start() checks first: OK, or InvalidArgument naming the first field
// out of range ("workers must be in [1, 4096]"; TLS fields as
// "tls.handshake_timeout"). The server's flags (flags.h) are checked by
// it too.
[[nodiscard]] absl::Status ValidateServerOptions(const ServerOptions& options);

// For a program whose server handles signals (the default), call first
// thing in main(), before any thread exists (threads inherit the signal
// mask). For a server process:
// - opens descriptors 0, 1 and 2 on /dev/null where they are closed (a
//   process started with `<&- >&- 2>&-`): otherwise the next file or socket
//   opened takes the number, and stdout or stderr writes go into it (a
//   client's connection). The HttpServer constructor does the same.
// - blocks SIGHUP and SIGUSR1 (log reopen, as nginx): a reload signal that
//   arrives while the process starts (`systemctl reload`, logrotate's
//   postrotate, a restart racing either) otherwise kills it with SIGHUP's
//   default action, before Start() is there to take it, and systemd counts
//   that death as a clean exit that Restart=on-failure does not restart. Start() (handle_signals) then
//   reads it from its signalfd as a reload of what was just loaded (a
//   SIGUSR1 as a log reopen).
// - ignores SIGPIPE: a closed stdout (`--access_log=-` into a reader that
//   went away) costs log lines, not the process (sockets already send with
//   MSG_NOSIGNAL).
// - raises the soft limit on open files to the hard limit (as Go's runtime
//   does): the default soft limit of 1024 is far below
//   max_connections' default, and descriptors that run out leave new
//   clients waiting in the listen backlog.
// SIGTERM and SIGINT keep their default action until Start(): stopping a
// process that hangs while it starts must still work.
void PrepareServerProcess();

class HttpServer {
 public:
  // Opens closed descriptors 0, 1 and 2 on /dev/null first, as
  // PrepareServerProcess() does.
  explicit HttpServer(ServerOptions options);
  // Stop()s if running. Not from one of the server's own threads (a
  // handler): that aborts with a message saying so. Not while another
  // thread is still inside Run(): join that thread first (Run() reads the
  // server as it returns). What the handlers capture by reference must
  // outlive this destructor, which waits for them: declare those objects
  // before the server (members: before it, so they are destroyed after).
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Registers `handler` for `method` and `pattern` ("/users/{id}"). HEAD is
  // served by GET routes. Before Start() only.
  [[nodiscard]] absl::Status AddRoute(std::string_view method, std::string_view pattern,
                                      Handler handler, RouteOptions route_options = {});
  // Registers an asynchronous handler: it is called with the request and a
  // Responder, and may answer after it returns, from any thread.
  [[nodiscard]] absl::Status AddAsyncRoute(std::string_view method, std::string_view pattern,
                                           AsyncHandler handler, RouteOptions route_options = {});

  // Registers a batch route: its requests are admitted one by one (deadline
  // admission), grouped into batches as `batch_options` says, and each batch
  // is given to `handler` on a worker; each request gets its own response.
  // Requests whose deadline cannot be met or whose client left are removed
  // before a batch runs. Requires Admission::kDeadline: under kCodel it
  // returns FailedPrecondition and registers nothing.
  [[nodiscard]] absl::Status AddBatchRoute(std::string_view method, std::string_view pattern,
                                           BatchHandler handler, BatchOptions batch_options,
                                           RouteOptions route_options = {});

  // The embedder's own figures on the metrics page (metrics_path), after
  // brisk's: `source` appends whole families in the Prometheus text format
  // (# HELP, # TYPE, then the samples; label values escaped, names not
  // starting with brisk_, nor with process_ unless process_metrics is
  // false) to its argument. It is called for every scrape on
  // the reactor that serves it, possibly on several reactors at once: it
  // must be thread-safe and quick, like an inline handler (read atomics or
  // immutable data). Before Start() (FailedPrecondition after); sources are
  // called in the order added.
  [[nodiscard]] absl::Status AddMetricsSource(std::function<void(std::string*)> source);

  // Binds the listeners and starts the threads. Returns at once. Called at
  // most once: after an error (a port in use, say) make a new server.
  [[nodiscard]] absl::Status Start();
  // Start()s if needed, then blocks until a shutdown (signal or Shutdown())
  // has completed and everything is stopped. FailedPrecondition once the
  // server has stopped (it serves once; make a new one).
  [[nodiscard]] absl::Status Run();
  // Begins the graceful shutdown described above. Any thread (a handler
  // included), and async-signal-safe: a host's own signal handler may call
  // it (it only stores atomics and writes an eventfd). Returns at once;
  // idempotent; ready() is false as soon as it returns. Called before
  // Start() (say, while Run() is still starting on another thread), it is
  // remembered: the next Start() or Run() begins the shutdown as soon as it
  // is started, so Run() returns once drained.
  void Shutdown();
  // After Shutdown(): blocks until every connection is closed or `timeout`
  // passed (nanoseconds::max(): no timeout); true if all are closed. Called
  // before Shutdown() (or a signal), it waits for one to come and drain:
  // with no timeout and no shutdown, forever.
  bool WaitDrained(std::chrono::nanoseconds timeout);
  // Cancels in-flight handlers, closes every connection, waits for running
  // handlers to return and joins all threads. Idempotent. From another
  // thread while Start() (or a Run() starting the server) is under way, it
  // waits for the start to end, then stops. Before Start(), it is
  // remembered: Start() and Run() then refuse (FailedPrecondition), so a
  // Run() about to start on another thread returns. On one of the server's
  // own threads (a handler) it cannot wait for itself: it says so on stderr
  // and does Shutdown() instead. After a signal (or a handover) began the
  // shutdown, a handler that never returns may end the process here
  // instead (see Run() above).
  void Stop();

  // The bound port (the real one when options.port was 0); 0 until the
  // listeners are bound. Any thread, also while a Run() on another thread
  // is starting the server (wait for it to be non-zero).
  uint16_t port() const;
  // True while started and not shutting down (what ready_path reports):
  // false before Start(), from the moment Shutdown() returns (or a signal
  // is seen), and after Stop().
  bool ready() const;
  // True from when the connections begin to drain (after drain_grace, once
  // the shutdown began), whether or not they are all closed yet (that is
  // WaitDrained()).
  bool draining() const;

  // Re-reads the TLS certificate, key and client CA files (what SIGHUP
  // does). OK: new handshakes use them; established connections keep what
  // they started with. An error (the message names the file and the cause)
  // keeps the files in use. FailedPrecondition without TLS or before
  // Start(). Any thread.
  [[nodiscard]] absl::Status ReloadTls();
  // Log rotation (what SIGHUP also does): the access log file is opened
  // anew by its path, so lines go to a fresh file once the operator moved
  // the old one away (logrotate without copytruncate). An error keeps the
  // current file. OK without an access log or with stdout. Any thread,
  // after Start().
  [[nodiscard]] absl::Status ReopenAccessLog();

  // Read-only figures (what metrics_path serves). Any thread; until Start()
  // has built them (also while a Run() on another thread is starting), an
  // empty set (no routes, every figure zero) that is a different object:
  // call again after Start() rather than keep that reference. The started
  // server's figures live as long as this HttpServer.
  const ServerMetrics& metrics() const;
  // TLS handshakes (full, resumed), failures by reason, reloads; all zero
  // without TLS and until Start() has succeeded. Any thread.
  tls::TlsStats tls_stats() const;
  const ServerOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace brisk

#endif  // BRISK_SERVER_HTTP_SERVER_H_
