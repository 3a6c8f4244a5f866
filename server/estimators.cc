#include "server/estimators.h"

#include <algorithm>
#include <cmath>

namespace brisk::internal {

using std::chrono::nanoseconds;

void ServiceEstimate::Observe(nanoseconds sample) {
  const double x = Ns(sample);
  if (samples_ == 0) {
    // TCP's start (RFC 6298): the deviation is half the first sample. One
    // sample says nothing of the spread, and trusting it as exact (a
    // deviation of 0) was measured to cost more than it saves: in the
    // mixed-SLA benchmark at 2x, a CPU-starved background route admitted
    // requests that then ran past their deadlines (p99 of its refusals
    // 2.4 ms -> 500 ms, useful work 100% -> 92.5%, same-run A/B). The price:
    // a steady 200 ms route refuses a lone request with a 300 ms budget
    // until more samples (or a probe) bring the deviation down; a route
    // whose requests know their cost says so instead
    // (RouteOptions::service_time_hint).
    mean_ns_ = x;
    dev_ns_ = x / 2;
  } else {
    // Huber's clipping, for a lone outlier: a sample more than kClip
    // spreads above the mean (the spread being the deviation, at least a
    // quarter of the mean) counts as if it were kClip spreads above, unless
    // the sample before it was above too. One outlier (a preempted worker,
    // a paused process, one request of a different size) then barely moves
    // the estimate, where it used to add a quarter of itself to the
    // deviation: one 56 ms run of a 1 ms route gave 8 ms +- 14 ms, refusing
    // every request with a 20 ms budget until a probe. A second one in a
    // row counts whole: a lasting change is followed one sample later than
    // unclipped (clipping every sample was tried: a 200x rise then took ~8
    // samples, admitting requests that ran to their deadlines meanwhile).
    // Falls are never clipped (a sample cannot be below the mean by more
    // than 4 quarters of it).
    constexpr double kClip = 4;
    const double spread = std::max(dev_ns_, mean_ns_ / 4);
    const bool above = x - mean_ns_ > kClip * spread;
    const double err =
        above && !last_above_ ? kClip * spread : x - mean_ns_;
    last_above_ = above;
    mean_ns_ += err / 8;
    dev_ns_ += (std::abs(err) - dev_ns_) / 4;
  }
  ++samples_;
}

void ServiceEstimate::ObserveAtLeast(nanoseconds sample) {
  if (samples_ == 0 || Ns(sample) > mean_ns_) Observe(sample);
}

nanoseconds ServiceEstimate::mean() const { return FromNs(mean_ns_); }
nanoseconds ServiceEstimate::deviation() const { return FromNs(dev_ns_); }

void RateMeter::Roll(SteadyTime now, State* s) const {
  // Close every full window since the last one, each folding its count (or
  // zero) into the smoothed rate.
  const double window_s = std::chrono::duration<double>(window_).count();
  int closed = 0;
  while (now - s->window_start >= window_ && closed < 64) {
    const double r = static_cast<double>(s->in_window) / window_s;
    s->rate += (r - s->rate) * weight_;
    s->in_window = 0;
    s->window_start += window_;
    ++closed;
  }
  if (now - s->window_start >= window_) {  // idle for a long time
    s->rate = 0;
    s->window_start = now;
  }
}

void RateMeter::Add(SteadyTime now) {
  if (!started_) {
    started_ = true;
    state_.window_start = now;
  }
  Roll(now, &state_);
  ++state_.in_window;
}

double RateMeter::PerSecond(SteadyTime now) {
  if (!started_) return 0;
  Roll(now, &state_);
  return state_.rate;
}

SteadyTime RateMeter::When(SteadyTime now, absl::FunctionRef<bool(double)> enough) const {
  if (!started_) return enough(0) ? now : SteadyTime::max();
  // The same steps as PerSecond() at each time a window closes, so that
  // PerSecond() at the time returned agrees (a waker that sleeps until
  // then finds the batch ready, and does not spin).
  State s = state_;
  Roll(now, &s);
  if (enough(s.rate)) return now;
  for (int i = 0; i < 64; ++i) {
    const SteadyTime at = s.window_start + window_;
    Roll(at, &s);  // closes exactly that window
    if (enough(s.rate)) return at;
  }
  return SteadyTime::max();
}

void BatchCostModel::Observe(size_t n, nanoseconds time) {
  // Exponential forgetting: the last ~20 batches weigh the most, so the
  // model follows a handler whose cost changes.
  constexpr double kForget = 0.95;
  const double x = static_cast<double>(n);
  const double t = Ns(time);
  w_ = w_ * kForget + 1;
  sn_ = sn_ * kForget + x;
  st_ = st_ * kForget + t;
  snn_ = snn_ * kForget + x * x;
  snt_ = snt_ * kForget + x * t;
  ++samples_;
  const double denom = w_ * snn_ - sn_ * sn_;
  // Batches of (nearly) one size say nothing about the slope: keep it and
  // fit the intercept.
  if (denom > 1e-6 * w_ * w_) {
    b_ns_ = std::max(0.0, (w_ * snt_ - sn_ * st_) / denom);
  }
  a_ns_ = (st_ - b_ns_ * sn_) / w_;
  if (a_ns_ < 0) {  // no fixed cost: all of it per item
    a_ns_ = 0;
    b_ns_ = st_ / std::max(1e-9, sn_);
  }
}

void BatchCostModel::Restart() {
  w_ = sn_ = st_ = snn_ = snt_ = 0;
  samples_ = 0;
}

nanoseconds BatchCostModel::Cost(size_t n) const {
  return FromNs(a_ns_ + b_ns_ * static_cast<double>(n));
}
nanoseconds BatchCostModel::fixed() const { return FromNs(a_ns_); }
nanoseconds BatchCostModel::per_item() const { return FromNs(b_ns_); }

}  // namespace brisk::internal
