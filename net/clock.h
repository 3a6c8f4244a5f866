// Clock: the source of time for an EventLoop, injectable so tests control it.
//
// The loop reads its clock once per iteration (EventLoop::Now()), so every
// callback in one iteration sees the same time. Production code uses
// SystemClock (std::chrono::steady_clock); tests use FakeClock and Advance().
//
//   FakeClock clock;
//   auto loop = CreateEpollLoop({.clock = &clock});
//   (*loop)->RunAfter(std::chrono::seconds(5), [] { ... });
//   clock.Advance(std::chrono::seconds(5));
//   (*loop)->RunOnce(std::chrono::nanoseconds(0));  // the timer fires
//
// Thread-safety: Now() may be called from any thread (EventLoop::Post reads
// it to measure queueing lag). FakeClock::Advance/Set may be called from any
// thread too.
#ifndef BRISK_NET_CLOCK_H_
#define BRISK_NET_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace brisk::net {

using TimePoint = std::chrono::steady_clock::time_point;
using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time. Thread-safe.
  virtual TimePoint Now() const = 0;
};

// std::chrono::steady_clock. Stateless; one process-wide instance.
class SystemClock final : public Clock {
 public:
  static const SystemClock* Get();
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
};

// A clock that only moves when told. Starts at `start` (default: an arbitrary
// non-zero point, so "time zero" bugs show up).
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint(std::chrono::hours(1)))
      : nanos_(start.time_since_epoch().count()) {}

  TimePoint Now() const override {
    return TimePoint(Duration(nanos_.load(std::memory_order_acquire)));
  }
  void Advance(Duration d) { nanos_.fetch_add(d.count(), std::memory_order_acq_rel); }
  void Set(TimePoint t) {
    nanos_.store(t.time_since_epoch().count(), std::memory_order_release);
  }

 private:
  std::atomic<int64_t> nanos_;
};

}  // namespace brisk::net

#endif  // BRISK_NET_CLOCK_H_
