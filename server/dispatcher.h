// Internal: what happens to a parsed request. The Dispatcher routes it
// (404, 405 + Allow), runs inline synchronous handlers at once on the
// reactor, and turns everything else into an Exchange: an inline async
// handler gets its Responder on the reactor; an offloaded request gets a
// deadline and goes through admission control to the workers (or is
// refused at once). As the workers' delegate it also runs handlers and
// answers requests refused while queued.
//
// Thread-safety: Dispatch() on a reactor thread; Run()/Refuse() on workers;
// all of them concurrently (the route table is read-only by then).
#ifndef BRISK_SERVER_DISPATCHER_H_
#define BRISK_SERVER_DISPATCHER_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>

#include "http/request.h"
#include "http/response.h"
#include "server/admission.h"
#include "server/exchange.h"
#include "server/log_limiter.h"
#include "server/metrics.h"
#include "server/route_table.h"
#include "server/worker_pool.h"

namespace brisk::internal {

struct DispatchOptions {
  // Deadline of a request whose route sets none.
  std::chrono::nanoseconds request_deadline = std::chrono::seconds(5);
  // Status of an admission refusal (503, or 429 for balancers that eject a
  // backend after consecutive 5xx).
  int shed_status = 503;
  ExchangeOptions exchange;
};

// Where a dispatched request's answer goes, on the reactor that owns it.
struct DispatchHome {
  std::shared_ptr<LoopHandle> loop;
  std::shared_ptr<const ConnectionInfo> connection;
  ExchangeSink* sink = nullptr;
};

class Dispatcher final : public WorkerDelegate {
 public:
  Dispatcher(const RouteTable* routes, std::shared_ptr<ServerMetrics> metrics,
             DispatchOptions options);
  // Set before the first Dispatch(): the workers, and the background lane's
  // (null: background routes run on `pool` too).
  void set_pools(WorkerPool* pool, WorkerPool* background) {
    pool_ = pool;
    background_pool_ = background;
  }

  struct Outcome {
    size_t metrics_route = 0;  // ServerMetrics index (num_routes(): none)
    bool quiet = false;        // its route's RouteOptions::access_log is off
    // The answer now (`exchange` is null), or...
    std::optional<http::Response> response;
    // ...the exchange it will come through (bound to the home's sink).
    std::shared_ptr<Exchange> exchange;
  };
  // The final answer routing alone gives a request (404, 405 with Allow,
  // 501; 421 for an https URI over plain TCP from `connection`), judged
  // from its head; nullopt if a route takes it. For a head with `Expect:
  // 100-continue`: RFC 9110 §10.1.1 has the server send such a status at
  // once instead of 100, so the client does not send the body.
  std::optional<http::Response> RoutingAnswer(const http::Request& head,
                                              const ConnectionInfo* connection) const;
  // The ServerMetrics index of the route that takes `head` (num_routes():
  // none), for an error answered after the head was read.
  size_t MetricsRouteOf(const http::Request& head) const;
  // The body limit of the route that takes `head` (RouteOptions::
  // max_body_bytes), or `server_limit` when it has none or no route takes
  // it. Any thread (the table is read-only once serving).
  uint64_t BodyLimitOf(const http::Request& head, uint64_t server_limit) const;
  // Some route has a body limit of its own: parsers need to ask.
  bool any_route_body_limit() const { return routes_->any_body_limit(); }

  // Reactor thread. When an exchange is made, `request` is moved into it;
  // it is moved back if the request is refused at once. `arrival` (<= now):
  // when the request reached the machine; its deadline counts from there.
  // `now`: the reactor's time as it dispatches (admission decides at now).
  Outcome Dispatch(http::Request& request, SteadyTime arrival, SteadyTime now,
                   const DispatchHome& home);

  // The answer to a request refused by admission control.
  http::Response Refusal(ShedReason reason) const;
  // Records a refusal in the metrics.
  void CountShed(size_t metrics_route, ShedReason reason);

  // WorkerDelegate.
  bool Run(Exchange& exchange) override;
  bool RunBatch(const std::vector<Exchange*>& batch) override;
  void Refuse(Exchange& exchange, ShedReason reason) override;

 private:
  // The deadline of a request to `route` parsed at `now`.
  SteadyTime DeadlineOf(const http::Request& request, const Route& route,
                        SteadyTime now) const;
  // Called inside a catch block: counts the exception of `route`'s `part`
  // (its handler, batch handler, hint) and says it on stderr with what()
  // (a line per 10 s at most, telling how many it stands for).
  void NoteHandlerException(const Route& route, const char* part);

  const RouteTable* const routes_;
  const std::shared_ptr<ServerMetrics> metrics_;
  const DispatchOptions options_;
  WorkerPool* pool_ = nullptr;
  WorkerPool* background_pool_ = nullptr;
  LogLimiter exception_log_;
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_DISPATCHER_H_
