#include "server/deadline_policy.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/types/span.h"

namespace brisk::internal {
namespace {

using std::chrono::nanoseconds;

// A share of the workers beyond which the tighter routes are taken to leave
// nothing: predictions then say "late" rather than divide by ~0.
constexpr double kMaxTighterShare = 0.95;

// A probe at most once per this many times its route's own time (or its
// budget): a route that really is too slow loses at most a tenth of a
// worker to probes.
constexpr int kProbeSpacing = 10;

// The time (ns from now) at which a worker is free for a request that has
// `work_ns` of queued work ahead of it, when the workers free up at
// `free_at` (ns from now, ascending; 0 = idle now): the work fills the
// workers as they free up, like water poured over steps, and the level it
// reaches is when one is free for the request.
double WaterLevelNs(absl::Span<const double> free_at, double work_ns) {
  double level = free_at.front();
  double left = work_ns;
  for (size_t k = 1;; ++k) {
    if (k == free_at.size()) return level + left / static_cast<double>(k);
    const double room = (free_at[k] - level) * static_cast<double>(k);
    if (left <= room) return level + left / static_cast<double>(k);
    left -= room;
    level = free_at[k];
  }
}

// Queued requests placed one by one before the rest are poured as a fluid
// (WaterLevelNs): bounded work on the reactor, and with that many ahead the
// fluid is close.
constexpr size_t kMaxPlaced = 64;

// A queue's work ahead of an arrival: the costs of its first requests (in
// the order they start), and the work of the rest.
struct QueuedAhead {
  absl::InlinedVector<double, 8> first;  // at most kMaxPlaced
  double rest_ns = 0;

  void Add(double cost_ns) {
    if (first.size() < kMaxPlaced) {
      first.push_back(cost_ns);
    } else {
      rest_ns += cost_ns;
    }
  }
};

// `free_at` (ascending, as WaterLevelNs takes it) after the requests of
// `ahead.first` ran, each on the worker free first (list scheduling), their
// costs divided by `share` (the part of a worker they get): a queued
// request holds one worker for its whole run, it does not spread over all
// of them. Poured as a fluid, one queued 200 ms request on four idle
// workers made the next arrival wait 50 ms, and a burst of four that fit
// four workers exactly was partly refused.
template <typename Slots>
Slots Placed(Slots free_at, const QueuedAhead& ahead, double share) {
  if (ahead.first.empty()) return free_at;
  std::make_heap(free_at.begin(), free_at.end(), std::greater<double>());
  for (double cost : ahead.first) {
    std::pop_heap(free_at.begin(), free_at.end(), std::greater<double>());
    free_at.back() += cost / share;
    std::push_heap(free_at.begin(), free_at.end(), std::greater<double>());
  }
  std::sort(free_at.begin(), free_at.end());
  return free_at;
}

}  // namespace

// --------------------------------------------------------------- policy

DeadlinePolicy::DeadlinePolicy(DeadlinePolicyOptions options)
    : options_(std::move(options)) {
  const size_t n = std::max({options_.max_concurrency.size(),
                             options_.initial_estimate.size(),
                             options_.batch.size()});
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
      r.to_answer = ServiceEstimate(options_.initial_estimate[i]);
    }
    if (i < options_.max_concurrency.size()) {
      r.explicit_limit = options_.max_concurrency[i];
    }
    if (i < options_.batch.size() && options_.batch[i].has_value()) {
      BatchFormerOptions b = *options_.batch[i];
      b.margin = options_.margin;
      r.batcher = std::make_unique<BatchFormer>(b);
    }
  }
  return routes_[route];
}

int DeadlinePolicy::LimitLocked(size_t route, SteadyTime now,
                                std::optional<size_t> arriving) const {
  const RouteState& self = routes_[route];
  if (self.explicit_limit > 0) {
    return std::min(self.explicit_limit, options_.workers);
  }
  if (options_.workers <= 1) return options_.workers;
  // Alone, a route may use every worker; while another route is active
  // (requests queued or running, or seen within the last active_window), it
  // leaves one to them, so they never wait for a worker behind it.
  return AnotherActiveLocked(route, now, arriving) ? options_.workers - 1 : options_.workers;
}

