// Test helpers: a Gate that offloaded handlers wait on (so a test decides
// when a "slow" handler finishes, instead of sleeping and hoping), and
// Eventually(), which polls a condition under a generous guard (a guard
// against a hung test, not a timing assertion).
#ifndef BRISK_SERVER_TESTING_GATE_H_
#define BRISK_SERVER_TESTING_GATE_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "server/handler.h"

namespace brisk::testing {

class Gate {
 public:
  // Waits until Open() or the request is cancelled; true if opened.
  bool Wait(const RequestContext& ctx) {
    std::unique_lock<std::mutex> lock(mu_);
    ++entered_;
    cv_.notify_all();
    while (!open_) {
      if (ctx.cancelled()) {
        ++cancelled_;
        cv_.notify_all();
        return false;
      }
      cv_.wait_for(lock, std::chrono::milliseconds(2));
    }
    return true;
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Blocks until `n` handlers have entered Wait (guarded by 20 s).
  bool WaitEntered(int n) { return WaitFor([&] { return entered_ >= n; }); }
  // Blocks until `n` waiting handlers saw their cancellation (guard 20 s).
  bool WaitCancelled(int n) { return WaitFor([&] { return cancelled_ >= n; }); }
  int entered() {
    std::lock_guard<std::mutex> lock(mu_);
    return entered_;
  }

 private:
  template <typename Pred>
  bool WaitFor(Pred pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), pred);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  int cancelled_ = 0;
  bool open_ = false;
};

// Polls `pred` until true, for up to 20 s.
template <typename Pred>
bool Eventually(Pred pred) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

// Scrapes `metrics` (AppendPrometheus) into `page` until it holds `needle`
// (a figure recorded after the answer is on its way), for up to 20 s.
template <typename Metrics>
bool EventuallyScraped(const Metrics& metrics, std::string_view needle,
                       std::string* page) {
  return Eventually([&] {
    page->clear();
    metrics.AppendPrometheus(page);
    return page->find(needle) != std::string::npos;
  });
}

}  // namespace brisk::testing

#endif  // BRISK_SERVER_TESTING_GATE_H_
