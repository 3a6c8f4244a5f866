// Internal: the cancellation flag of one request. Cancel() may be called
// from any thread; SleepFor() waiters wake at once.
#ifndef BRISK_SERVER_CANCEL_STATE_H_
#define BRISK_SERVER_CANCEL_STATE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "server/wait_bound.h"

namespace brisk::internal {

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
    return !cv_.wait_for(lock, WaitBound(d), [this] { return cancelled(); });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_CANCEL_STATE_H_