bool DeadlinePolicy::AnotherActiveLocked(size_t route, SteadyTime now,
                                         std::optional<size_t> arriving) const {
  if (arriving.has_value() && *arriving != route) return true;
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (i == route) continue;
    const RouteState& r = routes_[i];
    if (Pending(r) > 0 || r.running > 0 ||
        (r.seen && now - r.last_active < options_.active_window)) {
      return true;
    }
  }
  return false;
}

SteadyTime DeadlinePolicy::GiveBackLocked(size_t route) const {
  SteadyTime back = SteadyTime::min();
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (i == route) continue;
    const RouteState& r = routes_[i];
    if (Pending(r) > 0 || r.running > 0) return SteadyTime::max();
    if (r.seen) back = std::max(back, r.last_active + options_.active_window);
  }
  return back;
}

SteadyTime DeadlinePolicy::HeldUntilLocked(size_t route, int limit, SteadyTime now) const {
  const RouteState& r = routes_[route];
  if (r.explicit_limit > 0 || limit >= options_.workers || r.running >= options_.workers) {
    return SteadyTime::max();
  }
  const SteadyTime back = GiveBackLocked(route);
  return back > now ? back : SteadyTime::max();
}

SteadyTime DeadlinePolicy::PredictLocked(size_t route, SteadyTime deadline,
                                         SteadyTime now,
                                         std::optional<nanoseconds> cost_hint,
                                         double* wait_ns_out) {
  RouteState& self = Route(route);
  const int workers = std::max(options_.workers, 1);
  // What a running request has left, by its own hint or its route's
  // estimate.
  const auto left_ns = [&](const Running& r) {
    return std::max(0.0, CostNs(routes_[r.route].estimate, r.cost_hint) -
                             Ns(now - r.start));
  };
  // Running requests hold their workers until their estimated ends: a long
  // one occupies one worker, it does not slow the others down. (Inline:
  // this runs on the reactor for every admission.)
  absl::InlinedVector<double, 16> free_at(static_cast<size_t>(workers), 0.0);
  size_t busy = 0;
  for (const Running& r : running_) {
    const double left = left_ns(r);
    if (busy < free_at.size()) free_at[busy++] = left;
  }
  std::sort(free_at.begin(), free_at.end());
  // Queued requests due no later than it (earliest deadline first), per
  // route, and the share of the workers that routes with tighter budgets
  // keep taking ahead of it while it waits.
  double tighter_share = 0;
  QueuedAhead own_queued;
  absl::InlinedVector<std::pair<size_t, double>, 8> others;  // (route, work ahead)
  size_t own_position = 0;  // batch routes: members due before it
  for (size_t i = 0; i < routes_.size(); ++i) {
    RouteState& r = routes_[i];
    const double mean = Ns(r.estimate.mean());
    double work = 0;
    if (r.batcher != nullptr) {
      // Its members due no later than this one (earliest deadline first:
      // those due later run after it).
      const size_t due = r.batcher->PendingDueBy(deadline);
      if (i == route) {
        own_position = due;
      } else if (due > 0) {
        // Another batch route: its pending members run as batches.
        work = Ns(r.batcher->PredictedService(due - 1, 1));
      }
    } else if (!r.queue.empty()) {
      const auto end = QueuedDueBy(r.queue, deadline);
      if (i == route) {
        // Its own queue: request by request (Placed), the first ones.
        auto it = r.queue.cbegin();
        for (; it != end && own_queued.first.size() < kMaxPlaced; ++it) {
          own_queued.Add(CostNs(r.estimate, it->cost_hint));
        }
        if (r.hinted_queued == 0) {
          own_queued.rest_ns += mean * static_cast<double>(end - it);
        } else {
          for (; it != end; ++it) own_queued.rest_ns += CostNs(r.estimate, it->cost_hint);
        }
      } else if (r.hinted_queued == 0) {
        work = mean * static_cast<double>(end - r.queue.cbegin());
      } else {
        for (auto it = r.queue.cbegin(); it != end; ++it) {
          work += CostNs(r.estimate, it->cost_hint);
        }
      }
    }
    if (work > 0) {
      others.emplace_back(i, work);
    }
    if (i != route && r.has_budget && self.has_budget &&
        r.budget_ns < self.budget_ns) {
      // What each admitted request holds the workers for: a batch route's
      // members share their batch's time.
      const double per_request = r.batch_members > 1 ? mean / r.batch_members : mean;
      tighter_share += r.admitted.PerSecond(now) * per_request / 1e9 / static_cast<double>(workers);
    }
  }
  const double share = 1.0 - std::min(tighter_share, kMaxTighterShare);
  // The slots route `i` may hold (its concurrency limit), as the times they
  // free up, ascending: its running requests keep theirs until their
  // estimated ends, and with more running than its limit, the limit-th
  // latest finisher frees its first slot, etc. Its limit once this request
  // waits: that makes this route active, so the bulkhead holds another one
  // to one worker fewer (taken as it was before the arrival, a flood that
  // held every worker while this route was idle seemed to keep them all,
  // and an arrival the first freed worker would serve was refused).
  using Slots = absl::InlinedVector<double, 16>;
  const auto slots_of = [&](size_t i) {
    Slots left;
    for (const Running& r : running_) {
      if (r.route == i) left.push_back(left_ns(r));
    }
    const size_t limit = static_cast<size_t>(std::max(LimitLocked(i, now, route), 1));
    if (left.size() < limit) left.resize(limit, 0.0);
    std::sort(left.begin(), left.end());
    left.erase(left.begin(), left.end() - static_cast<std::ptrdiff_t>(limit));
    return left;
  };
  double others_ns = 0;
  for (const auto& [i, work] : others) others_ns += work;
  // The workers once the route's own queued requests ahead have started.
  const absl::InlinedVector<double, 16> after_own = Placed(free_at, own_queued, share);
  double worker_free_ns =
      WaterLevelNs(after_own, (own_queued.rest_ns + others_ns) / share);
  if (!others.empty()) {
    // Another route's queued work runs only on the workers its concurrency
    // limit (the bulkhead) lets it hold: by time t it can have done at most
    // what its slots allow, a slot being free once the route's running
    // requests leave it one. So the wait is the fixed point of
    // t = level(own work + each route's work capped at what it can do by
    // t), approached from above ("all of it ahead"), which keeps every step
    // a safe (late-leaning) prediction.
    std::vector<Slots> slots;  // per entry of `others`
    for (const auto& [i, work] : others) slots.push_back(slots_of(i));
    const auto level_at = [&](double t) {
      double capped = 0;
      for (size_t k = 0; k < others.size(); ++k) {
        double can = 0;
        for (double slot : slots[k]) can += std::max(0.0, t - slot);
        capped += std::min(others[k].second, can * share);
      }
      return WaterLevelNs(after_own, (own_queued.rest_ns + capped) / share);
    };
    // Each step shrinks the last by about the share of the workers the
    // other routes' slots hold ((W-1)/W behind one flooded route): with
    // many workers that takes hundreds of steps (32 workers: a 0.8 s wait
    // was still 3.4 s after 64). Where the map is linear the steps shrink
    // geometrically, so their limit is one jump away (Aitken); the jump is
    // kept only if it still maps at or below itself, i.e. it did not pass
    // below the fixed point, which keeps the prediction late-leaning.
    double last_step = 0;
    for (int round = 0; round < 64; ++round) {
      const double next = level_at(worker_free_ns);
      const double step = worker_free_ns - next;
      if (step < 1000) {  // within 1 us
        worker_free_ns = std::min(worker_free_ns, next);
        break;
      }
      worker_free_ns = next;
      if (last_step > 0 && step < last_step) {
        const double ratio = step / last_step;
        const double jump = next - step * ratio / (1.0 - ratio);
        if (jump >= 0 && jump < next && level_at(jump) <= jump + 1000) {
          worker_free_ns = jump;
          last_step = 0;
          continue;
        }
      }
      last_step = step;
    }
  }
  const double limit = static_cast<double>(LimitLocked(route, now));
  if (self.batcher != nullptr) {
    // Its own batches (those ahead of it and its own) on the route's
    // workers, once one of its slots is free (its running batches keep
    // theirs) and a worker is, after the other work ahead. (The running
    // batches are in free_at already: adding their time again counted them
    // twice, and with one worker a 12 ms budget behind a 5 ms batch was
    // refused although it finishes in 11.)
    const double own = Ns(self.batcher->PredictedService(
        own_position, static_cast<int>(limit)));
    const double wait_ns = std::max(worker_free_ns, slots_of(route).front());
    return now + FromNs(wait_ns + own + Ns(options_.margin));
  }
  // The route's own work ahead of it (running and queued) on the slots it
  // may hold: a long request running on one of them delays nothing while
  // another is free (spread over all of them as a fluid, one 1 s request
  // on one of four workers made every arrival wait 250 ms).
  const double route_wait_ns =
      WaterLevelNs(Placed(slots_of(route), own_queued, 1.0), own_queued.rest_ns);
  const double wait_ns = std::max(worker_free_ns, route_wait_ns);
  // Its own part: until its answer is given (a streamed handler answers
  // long before it frees its worker).
  const double own_ns = OwnNs(self, cost_hint);
  // The guard asks about this route's own queue: work of other routes
  // (a slow route's request running on another worker) does not make this
  // route's queue stand.
  if (wait_ns_out != nullptr) *wait_ns_out = route_wait_ns;
  return now + FromNs(wait_ns + own_ns);
}

