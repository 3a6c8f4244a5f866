// Internal: the server's life after Start(): connection accounting (for
// --max_connections and the drain) and the drain itself. Reactors report
// connections opening and closing; whoever waits for the drain (Run(),
// Wait()) is told when the last connection of a draining server closed.
//
// Thread-safety: every method may be called from any thread.
#ifndef BRISK_SERVER_LIFECYCLE_H_
#define BRISK_SERVER_LIFECYCLE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <utility>

#include "absl/functional/any_invocable.h"

namespace brisk::internal {

class Lifecycle {
 public:
  // Counts a new connection unless `max` are open. False: refuse it.
  bool TryOpenConnection(int max);
  void ConnectionClosed();
  int64_t connections() const {
    return connections_.load(std::memory_order_acquire);
  }

  // A listener stops accepting (io_uring: connections its accept takes
  // until the stop completes are still served): the drain is not complete
  // before AcceptStopEnded().
  void AcceptStopBegan() { accept_stops_.fetch_add(1); }
  void AcceptStopEnded();

  // From now on readiness fails (/readyz answers 503). Idempotent; true the
  // first time.
  bool BeginShutdown();
  bool shutting_down() const {
    return shutting_down_.load(std::memory_order_acquire);
  }
  // The listening sockets went to a new process: every connection's next
  // answer says Connection: close (its reactor is told too, later). Call
  // before BeginShutdown(), so that whoever sees readiness fail sees this.
  void BeginHandover() { handed_over_.store(true, std::memory_order_release); }
  // Answers say Connection: close (handed over, or draining).
  bool closing_connections() const {
    return handed_over_.load(std::memory_order_acquire) || draining();
  }
  // From now on the connections drain (the reactors were told); the drain
  // is complete once none is open.
  void BeginDrain();
  bool draining() const { return draining_.load(std::memory_order_acquire); }
  // Wakes waiters, and calls the on-drained callback once, if the drain is
  // complete (after the reactors drained): no connection open, and none
  // that can still arrive.
  void CheckDrained();
  // Called once, from the thread that completed the drain. Before Start().
  void SetOnDrained(absl::AnyInvocable<void()> callback) {
    on_drained_ = std::move(callback);
  }
  // Blocks until the drain completed or `timeout` passed; true if complete.
  bool WaitDrained(std::chrono::nanoseconds timeout);

 private:
  // Sequentially consistent, as are the loads in CheckDrained(): whichever
  // of the two counts reaches 0 last sees the other at 0.
  std::atomic<int64_t> connections_{0};
  std::atomic<int64_t> accept_stops_{0};
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> draining_{false};
  std::atomic<bool> handed_over_{false};
  std::atomic<bool> drained_reported_{false};
  absl::AnyInvocable<void()> on_drained_;
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_LIFECYCLE_H_
