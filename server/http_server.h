// HttpServer: brisk's embeddable HTTP/1.1 server.
//
//   brisk::ServerOptions options;
//   options.port = 8080;
//   brisk::HttpServer server(options);
//   server.AddRoute("GET", "/hello", [](brisk::RequestContext&) {
//     return brisk::http::Response::Text(200, "hello\n");
//   }, {.run_inline = true});
//   server.AddRoute("GET", "/report/{id}", SlowReportHandler);  // offloaded
//   if (absl::Status s = server.Start(); !s.ok()) ...;
//   ... server.BeginDrain(); server.WaitDrained(); server.Stop();
//
// Threads: `reactors` threads each run an epoll loop and own the connections
// they accept (one SO_REUSEPORT listener each) for their whole life; only that
// thread reads, writes or closes them. Offloaded handlers run on a pool of
// `workers` threads fed through an admission queue (bounded; CoDel queue
// timeouts and adaptive LIFO, see admission_queue.h); their responses are
// posted back to the owning reactor, which writes them in request order.
//
// Every offloaded request has a deadline (the route's, or --request_deadline,
// shortened by the client's `X-Request-Budget-Ms` header): when it passes the
// client is answered 503 at that moment and the handler's cancellation flag
// is set; if it was still queued it never runs.
//
// Thread-safety: AddRoute() before Start() only. BeginDrain(), draining(),
// WaitDrained(), port() and metrics() from any thread after Start(). Stop()
// once, from a thread that is not a reactor or worker.
#ifndef BRISK_SERVER_HTTP_SERVER_H_
#define BRISK_SERVER_HTTP_SERVER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "server/handler.h"
#include "server/metrics.h"

namespace brisk {

struct ServerOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 8080;  // 0 = any free port (see port())
  int reactors = 1;
  int workers = 4;
  // Offloaded requests that may wait for a worker; beyond: 503 + Retry-After.
  size_t queue_capacity = 1024;
  // Open connections; beyond, new connections are closed at once.
  int max_connections = 10000;
  // The whole request head must arrive within this (slowloris): else 408.
  std::chrono::nanoseconds header_timeout = std::chrono::seconds(10);
  // A keep-alive connection with no request in progress is closed after
  // this; also the longest pause allowed while a body is being received.
  std::chrono::nanoseconds idle_timeout = std::chrono::seconds(60);
  // Pending output must be fully written within this once the client stops
  // reading (the socket buffer is full): else the connection is closed.
  std::chrono::nanoseconds write_timeout = std::chrono::seconds(10);
  // Default deadline of an offloaded request, from the moment it is parsed.
  std::chrono::nanoseconds request_deadline = std::chrono::seconds(5);
  // The longest a client's X-Request-Budget-Ms may ask for is the deadline
  // itself: a budget only shortens it.
  // Drain: how long in-flight requests may take after BeginDrain().
  std::chrono::nanoseconds drain_timeout = std::chrono::seconds(10);
  size_t max_header_bytes = 32 * 1024;
  size_t max_body_bytes = 1 << 20;
  // Access log path; "-" = stdout; empty = off.
  std::string access_log;
  // Admission control (CoDel target/interval; adaptive LIFO).
  std::chrono::nanoseconds codel_target = std::chrono::milliseconds(5);
  std::chrono::nanoseconds codel_interval = std::chrono::milliseconds(100);
  bool adaptive_lifo = true;
  // Requests parsed ahead on one connection while earlier ones are pending.
  size_t max_pipeline_depth = 64;
};

class HttpServer {
 public:
  explicit HttpServer(ServerOptions options);
  ~HttpServer();  // Stop()s if running.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Registers `handler` for `method` and `pattern` ("/users/{id}"). HEAD is
  // served by GET routes. Before Start() only.
  absl::Status AddRoute(std::string_view method, std::string_view pattern,
                        Handler handler, RouteOptions route_options = {});

  // Binds the listeners and starts the reactor and worker threads.
  absl::Status Start();
  // The bound port (the real one when options.port was 0). After Start().
  uint16_t port() const;

  // Stops accepting, closes idle connections, answers what is in flight with
  // `Connection: close` and closes each connection after its last response.
  // Any thread; idempotent.
  void BeginDrain();
  bool draining() const;
  // Blocks until every connection is closed or `timeout` has passed; true if
  // all are closed.
  bool WaitDrained(std::chrono::nanoseconds timeout);
  // Called (once, from a reactor thread) when a drain has closed every
  // connection. Set before Start().
  void SetOnDrained(absl::AnyInvocable<void()> on_drained);

  // Cancels in-flight handlers, closes every connection, joins all threads.
  // Idempotent.
  void Stop();

  ServerMetrics& metrics();
  const ServerOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace brisk

#endif  // BRISK_SERVER_HTTP_SERVER_H_