void DeadlinePolicy::NoteWaitLocked(RouteState& r, nanoseconds wait,
                                    SteadyTime now) {
  if (options_.standing_target_share <= 0 || !r.has_budget) return;
  const nanoseconds budget = FromNs(r.budget_ns);
  if (r.standing) {
    // The guard holds waits near the target, so waits no longer tell
    // whether the overload lasts; refusals do. A whole budget without one:
    // arrivals fit again.
    if (now - r.last_standing_refusal >= budget) {
      r.standing = false;
      r.first_above = SteadyTime{};
    }
    return;
  }
  if (Ns(wait) <= StandingTargetNs(r)) {  // a short wait: the queue drains
    r.first_above = SteadyTime{};
    return;
  }
  if (r.first_above == SteadyTime{}) {
    r.first_above = now;
  } else if (now - r.first_above >= budget) {
    r.standing = true;
    r.last_standing_refusal = now;
  }
}

SteadyTime DeadlinePolicy::PredictFinish(size_t route, SteadyTime deadline,
                                         SteadyTime now,
                                         std::optional<nanoseconds> cost_hint) {
  std::lock_guard<std::mutex> lock(mu_);
  return PredictLocked(route, deadline, now, cost_hint);
}

std::optional<ShedReason> DeadlinePolicy::Admit(Job& job, SteadyTime now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (queued_ >= options_.capacity) return ShedReason::kQueueFull;
  RouteState& r = Route(job.route);
  // The route's typical budget (for "tighter than" and the standing-queue
  // target), with this arrival's, as its prediction sees it; kept only if
  // it is admitted.
  const double kept_budget_ns = r.budget_ns;
  const bool kept_has_budget = r.has_budget;
  const auto forget_budget = [&] {
    r.budget_ns = kept_budget_ns;
    r.has_budget = kept_has_budget;
  };
  const double budget = Ns(job.deadline - job.arrival);
  if (!r.has_budget) {
    r.budget_ns = budget;
    r.has_budget = true;
  } else {
    r.budget_ns += (budget - r.budget_ns) / 8;
  }
  double wait_ns = 0;
  if (PredictLocked(job.route, job.deadline, now, job.cost_hint, &wait_ns) >
          job.deadline &&
      !ProbeLocked(r, job, now)) {
    // Refused for want of a worker, not for its own cost: the route still
    // becomes active for the bulkhead. Otherwise a route that was idle
    // while another took every worker would be refused until a worker
    // freed at a lucky moment, each one freed going straight back to the
    // other route's queue. A request that could not make its deadline
    // even alone (its budget below its route's estimate) claims nothing.
    if (Ns(job.deadline - now) >= CostNs(r.to_answer, job.cost_hint)) {
      r.seen = true;
      r.last_active = now;
    }
    forget_budget();
    return ShedReason::kPredictedLate;
  }
  if (r.standing && r.batcher == nullptr && wait_ns > StandingTargetNs(r)) {
    r.last_standing_refusal = now;
    forget_budget();
    return ShedReason::kStandingQueue;
  }
  r.admitted.Add(now);
  r.seen = true;
  r.last_active = now;
  ++queued_;
  if (r.batcher != nullptr) {
    r.batcher->Add(std::move(job), now, r.running);
    return std::nullopt;
  }
  // Deadline order; arrivals of one route are mostly in order already.
  auto pos = r.queue.end();
  while (pos != r.queue.begin() && std::prev(pos)->deadline > job.deadline) {
    --pos;
  }
  if (job.cost_hint.has_value()) ++r.hinted_queued;
  // No useless work, without waiting for a worker to look: the reactor
  // refuses it at this time if no worker has taken it by then (the check
  // Next() makes, by the estimate at admission). Not a probe: it is there
  // to question the estimate. Not for a cost nobody knows yet (a route
  // with no sample, no seed and no hint): the deadline's 503 answers it,
  // as before (it would only come the margin sooner).
  const double cost_ns = CostNs(r.to_answer, job.cost_hint);
  if (job.latest_useful_start != nullptr && !job.probe && job.deadline != SteadyTime::max() &&
      cost_ns > 0) {
    const double need_ns = cost_ns + Ns(options_.margin);
    *job.latest_useful_start = need_ns >= Ns(job.deadline - SteadyTime{})
                                   ? SteadyTime{}
                                   // (an estimate past any clock: no time is early enough)
                                   : job.deadline - nanoseconds(static_cast<int64_t>(need_ns));
  }
  job.latest_useful_start = nullptr;
  r.queue.insert(pos, std::move(job));
  return std::nullopt;
}

