#include "server/deadline_policy.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace brisk::internal {
namespace {

using std::chrono::nanoseconds;

double Ns(nanoseconds d) { return static_cast<double>(d.count()); }
nanoseconds FromNs(double ns) {
  return nanoseconds(static_cast<int64_t>(std::max(0.0, ns)));
}

// A share of the workers beyond which the tighter routes are taken to leave
// nothing: predictions then say "late" rather than divide by ~0.
constexpr double kMaxTighterShare = 0.95;

}  // namespace

// ------------------------------------------------------------ estimates

void ServiceEstimate::Observe(nanoseconds sample) {
  const double x = Ns(sample);
  if (samples_ == 0) {
    mean_ns_ = x;
    dev_ns_ = x / 2;
  } else {
    const double err = x - mean_ns_;
    mean_ns_ += err / 8;
    dev_ns_ += (std::abs(err) - dev_ns_) / 4;
  }
  ++samples_;
}

nanoseconds ServiceEstimate::mean() const { return FromNs(mean_ns_); }
nanoseconds ServiceEstimate::deviation() const { return FromNs(dev_ns_); }

void RateMeter::Roll(SteadyTime now) {
  if (!started_) {
    started_ = true;
    window_start_ = now;
    return;
  }
  // Close every full window since the last one, each folding its count (or
  // zero) into the smoothed rate.
  const double window_s = std::chrono::duration<double>(window_).count();
  int closed = 0;
  while (now - window_start_ >= window_ && closed < 64) {
    const double r = static_cast<double>(in_window_) / window_s;
    rate_ += (r - rate_) / 4;
    in_window_ = 0;
    window_start_ += window_;
    ++closed;
  }
  if (now - window_start_ >= window_) {  // idle for a long time
    rate_ = 0;
    window_start_ = now;
  }
}

void RateMeter::Add(SteadyTime now) {
  Roll(now);
  ++in_window_;
}

double RateMeter::PerSecond(SteadyTime now) {
  Roll(now);
  return rate_;
}

// --------------------------------------------------------------- policy

DeadlinePolicy::DeadlinePolicy(DeadlinePolicyOptions options)
    : options_(std::move(options)) {
  const size_t n = std::max(options_.max_concurrency.size(),
                            options_.initial_estimate.size());
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < n; ++i) Route(i);
}

DeadlinePolicy::RouteState& DeadlinePolicy::Route(size_t route) {
  while (routes_.size() <= route) {
    const size_t i = routes_.size();
    routes_.emplace_back();
    RouteState& r = routes_.back();
    if (i < options_.initial_estimate.size()) {
      r.estimate = ServiceEstimate(options_.initial_estimate[i]);
    }
    if (i < options_.max_concurrency.size()) {
      r.explicit_limit = options_.max_concurrency[i];
    }
  }
  return routes_[route];
}

int DeadlinePolicy::LimitLocked(size_t route, SteadyTime now) const {
  const RouteState& self = routes_[route];
  if (self.explicit_limit > 0) {
    return std::min(self.explicit_limit, options_.workers);
  }
  if (options_.workers <= 1) return options_.workers;
  // Alone, a route may use every worker; while another route is active
  // (requests queued or running, or seen within the last active_window), it
  // leaves one to them, so they never wait for a worker behind it.
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (i == route) continue;
    const RouteState& r = routes_[i];
    if (!r.queue.empty() || r.running > 0 ||
        (r.seen && now - r.last_active < options_.active_window)) {
      return options_.workers - 1;
    }
  }
  return options_.workers;
}

SteadyTime DeadlinePolicy::PredictLocked(size_t route, SteadyTime deadline,
                                         SteadyTime now) {
  RouteState& self = Route(route);
  // Work that runs before this request: what running requests have left...
  double ahead_ns = 0;
  double route_ahead_ns = 0;
  for (const Running& r : running_) {
    const double left =
        std::max(0.0, Ns(routes_[r.route].estimate.mean()) - Ns(now - r.start));
    ahead_ns += left;
    if (r.route == route) route_ahead_ns += left;
  }
  // ...and queued requests due no later than it (earliest deadline first).
  double tighter_share = 0;
  const double workers = static_cast<double>(options_.workers);
  for (size_t i = 0; i < routes_.size(); ++i) {
    RouteState& r = routes_[i];
    const double mean = Ns(r.estimate.mean());
    if (!r.queue.empty()) {
      const auto end = std::upper_bound(
          r.queue.begin(), r.queue.end(), deadline,
          [](SteadyTime d, const Job& j) { return d < j.deadline; });
      const double work = mean * static_cast<double>(end - r.queue.begin());
      ahead_ns += work;
      if (i == route) route_ahead_ns += work;
    }
    // Routes whose requests are due sooner keep overtaking this one while
    // it waits: their share of the workers is not available to it.
    if (i != route && r.has_budget && self.has_budget &&
        r.budget_ns < self.budget_ns) {
      tighter_share += r.admitted.PerSecond(now) * mean / 1e9 / workers;
    }
  }
  tighter_share = std::min(tighter_share, kMaxTighterShare);
  const double limit = static_cast<double>(LimitLocked(route, now));
  const double wait_ns =
      std::max(ahead_ns / (workers * (1.0 - tighter_share)),
               route_ahead_ns / limit);
  const double own_ns = Ns(self.estimate.mean()) +
                        options_.safety * Ns(self.estimate.deviation()) +
                        Ns(options_.margin);
  return now + FromNs(wait_ns + own_ns);
}

