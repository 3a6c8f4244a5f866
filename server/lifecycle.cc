#include "server/lifecycle.h"

#include "server/wait_bound.h"

namespace brisk::internal {

bool Lifecycle::TryOpenConnection(int max) {
  int64_t n = connections_.load(std::memory_order_relaxed);
  do {
    if (n >= max) return false;
  } while (!connections_.compare_exchange_weak(n, n + 1,
                                               std::memory_order_acq_rel));
  return true;
}

void Lifecycle::ConnectionClosed() {
  if (connections_.fetch_sub(1) == 1) CheckDrained();
}

void Lifecycle::AcceptStopEnded() {
  if (accept_stops_.fetch_sub(1) == 1) CheckDrained();
}

bool Lifecycle::BeginShutdown() {
  return !shutting_down_.exchange(true, std::memory_order_acq_rel);
}

void Lifecycle::BeginDrain() {
  shutting_down_.store(true, std::memory_order_release);
  draining_.store(true, std::memory_order_release);
}

void Lifecycle::CheckDrained() {
  if (!draining() || connections_.load() != 0 || accept_stops_.load() != 0) {
    return;
  }
  { std::lock_guard<std::mutex> lock(mu_); }
  cv_.notify_all();
  if (!drained_reported_.exchange(true) && on_drained_) on_drained_();
}

bool Lifecycle::WaitDrained(std::chrono::nanoseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, WaitBound(timeout),
                      [this] {
                        return draining() && connections_.load() == 0 &&
                               accept_stops_.load() == 0;
                      });
}

}  // namespace brisk::internal