bool DeadlinePolicy::ProbeLocked(RouteState& r, Job& job, SteadyTime now) {
  // A hinted request is refused on its own cost, not on the estimate.
  if (options_.probe_interval.count() <= 0 || job.cost_hint.has_value()) {
    return false;
  }
  // Only a refusal the estimate alone decides (late even on an idle
  // server, for a batch route even in a batch of its own); one caused by
  // other work ahead is no sign of a stale estimate.
  const nanoseconds own = r.batcher != nullptr
                              ? r.batcher->cost().Cost(1) + options_.margin
                              : FromNs(OwnNs(r, std::nullopt));
  if (now + own <= job.deadline) return false;
  // A cost the clock cannot count to is "never in time", not an estimate
  // a run could correct.
  if (own >= kWaitForever) return false;
  // Nor a budget the margin alone uses up (the way home needs it whatever
  // the handler costs): such a request is no test of the estimate, and a
  // sparse stream of them (1 ms budgets every 50 ms) was let through one
  // by one as probes, some then answered 503 from the queue, though the
  // README says a 1 ms budget is always refused at arrival (outside review).
  if (now + options_.margin >= job.deadline) return false;
  // Not while the route's own requests wait (they measure it, or are
  // refused when their turn comes), nor without a worker free for it now:
  // a probe must not wait behind others.
  const bool nothing_queued =
      r.batcher != nullptr ? r.batcher->empty() : r.queue.empty();
  const int free_workers =
      std::max(options_.workers, 1) - static_cast<int>(running_.size());
  if (!nothing_queued || free_workers <= 0 ||
      r.running >= LimitLocked(job.route, now)) {
    return false;
  }
  // How often: a probe of a route that really is too slow for its budget
  // costs a worker up to the route's time, so at most one per ten times
  // that (and per ten budgets), and at least one per probe_interval. An
  // estimate raised by one slow run then closes a 20 ms route for ~0.2 s,
  // a 2 ms one for ~20 ms, not for a second.
  // But a probe that takes the last free worker while other routes are
  // active makes their requests wait behind it (on a 1-worker server an
  // outside review saw ~3 of them lost per probe): only once per
  // probe_interval then, as before the spacing.
  const nanoseconds budget = std::max<nanoseconds>(job.deadline - job.arrival, nanoseconds(0));
  const bool takes_the_last_worker =
      free_workers == 1 && AnotherActiveLocked(job.route, now);
  const nanoseconds interval =
      takes_the_last_worker
          ? options_.probe_interval
          : std::min(options_.probe_interval, kProbeSpacing * std::max(own, budget));
  // A route still on its seed (RouteOptions::expected_service_time or a
  // batch route's expected costs; nothing measured yet) is trusted for one
  // interval from its first such refusal, as if measured then. Before, no
  // seed was ever probed: one above every budget its clients sent refused
  // them all for good, since none ran to measure the route.
  if (r.last_sample == SteadyTime{} && r.last_probe == SteadyTime{}) {
    r.last_probe = now;
    return false;
  }
  if (now - r.last_sample < interval ||
      (r.last_probe != SteadyTime{} && now - r.last_probe < interval)) {
    return false;
  }
  r.last_probe = now;
  job.probe = true;
  return true;
}

