// Internal: the online estimators the admission policy learns from: a
// service time (EWMA mean and mean deviation), an event rate, and a batch
// cost model. Times are passed in; not thread-safe (the policy locks).
#ifndef BRISK_SERVER_ESTIMATORS_H_
#define BRISK_SERVER_ESTIMATORS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "absl/functional/function_ref.h"
#include "server/handler.h"
#include "server/wait_bound.h"

namespace brisk::internal {

// Durations as doubles of nanoseconds, for the estimators' arithmetic.
inline double Ns(std::chrono::nanoseconds d) { return static_cast<double>(d.count()); }
// Back to a duration, in [0, a century]: a cost the clock cannot count to
// (a hint or an assumed estimate of nanoseconds::max(), "never in time")
// has no int64_t value (the conversion is undefined; on x86 it gave
// INT64_MIN, a finish centuries in the past, and the request was
// admitted), and a century added to a steady time cannot overflow.
inline std::chrono::nanoseconds FromNs(double ns) {
  if (!(ns > 0)) return std::chrono::nanoseconds(0);  // NaN too
  if (ns >= Ns(kWaitForever)) return kWaitForever;
  return std::chrono::nanoseconds(static_cast<int64_t>(ns));
}

// One route's learned service time. Not thread-safe (the policy locks).
class ServiceEstimate {
 public:
  // `initial` is the mean assumed before the first observation.
  explicit ServiceEstimate(std::chrono::nanoseconds initial = {})
      : mean_ns_(static_cast<double>(initial.count())) {}
  void Observe(std::chrono::nanoseconds sample);
  // A run known to have taken at least `sample` (cut off by its deadline or
  // its client): it may raise the estimate, never lower it.
  void ObserveAtLeast(std::chrono::nanoseconds sample);
  // ObserveAtLeast(sample) if `at_least`, else Observe(sample).
  void Observe(std::chrono::nanoseconds sample, bool at_least) {
    if (at_least) {
      ObserveAtLeast(sample);
    } else {
      Observe(sample);
    }
  }
  // Forgets the past: the next observation sets the mean (as the first
  // did). For an estimate that has not been fed for so long it may be
  // stale.
  void Restart() {
    samples_ = 0;
    last_above_ = false;
  }
  std::chrono::nanoseconds mean() const;
  std::chrono::nanoseconds deviation() const;
  uint64_t samples() const { return samples_; }

 private:
  double mean_ns_;
  double dev_ns_ = 0;
  uint64_t samples_ = 0;
  bool last_above_ = false;  // the last sample was clipped (an outlier)
};

// A rate measured over fixed windows and smoothed across them (events per
// second). Not thread-safe (the policy locks).
class RateMeter {
 public:
  // Each closed window moves the rate `weight` of the way to its count.
  explicit RateMeter(
      std::chrono::nanoseconds window = std::chrono::milliseconds(100),
      double weight = 0.25)
      : window_(window), weight_(weight) {}
  void Add(SteadyTime now);
  // The smoothed rate as of `now` (windows that passed with no event count
  // as zero).
  double PerSecond(SteadyTime now);
  // The earliest time from `now` on at which PerSecond() will return a rate
  // for which `enough` holds, if no event comes meanwhile: the rate changes
  // only as windows close, each closing with no event lowering it.
  // SteadyTime::max() if that is more than 64 windows away.
  SteadyTime When(SteadyTime now, absl::FunctionRef<bool(double)> enough) const;

 private:
  // The meter's state, moved forward by Roll().
  struct State {
    SteadyTime window_start{};
    uint64_t in_window = 0;
    double rate = 0;
  };
  // Closes the windows that ended by `now` (at most 64; after longer idle
  // the rate restarts from zero).
  void Roll(SteadyTime now, State* s) const;

  const std::chrono::nanoseconds window_;
  const double weight_;
  bool started_ = false;
  State state_;  // rate: events per second, smoothed
};

// cost(n) = a + b*n, fitted by least squares with exponential forgetting.
class BatchCostModel {
 public:
  BatchCostModel(std::chrono::nanoseconds fixed, std::chrono::nanoseconds per_item)
      : a_ns_(static_cast<double>(fixed.count())),
        b_ns_(static_cast<double>(per_item.count())) {}
  void Observe(size_t n, std::chrono::nanoseconds time);
  // Forgets the past observations (a stale model): the next one sets the
  // cost, keeping the slope until batches of other sizes measure it.
  void Restart();
  std::chrono::nanoseconds Cost(size_t n) const;
  std::chrono::nanoseconds fixed() const;     // a
  std::chrono::nanoseconds per_item() const;  // b
  uint64_t samples() const { return samples_; }

 private:
  double a_ns_, b_ns_;
  // Weighted sums for the fit (weights decay by kForget per sample).
  double w_ = 0, sn_ = 0, st_ = 0, snn_ = 0, snt_ = 0;
  uint64_t samples_ = 0;
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_ESTIMATORS_H_
