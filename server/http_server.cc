#include "server/http_server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "net/socket.h"
#include "server/reactor.h"
#include "server/server_core.h"

namespace brisk {

struct HttpServer::Impl {
  explicit Impl(ServerOptions options)
      : core(std::make_unique<ServerCore>(std::move(options))) {}

  std::unique_ptr<ServerCore> core;
  std::vector<std::unique_ptr<Reactor>> reactors;
  uint16_t port = 0;
  bool started = false;
  bool stopped = false;
  std::mutex stop_mu;
};

HttpServer::HttpServer(ServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::AddRoute(std::string_view method,
                                  std::string_view pattern, Handler handler,
                                  RouteOptions route_options) {
  if (impl_->started) {
    return absl::FailedPreconditionError("AddRoute after Start");
  }
  if (!handler) return absl::InvalidArgumentError("empty handler");
  ServerCore& core = *impl_->core;
  absl::Status s = core.router.Add(method, pattern, core.routes.size());
  if (!s.ok()) return s;
  core.routes.push_back(RouteEntry{std::string(method), std::string(pattern),
                                   std::move(handler), route_options});
  return absl::OkStatus();
}

absl::Status HttpServer::Start() {
  if (impl_->started) return absl::FailedPreconditionError("already started");
  ServerCore& core = *impl_->core;
  const ServerOptions& o = core.options;
  if (o.reactors < 1 || o.workers < 1 || o.queue_capacity < 1 ||
      o.max_connections < 1) {
    return absl::InvalidArgumentError(
        "reactors, workers, queue_capacity and max_connections must be >= 1");
  }
  std::vector<std::string> names;
  for (const RouteEntry& r : core.routes) names.push_back(r.pattern);
  core.metrics = std::make_unique<ServerMetrics>(names);
  if (!o.access_log.empty()) {
    absl::StatusOr<std::unique_ptr<AccessLog>> log = AccessLog::Open(o.access_log);
    if (!log.ok()) return log.status();
    core.access_log = *std::move(log);
  }
  core.admission = std::make_unique<AdmissionQueue<std::shared_ptr<Call>>>(
      AdmissionOptions{.capacity = o.queue_capacity,
                       .target = o.codel_target,
                       .interval = o.codel_interval,
                       .adaptive_lifo = o.adaptive_lifo});
  // Workers sleep at once when idle (no spin): they share cores with the
  // reactors, whose latency matters more than a worker's wake-up time.
  core.pool = std::make_unique<ThreadPool>(o.workers, o.queue_capacity,
                                           std::chrono::nanoseconds(0));

  // One listener per reactor; with several, SO_REUSEPORT lets the kernel
  // spread connections between them.
  uint16_t port = o.port;
  for (int i = 0; i < o.reactors; ++i) {
    absl::StatusOr<net::Listener> listener = net::Listener::Create(
        o.address, port,
        net::ListenerOptions{.backlog = 4096, .reuse_port = o.reactors > 1});
    if (!listener.ok()) return listener.status();
    port = listener->port();
    auto reactor = std::make_unique<Reactor>(&core, i);
    if (absl::Status s = reactor->Init(*std::move(listener)); !s.ok()) return s;
    impl_->reactors.push_back(std::move(reactor));
  }
  impl_->port = port;
  impl_->started = true;
  for (auto& r : impl_->reactors) r->StartThread();
  return absl::OkStatus();
}

uint16_t HttpServer::port() const { return impl_->port; }

void HttpServer::BeginDrain() {
  ServerCore& core = *impl_->core;
  if (core.draining.exchange(true)) return;
  for (auto& r : impl_->reactors) r->PostBeginDrain();
}

bool HttpServer::draining() const {
  return impl_->core->draining.load(std::memory_order_acquire);
}

bool HttpServer::WaitDrained(std::chrono::nanoseconds timeout) {
  return impl_->core->WaitDrained(timeout);
}

void HttpServer::SetOnDrained(absl::AnyInvocable<void()> on_drained) {
  impl_->core->on_drained = std::move(on_drained);
}

void HttpServer::Stop() {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (!impl_->started || impl_->stopped) return;
  impl_->stopped = true;
  ServerCore& core = *impl_->core;
  core.draining.store(true);
  // 1. Close every connection (cancelling in-flight handlers) while the
  //    loops still run, so workers can still post their (dropped) results.
  for (auto& r : impl_->reactors) r->CloseAllAndWait();
  // 2. Finish the pool: queued calls are all cancelled and are skipped;
  //    running handlers see their cancellation flag.
  core.pool->Shutdown();
  // 3. Stop the loops.
  for (auto& r : impl_->reactors) r->StopAndJoin();
  impl_->reactors.clear();
  if (core.access_log) core.access_log->Flush();
}

ServerMetrics& HttpServer::metrics() { return *impl_->core->metrics; }

const ServerOptions& HttpServer::options() const {
  return impl_->core->options;
}

}  // namespace brisk