std::optional<Job> DeadlinePolicy::Next(SteadyTime now,
                                        std::vector<Refusal>* refused) {
  std::lock_guard<std::mutex> lock(mu_);
  for (;;) {
    // The earliest deadline among the routes allowed to run one more (a
    // batch route when its batch is ready, ordered by its earliest member).
    size_t best = routes_.size();
    SteadyTime best_deadline = SteadyTime::max();
    for (size_t i = 0; i < routes_.size(); ++i) {
      RouteState& r = routes_[i];
      if (r.running >= LimitLocked(i, now)) continue;
      SteadyTime head;
      if (r.batcher != nullptr) {
        if (!BatchReadyLocked(r, now, LimitLocked(i, now))) continue;
        head = r.batcher->earliest_deadline();
      } else {
        if (r.queue.empty()) continue;
        head = r.queue.front().deadline;
      }
      if (best == routes_.size() || head < best_deadline) {
        best = i;
        best_deadline = head;
      }
    }
    if (best == routes_.size()) return std::nullopt;
    RouteState& r = routes_[best];
    if (r.batcher != nullptr) {
      const size_t before = refused->size();
      std::vector<Job> members = r.batcher->Take(now, refused);
      queued_ -= members.size() + (refused->size() - before);
      if (members.empty()) continue;
      Job job;
      job.route = best;
      job.metrics_route = members.front().metrics_route;
      job.arrival = members.front().arrival;
      job.deadline = members.front().deadline;
      job.id = members.front().id;
      // A batch carrying a probe measures the route afresh (Finished).
      job.probe = std::any_of(members.begin(), members.end(),
                              [](const Job& m) { return m.probe; });
      job.batch = std::move(members);
      ++r.running;
      running_.push_back(Running{best, now, KeyOf(job)});
      return job;
    }
    Job job = std::move(r.queue.front());
    r.queue.pop_front();
    --queued_;
    if (job.cost_hint.has_value()) --r.hinted_queued;
    NoteWaitLocked(r, now - job.arrival, now);
    // Drained: no queue stands (yet). A standing one ends only after a
    // budget without refusals: the guard keeps the queue short, so it may
    // empty between two arrivals while the overload goes on.
    if (r.queue.empty() && !r.standing) r.first_above = SteadyTime{};
    // No useless work: too little time left to run it (by the estimate a
    // probe is there to question).
    if (!job.probe &&
        Ns(job.deadline - now) <
            CostNs(r.to_answer, job.cost_hint) + Ns(options_.margin)) {
      refused->push_back(Refusal{std::move(job), ShedReason::kExpiredInQueue});
      continue;
    }
    ++r.running;
    running_.push_back(Running{best, now, KeyOf(job), job.cost_hint});
    return job;
  }
}

