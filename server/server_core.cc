#include "server/server_core.h"

#include <exception>
#include <utility>

#include "server/reactor.h"

namespace brisk {

ServerCore::ServerCore(ServerOptions opts) : options(std::move(opts)) {}

bool ServerCore::Admit(const std::shared_ptr<Call>& call, SteadyTime now) {
  call->enqueued = now;
  std::shared_ptr<Call> queued = call;  // the queue takes its own reference
  if (!admission->TryPush(queued, now)) return false;
  metrics->in_flight.fetch_add(1, std::memory_order_relaxed);
  metrics->queue_depth.fetch_add(1, std::memory_order_relaxed);
  // One pool task per admitted call; each takes whichever call the queue
  // discipline picks. If the pool's own queue is full there are already at
  // least as many tasks pending as calls queued, so none is stranded.
  pool->TryPost([this] { RunOneCall(); });
  return true;
}

void ServerCore::RunOneCall() {
  std::vector<AdmissionQueue<std::shared_ptr<Call>>::Item> expired;
  while (true) {
    const SteadyTime now = std::chrono::steady_clock::now();
    auto item = admission->Pop(now, &expired);
    for (auto& e : expired) {
      metrics->queue_depth.fetch_sub(1, std::memory_order_relaxed);
      if (e.payload->cancel.cancelled()) continue;  // already answered
      metrics->shed_codel.fetch_add(1, std::memory_order_relaxed);
      Reactor* reactor = e.payload->reactor;
      reactor->PostCallShed(std::move(e.payload));
    }
    expired.clear();
    if (!item) return;
    std::shared_ptr<Call> call = std::move(item->payload);
    metrics->queue_depth.fetch_sub(1, std::memory_order_relaxed);
    if (call->cancel.cancelled()) continue;  // answered at its deadline
    call->started.store(true, std::memory_order_release);
    RouteMetrics& rm = metrics->route(call->route_id);
    rm.queue_wait.Observe(now - call->enqueued);
    RequestContext ctx(&call->request, &call->params, call->deadline,
                       &call->cancel);
    http::Response response;
    try {
      response = call->route->handler(ctx);
    } catch (...) {
      metrics->handler_exceptions.fetch_add(1, std::memory_order_relaxed);
      response = http::Response::Status(500);
    }
    rm.handler.Observe(std::chrono::steady_clock::now() - now);
    Reactor* reactor = call->reactor;
    reactor->PostCallDone(std::move(call), std::move(response));
    return;
  }
}

void ServerCore::ConnectionClosed() {
  if (connections.fetch_sub(1, std::memory_order_acq_rel) == 1 &&
      draining.load(std::memory_order_acquire)) {
    NotifyIfDrained();
  }
}

void ServerCore::NotifyIfDrained() {
  if (connections.load(std::memory_order_acquire) != 0) return;
  {
    std::lock_guard<std::mutex> lock(drain_mu);
  }
  drain_cv.notify_all();
  if (!on_drained_called.exchange(true) && on_drained) on_drained();
}

bool ServerCore::WaitDrained(std::chrono::nanoseconds timeout) {
  std::unique_lock<std::mutex> lock(drain_mu);
  return drain_cv.wait_for(lock, timeout, [this] {
    return draining.load(std::memory_order_acquire) &&
           connections.load(std::memory_order_acquire) == 0;
  });
}

}  // namespace brisk
