// What a route handler sees and returns.
//
//   server.AddRoute("GET", "/users/{id}", [](RequestContext& ctx) {
//     if (ctx.cancelled()) return http::Response::Status(503);
//     return http::Response::Text(200, std::string(*ctx.Param("id")));
//   });
//
// An offloaded handler (the default) runs on a worker thread and may block;
// it should watch `cancelled()` (set when the request's deadline passes or
// the client disconnects) and may use `SleepFor()`, which wakes early on
// cancellation. Its result after cancellation is dropped: the client has
// already been answered 503 at the deadline. An inline handler runs on the
// reactor thread, must never block, and is never cancelled.
//
// A handler that throws gets its request answered 500; nothing else is
// affected. Handlers are called concurrently from several threads: they must
// be thread-safe.
#ifndef BRISK_SERVER_HANDLER_H_
#define BRISK_SERVER_HANDLER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "http/request.h"
#include "http/response.h"

namespace brisk {

using SteadyTime = std::chrono::steady_clock::time_point;

// The cancellation flag of one offloaded request. Cancel() may be called from
// any thread; waiters in SleepFor wake at once.
class CancelState {
 public:
  void Cancel() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_.store(true, std::memory_order_release);
    }
    cv_.notify_all();
  }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  // Waits `d` or until cancelled; true if the full time elapsed.
  bool SleepFor(std::chrono::nanoseconds d) const {
    std::unique_lock<std::mutex> lock(mu_);
    return !cv_.wait_for(lock, d, [this] { return cancelled(); });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::atomic<bool> cancelled_{false};
};

using PathParams = std::vector<std::pair<std::string_view, std::string_view>>;

class RequestContext {
 public:
  RequestContext(http::Request* request, const PathParams* params,
                 SteadyTime deadline, const CancelState* cancel)
      : request_(request), params_(params), deadline_(deadline),
        cancel_(cancel) {}

  const http::Request& request() const { return *request_; }
  // Mutable access, e.g. to move the body out instead of copying it.
  http::Request& mutable_request() { return *request_; }

  // A path parameter bound by the route pattern ("{id}"), or nullopt.
  std::optional<std::string_view> Param(std::string_view name) const {
    for (const auto& [k, v] : *params_) {
      if (k == name) return v;
    }
    return std::nullopt;
  }

  // When the client must have its answer (steady clock). Inline handlers
  // get SteadyTime::max().
  SteadyTime deadline() const { return deadline_; }
  // Set once the deadline passed or the client went away.
  bool cancelled() const { return cancel_ != nullptr && cancel_->cancelled(); }
  // Sleeps `d`, waking early on cancellation. True if the full time elapsed.
  bool SleepFor(std::chrono::nanoseconds d) const;

 private:
  http::Request* request_;
  const PathParams* params_;
  SteadyTime deadline_;
  const CancelState* cancel_;
};

inline bool RequestContext::SleepFor(std::chrono::nanoseconds d) const {
  if (cancel_ == nullptr) {
    std::this_thread::sleep_for(d);
    return true;
  }
  return cancel_->SleepFor(d);
}

using Handler = std::function<http::Response(RequestContext&)>;

struct RouteOptions {
  // Run on the reactor thread (never blocks, never shed, no deadline).
  bool run_inline = false;
  // This route's default deadline; 0 = the server's --request_deadline.
  std::chrono::nanoseconds deadline{0};
};

}  // namespace brisk

#endif  // BRISK_SERVER_HANDLER_H_