void DeadlinePolicy::Finished(const Job& job, nanoseconds handler_time,
                              SteadyTime now) {
  std::lock_guard<std::mutex> lock(mu_);
  RouteState& r = Route(job.route);
  // A zero time: the job did not run (its request was answered already).
  if (handler_time.count() > 0) {
    const nanoseconds to_answer = job.TimeToAnswer(handler_time);
    // An answer still to come (async) is learned when it comes.
    const bool learn_answer = !job.answer_pending;
    // A probe (a request admitted although the estimate closed the route)
    // whose handler failed with at least half its budget left: the route
    // answers well in time, if with an error (a route whose answer is an
    // error by design, a 501 or a health check's 503, stayed closed by its
    // slowest run). One that failed nearer its deadline (a backend call
    // given the time remaining, timing out) says the route is still slow.
    // Not a batch: one sample would refit the whole cost model.
    const bool probe_failed_in_time = job.failed && job.probe && !job.is_batch() &&
                                      job.deadline != SteadyTime::max() && now <= job.deadline &&
                                      (job.deadline - now) * 2 >= job.deadline - job.arrival;
    // Cut short, the work took at least this long. A failed job's time
    // (a throw, a 5xx) is no measure of the work when it is short (a
    // quick error must not make admission optimistic), but one that took
    // longer than expected (a backend hanging until its timeout) still
    // is: it may raise the estimates, never lower them.
    const bool at_least = job.cut_short || (job.failed && !probe_failed_in_time);
    if (!at_least && job.probe) {  // the old estimates were stale
      r.estimate.Restart();
      r.to_answer.Restart();
    }
    r.estimate.Observe(handler_time, at_least);
    if (learn_answer) r.to_answer.Observe(to_answer, at_least);
    r.last_sample = now;
    if (r.batcher != nullptr && job.is_batch()) {
      const size_t ran = job.batch_ran > 0 ? job.batch_ran : job.batch.size();
      r.batch_members = r.batch_members == 0
                            ? static_cast<double>(ran)
                            : r.batch_members + (static_cast<double>(ran) - r.batch_members) / 8;
      if (!job.failed || handler_time > r.batcher->cost().Cost(ran)) {
        r.batcher->Finished(ran, handler_time, /*restart=*/job.probe && !job.failed);
      }
    }
  }
  --r.running;
  if (r.batcher != nullptr && job.is_batch()) r.batcher->Ran(job.batch);
  const uintptr_t key = KeyOf(job);
  for (auto it = running_.begin(); it != running_.end(); ++it) {
    if (it->key == key) {
      running_.erase(it);
      break;
    }
  }
  r.last_active = now;
}