SteadyTime DeadlinePolicy::PredictFinish(size_t route, SteadyTime deadline,
                                         SteadyTime now) {
  std::lock_guard<std::mutex> lock(mu_);
  return PredictLocked(route, deadline, now);
}

std::optional<ShedReason> DeadlinePolicy::Admit(Job& job, SteadyTime now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (queued_ >= options_.capacity) return ShedReason::kQueueFull;
  RouteState& r = Route(job.route);
  // The route's typical budget (for "tighter than"), from every arrival.
  const double budget = Ns(job.deadline - job.arrival);
  if (!r.has_budget) {
    r.budget_ns = budget;
    r.has_budget = true;
  } else {
    r.budget_ns += (budget - r.budget_ns) / 8;
  }
  if (PredictLocked(job.route, job.deadline, now) > job.deadline) {
    return ShedReason::kPredictedLate;
  }
  r.admitted.Add(now);
  r.seen = true;
  r.last_active = now;
  // Deadline order; arrivals of one route are mostly in order already.
  auto pos = r.queue.end();
  while (pos != r.queue.begin() && std::prev(pos)->deadline > job.deadline) {
    --pos;
  }
  r.queue.insert(pos, std::move(job));
  ++queued_;
  return std::nullopt;
}

std::optional<Job> DeadlinePolicy::Next(SteadyTime now,
                                        std::vector<Refusal>* refused) {
  std::lock_guard<std::mutex> lock(mu_);
  for (;;) {
    // The earliest deadline among the routes allowed to run one more.
    RouteState* best = nullptr;
    size_t best_route = 0;
    for (size_t i = 0; i < routes_.size(); ++i) {
      RouteState& r = routes_[i];
      if (r.queue.empty() || r.running >= LimitLocked(i, now)) continue;
      if (best == nullptr || r.queue.front().deadline < best->queue.front().deadline) {
        best = &r;
        best_route = i;
      }
    }
    if (best == nullptr) return std::nullopt;
    Job job = std::move(best->queue.front());
    best->queue.pop_front();
    --queued_;
    // No useless work: too little time left to run it.
    if (job.deadline - now < best->estimate.mean() + options_.margin) {
      refused->push_back(Refusal{std::move(job), ShedReason::kExpiredInQueue});
      continue;
    }
    ++best->running;
    running_.push_back(Running{best_route, now, KeyOf(job)});
    return job;
  }
}

void DeadlinePolicy::Finished(const Job& job, nanoseconds handler_time,
                              SteadyTime now) {
  std::lock_guard<std::mutex> lock(mu_);
  RouteState& r = Route(job.route);
  r.estimate.Observe(handler_time);
  --r.running;
  const uintptr_t key = KeyOf(job);
  for (auto it = running_.begin(); it != running_.end(); ++it) {
    if (it->key == key) {
      running_.erase(it);
      break;
    }
  }
  r.last_active = now;
}

size_t DeadlinePolicy::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_;
}

std::optional<AdmissionPolicy::Estimate> DeadlinePolicy::EstimateFor(
    size_t route) {
  std::lock_guard<std::mutex> lock(mu_);
  const RouteState& r = Route(route);
  return Estimate{r.estimate.mean(), r.estimate.deviation()};
}

RouteEstimateSnapshot DeadlinePolicy::Snapshot(size_t route, SteadyTime now) {
  std::lock_guard<std::mutex> lock(mu_);
  RouteState& r = Route(route);
  return RouteEstimateSnapshot{
      .mean = r.estimate.mean(),
      .deviation = r.estimate.deviation(),
      .samples = r.estimate.samples(),
      .arrivals_per_second = r.admitted.PerSecond(now),
      .queued = r.queue.size(),
      .running = r.running};
}

}  // namespace brisk::internal
