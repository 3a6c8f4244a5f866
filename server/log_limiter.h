// LogLimiter: a recurring problem said on stderr at most once a period,
// each line telling how many occurrences it stands for.
//
//   static LogLimiter limiter;  // or a member
//   if (const uint64_t n = limiter.Count()) fprintf(stderr, "... (%llu such ...)", n);
//
// Thread-safe: one limiter may be shared by every thread (process-wide) or
// owned by one.
#ifndef BRISK_SERVER_LOG_LIMITER_H_
#define BRISK_SERVER_LOG_LIMITER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

namespace brisk::internal {

class LogLimiter {
 public:
  explicit LogLimiter(int64_t period_seconds = 10) : period_(period_seconds) {}

  // One more occurrence. When a line is due (the first one, then once a
  // period), the occurrences since the last line, this one included;
  // else 0: stay quiet. Periods are counted on the steady clock: on the
  // wall clock (time()), a step back silenced every line for as long as
  // the step.
  uint64_t Count() {
    return CountAt(std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count());
  }
  // Count() at `now_seconds` on a clock of the caller's (tests).
  uint64_t CountAt(int64_t now_seconds) {
    const uint64_t n = unlogged_.fetch_add(1, std::memory_order_relaxed) + 1;
    int64_t last = logged_at_.load(std::memory_order_relaxed);
    if (last != kNever && now_seconds - last < period_) return 0;
    if (!logged_at_.compare_exchange_strong(last, now_seconds, std::memory_order_relaxed)) {
      return 0;  // another thread says it
    }
    unlogged_.fetch_sub(n, std::memory_order_relaxed);
    return n;
  }

 private:
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::min();
  const int64_t period_;
  std::atomic<int64_t> logged_at_{kNever};  // steady clock, seconds
  std::atomic<uint64_t> unlogged_{0};
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_LOG_LIMITER_H_