void DeadlinePolicy::AnswerCame(size_t route, nanoseconds to_answer,
                                bool cut_short, SteadyTime now) {
  std::lock_guard<std::mutex> lock(mu_);
  RouteState& r = Route(route);
  r.to_answer.Observe(to_answer, /*at_least=*/cut_short);
  r.last_sample = std::max(r.last_sample, now);
}

bool DeadlinePolicy::Withdraw(size_t route, SteadyTime deadline, uintptr_t key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (route >= routes_.size()) return false;
  RouteState& r = routes_[route];
  if (r.batcher != nullptr) {
    if (!r.batcher->Remove(deadline, key)) return false;
  } else {
    const std::optional<Job> taken = TakeQueuedJob(r.queue, deadline, key);
    if (!taken.has_value()) return false;
    if (taken->cost_hint.has_value()) --r.hinted_queued;
  }
  --queued_;
  return true;
}

size_t DeadlinePolicy::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_;
}

std::optional<AdmissionPolicy::Estimate> DeadlinePolicy::BatchCostFor(
    size_t route) {
  std::lock_guard<std::mutex> lock(mu_);
  const RouteState& r = Route(route);
  if (r.batcher == nullptr) return std::nullopt;
  return Estimate{r.batcher->cost().fixed(), r.batcher->cost().per_item()};
}

AdmissionPolicy::WakePlan DeadlinePolicy::NextWake(SteadyTime now) {
  std::lock_guard<std::mutex> lock(mu_);
  WakePlan plan;
  // A worker finishing a job looks for the next one itself: only a free
  // worker needs sending.
  const bool worker_free = running_.size() < static_cast<size_t>(std::max(options_.workers, 1));
  for (size_t i = 0; i < routes_.size(); ++i) {
    RouteState& r = routes_[i];
    if (Pending(r) == 0) continue;
    const int limit = LimitLocked(i, now);
    // The bulkhead gives a held route its last worker back by time alone,
    // with no arrival or completion to mark it: a wake-up then.
    const SteadyTime back = HeldUntilLocked(i, limit, now);
    if (r.running >= limit) {
      // Runnable once one of its own jobs ends (that worker takes it), or
      // at the give-back.
      plan.next = std::min(plan.next, back);
      continue;
    }
    if (r.batcher == nullptr) {
      // Runnable, as Next() finds it: a worker is usually on its way (sent
      // at its arrival); after a give-back none is.
      if (worker_free) plan.now = true;
      continue;
    }
    if (BatchReadyLocked(r, now, limit)) {
      // Usually a worker is on its way (woken by the arrival that made it
      // ready) or one of the route's running jobs takes it when it ends.
      // But a batch may close between its last arrival's check and this
      // one, with nobody sent: then the waker must send a worker.
      if (worker_free) plan.now = true;
      continue;
    }
    // Not ready with the workers it may use now; with all of them (after
    // the give-back) it may be ready sooner (a batch's size follows the
    // arrival rate per worker).
    const SteadyTime at = std::min(r.batcher->ReadyAt(now, limit), back);
    if (at > now) plan.next = std::min(plan.next, at);
  }
  return plan;
}

AdmissionPolicy::WakeAfterAdmit DeadlinePolicy::AfterAdmit(size_t route,
                                                           SteadyTime now) {
  std::lock_guard<std::mutex> lock(mu_);
  RouteState& r = Route(route);
  if (r.batcher == nullptr) return {};
  const int limit = LimitLocked(route, now);
  const SteadyTime back = HeldUntilLocked(route, limit, now);
  if (BatchReadyLocked(r, now, limit)) {
    // Runnable now, or taken by the next of its running jobs to finish, or
    // at the bulkhead's give-back (the waker's), whichever comes first.
    if (r.running < limit) return {.worker = true};
    return {.worker = false, .closes = back};
  }
  return {.worker = false, .closes = std::min(r.batcher->ReadyAt(now, limit), back)};
}

std::optional<AdmissionPolicy::Estimates> DeadlinePolicy::EstimatesFor(
    size_t route) {
  std::lock_guard<std::mutex> lock(mu_);
  const RouteState& r = Route(route);
  return Estimates{.handler = {r.estimate.mean(), r.estimate.deviation()},
                   .to_answer = {r.to_answer.mean(), r.to_answer.deviation()}};
}

RouteEstimateSnapshot DeadlinePolicy::Snapshot(size_t route, SteadyTime now) {
  std::lock_guard<std::mutex> lock(mu_);
  RouteState& r = Route(route);
  return RouteEstimateSnapshot{
      .mean = r.estimate.mean(),
      .deviation = r.estimate.deviation(),
      .samples = r.estimate.samples(),
      .arrivals_per_second = r.admitted.PerSecond(now),
      .queued = Pending(r),
      .running = r.running};
}

}  // namespace brisk::internal
