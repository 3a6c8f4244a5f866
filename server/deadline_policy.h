// Internal: brisk's default admission policy, driven by each request's own
// deadline and the measured cost of its route.
//
//  - Per-route service-time estimate, learned online from handler times: an
//    exponentially weighted mean and mean deviation (Jacobson/Karels, as
//    TCP estimates round-trip times: mean += (x - mean)/8,
//    dev += (|x - mean| - dev)/4; the first sample sets the mean, and half
//    of it the deviation; a later one above mean + 4 spreads is clipped
//    there unless the one before was too — Huber's rule for a lone
//    outlier), see ServiceEstimate. A request whose route gives it a
//    cost of its own (RouteOptions::service_time_hint, Job::cost_hint)
//    counts that cost instead, wherever it appears in a prediction.
//  - Earliest deadline first: queued requests run in deadline order (one
//    queue per route, each kept in deadline order; a worker takes the head
//    with the earliest deadline among the routes allowed to run more).
//  - Early rejection at arrival (Bouncer, SIGMOD 2024; Breakwater, OSDI
//    2020): the request's completion time is predicted from the work queued
//    ahead of it in deadline order, the work still running, the workers
//    available to it, and the load that routes with tighter deadlines keep
//    adding ahead of it; a request that cannot finish before its deadline is
//    refused at once (predicted_late) instead of queueing to fail later.
//  - No useless work: a queued request whose remaining budget is below its
//    route's estimate is refused (expired_in_queue) when a worker would
//    take it, and the worker moves on; and before that, at once: Admit()
//    tells its caller the latest time the job can start and still make
//    its deadline (Job::latest_useful_start), where the reactor refuses
//    it if no worker has taken it (not for a probe, nor while the cost is
//    unknown).
//  - Standing queue (CoDel's signal, scaled to the deadline): when every
//    request of a route dequeued over a whole budget (its typical
//    deadline - arrival) waited longer than a target (5% of that budget,
//    at least two service times), the queue is not draining: arrivals
//    come as fast as they are served and the excess is queueing somewhere,
//    on the clients' busy connections if not here. Until a whole budget
//    passes without such a refusal, an arrival predicted to wait longer
//    than the target behind its own route's work is refused at once
//    (standing_queue), so the server sheds the excess with fast refusals
//    and keeps serving at capacity with short waits, instead of admitting
//    everything that could still make its deadline while the clients' own
//    queues grow without bound. A burst that drains within a budget is
//    never refused by it.
//  - Bulkhead: a route may hold at most `max_concurrency` workers (a route
//    option; by default every worker but one while another route is active
//    — requests queued or running, or arriving within the last 10 s,
//    refused or not, unless refused as unable to finish even alone — so a
//    flooded slow route always leaves a worker to the others, yet a route
//    alone may use them all; a route that was idle gets its worker back
//    from the first one freed after its arrival).
//
// The prediction (EDF on W workers):
//   wait   = max(F, S_route)
//   finish = now + wait + answer_route + safety * answer_dev_route + margin
// F is when a worker is free for it: each running request holds its worker
// for what its estimate says it has left; the route's own requests queued
// ahead of it in deadline order then take a worker each, the one free
// first (list scheduling, for the first 64 of them: a queued request holds
// one worker for its whole run, so a burst that fits the workers waits for
// nothing), and the rest of the work queued ahead fills the workers as
// they free up (water-filling; at a rate 1 - U, U being the share of the
// workers that routes with tighter typical budgets keep busy: arrival rate
// x mean / W, measured; another route's queued work counts for at most
// what its own concurrency limit lets it run meanwhile). S_route is when
// one of the route's own C_route slots (its concurrency) is free for it:
// its running requests keep theirs until their estimated ends, its queued
// requests ahead take them one by one (then water-filling again). So one
// long request running delays nothing while
// other workers are free, whatever its route, and a flooded route held to
// W - 1 workers by the bulkhead never delays another's prediction past the
// worker it leaves. Two estimates per route: the handler time (how long a
// request holds its worker: F, S) and the time from its start to its
// answer (what its deadline must cover: a streamed handler gives its
// answer, the stream's head, at once and may hold its worker far longer;
// an async handler returns at once and answers later, from elsewhere: its
// answer's time comes through AnswerCame(), from the thread that answers,
// a deadline that answered first only raising the estimate).
//
// Every time is passed in by the caller, so the policy is unit-tested with
// no clock and no threads. Thread-safety: all methods take one mutex.
#ifndef BRISK_SERVER_DEADLINE_POLICY_H_
#define BRISK_SERVER_DEADLINE_POLICY_H_

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "server/admission.h"
#include "server/batch_former.h"
#include "server/estimators.h"

namespace brisk::internal {

struct DeadlinePolicyOptions {
  // Requests queued (all routes) beyond which arrivals are refused.
  size_t capacity = 1024;
  int workers = 4;
  // Per route id: the most workers it may hold; 0 = the default rule above.
  std::vector<int> max_concurrency;
  // Per route id: a mean assumed before the first measurement (0: none, so
  // the first requests of a route are admitted on the queue's work alone).
  std::vector<std::chrono::nanoseconds> initial_estimate;
  // Per route id: batch routes' options (nullopt: not a batch route).
  std::vector<std::optional<BatchFormerOptions>> batch;
  // finish = ... + mean + safety * deviation + margin: the margin covers
  // the answer's way back to the client (posting to the reactor, writing).
  double safety = 1.0;
  std::chrono::nanoseconds margin = std::chrono::milliseconds(1);
  // Standing-queue guard: the share of a route's budget a dequeued request
  // may have waited without counting towards a standing queue, and the
  // most an arrival may be predicted to wait while one stands (at least two
  // service times of the route). 0 = off. CoDel's 5 ms in 100 ms.
  double standing_target_share = 0.05;
  // A route counts as active (for the default concurrency limit) for this
  // long after its last admission or completion. Ten seconds, not one: a
  // route called every few seconds (a rare urgent call, a probe) beside a
  // flooded one found every worker taken at each arrival, and was refused
  // (outside review: 17 of 18 calls, one per 2 s, refused).
  std::chrono::nanoseconds active_window = std::chrono::seconds(10);
  // A route whose requests are all refused because its estimate says they
  // would be late gets no new measurement, so an estimate that is too high
  // (one slow run: a cold cache, a stalled dependency) would close it to
  // tight budgets for good. When such a route has nothing queued, a worker
  // is free for it, and no measurement came for ten times its own time (or
  // the request's budget, if longer), at most this long, one request
  // refused on its estimate alone is admitted instead (a probe; at most
  // one per that interval: a route that really is too slow loses at most a
  // tenth of a worker to probes; one that would take the last free worker
  // while another route is active waits this whole interval), and its
  // time, unless the deadline cut it short, restarts the estimate. The same
  // holds for a batch route's cost model (a first batch slowed by a cold
  // start must not close the route): the probe runs in a batch of its own
  // and restarts the model. 0 = off.
  std::chrono::nanoseconds probe_interval = std::chrono::seconds(1);
};

struct RouteEstimateSnapshot {
  std::chrono::nanoseconds mean{0};
  std::chrono::nanoseconds deviation{0};
  uint64_t samples = 0;
  double arrivals_per_second = 0;
  size_t queued = 0;
  int running = 0;
};

class DeadlinePolicy final : public AdmissionPolicy {
 public:
  explicit DeadlinePolicy(DeadlinePolicyOptions options);

  std::optional<ShedReason> Admit(Job& job, SteadyTime now) override;
  std::optional<Job> Next(SteadyTime now,
                          std::vector<Refusal>* refused) override;
  void Finished(const Job& job, std::chrono::nanoseconds handler_time,
                SteadyTime now) override;
  void AnswerCame(size_t route, std::chrono::nanoseconds to_answer,
                  bool cut_short, SteadyTime now) override;
  bool Withdraw(size_t route, SteadyTime deadline, uintptr_t key) override;
  size_t queued() const override;
  std::optional<Estimates> EstimatesFor(size_t route) override;
  std::optional<Estimate> BatchCostFor(size_t route) override;
  WakePlan NextWake(SteadyTime now) override;
  WakeAfterAdmit AfterAdmit(size_t route, SteadyTime now) override;
  // With two workers or more the bulkhead holds a route's queued work back
  // until the other routes' active window ends.
  bool WakesByTime() const override { return options_.workers > 1; }

  // The completion time Admit() would predict for a request to `route`
  // with `deadline` (and `cost_hint`, see Job) arriving at `now` (for
  // tests and logs).
  SteadyTime PredictFinish(size_t route, SteadyTime deadline, SteadyTime now,
                           std::optional<std::chrono::nanoseconds> cost_hint =
                               std::nullopt);
  RouteEstimateSnapshot Snapshot(size_t route, SteadyTime now);
  size_t num_routes() const { return routes_.size(); }

 private:
  struct Running {
    size_t route;
    SteadyTime start;
    uintptr_t key;  // which job: its exchange, or its id
    std::optional<std::chrono::nanoseconds> cost_hint;  // Job::cost_hint
  };
  static uintptr_t KeyOf(const Job& job) {
    return JobKey(job.is_batch() ? job.batch.front() : job);
  }
  struct RouteState {
    std::deque<Job> queue;  // in deadline order (batch routes: unused)
    size_t hinted_queued = 0;  // jobs in `queue` with a cost_hint
    std::unique_ptr<BatchFormer> batcher;  // batch routes only
    ServiceEstimate estimate;   // handler time: how long it holds a worker
    ServiceEstimate to_answer;  // from its start to its answer (or stream
                                // head; an async handler's answer after it
                                // returned): what its deadline must cover
    RateMeter admitted;  // admissions per second
    // Batch routes: members per batch run, smoothed (`estimate` is a whole
    // batch's time: a member holds the workers 1/batch_members of it).
    double batch_members = 0;
    // Smoothed relative deadline (deadline - arrival) of the requests
    // admitted, for "tighter" and the standing-queue target. (Refused ones
    // do not count: a flood of tiny budgets, each refused in microseconds,
    // would otherwise set the target the route's other clients are judged
    // by.)
    double budget_ns = 0;
    bool has_budget = false;
    int running = 0;
    int explicit_limit = 0;
    bool seen = false;
    SteadyTime last_active{};  // last admission, arrival refused only
                                // for want of a worker, or completion
    // Standing-queue guard: when the waits of dequeued requests started
    // exceeding the target without a shorter one since (or {}), and
    // whether that has lasted a whole budget.
    SteadyTime first_above{};
    bool standing = false;
    SteadyTime last_standing_refusal{};  // or when it began to stand
    SteadyTime last_sample{};  // the last measurement (Finished with a time)
    SteadyTime last_probe{};
  };

  RouteState& Route(size_t route) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether a route other than `route` has requests queued or running, or
  // was seen within the active window; or is `arriving` (a route whose
  // request is being admitted, so active once it waits).
  bool AnotherActiveLocked(size_t route, SteadyTime now,
                           std::optional<size_t> arriving = std::nullopt) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The workers `route` may hold: its max_concurrency, or the bulkhead's
  // (all of them alone, one fewer while another route, `arriving`
  // included, is active).
  int LimitLocked(size_t route, SteadyTime now, std::optional<size_t> arriving = std::nullopt) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // When the worker the bulkhead keeps from `route` (limited to workers - 1
  // now) comes back with no event: the end of the other routes' active
  // window, or SteadyTime::max() while one of them has work queued or
  // running (its completion comes first, and a worker looks again then).
  SteadyTime GiveBackLocked(size_t route) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // GiveBackLocked(route) if the bulkhead holds `route` (its limit now,
  // `limit`, is below the pool's workers, and not by its own
  // max_concurrency), it runs fewer jobs than the pool has workers (so it
  // has a worker to gain) and that time is after `now`; else
  // SteadyTime::max().
  SteadyTime HeldUntilLocked(size_t route, int limit, SteadyTime now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A job's own cost if it has one (its hint), else the mean of the
  // route's `estimate` of it: `estimate` (how long it holds its worker) or
  // `to_answer` (how long until its answer).
  static double CostNs(const ServiceEstimate& estimate,
                       std::optional<std::chrono::nanoseconds> hint) {
    return hint.has_value() ? Ns(*hint) : Ns(estimate.mean());
  }
  // The request's own part of a prediction, from its start: until its
  // answer, with the route's spread unless it has a cost of its own (the
  // deviation measures the estimate a hint replaces), and the margin.
  double OwnNs(const RouteState& r,
               std::optional<std::chrono::nanoseconds> hint) const {
    return (hint.has_value() ? Ns(*hint)
                             : Ns(r.to_answer.mean()) +
                                   options_.safety * Ns(r.to_answer.deviation())) +
           Ns(options_.margin);
  }
  // The predicted finish of a request with `cost_hint` (if any); `wait_ns`,
  // if given, receives the predicted wait behind the route's own work
  // (running and queued ahead of it, over the workers it may hold;
  // non-batch routes).
  SteadyTime PredictLocked(size_t route, SteadyTime deadline, SteadyTime now,
                           std::optional<std::chrono::nanoseconds> cost_hint,
                           double* wait_ns = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The wait beyond which a route's queue counts as standing: its share of
  // the route's budget, and at least two of its service times (a shorter
  // queue would leave workers idle between requests).
  double StandingTargetNs(const RouteState& r) const {
    return std::max(r.budget_ns * options_.standing_target_share,
                    2 * Ns(r.estimate.mean()));
  }
  // Standing-queue bookkeeping for a request of `r` dequeued at `now`
  // after waiting `wait`.
  void NoteWaitLocked(RouteState& r, std::chrono::nanoseconds wait,
                      SteadyTime now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether `job`, predicted late, is admitted as a probe of a stale
  // estimate (probe_interval); marks it and the route if so.
  bool ProbeLocked(RouteState& r, Job& job, SteadyTime now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether the batch of batch route `r` may run now: its batcher says so,
  // or it cannot grow (the queue is full, so every arrival is refused
  // meanwhile: waiting would only leave the worker idle).
  bool BatchReadyLocked(RouteState& r, SteadyTime now, int workers)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return r.batcher->Ready(now, workers) ||
           (queued_ >= options_.capacity && !r.batcher->empty());
  }
  // Requests of the route queued (or pending in its batcher).
  static size_t Pending(const RouteState& r) {
    return r.batcher != nullptr ? r.batcher->pending() : r.queue.size();
  }


  const DeadlinePolicyOptions options_;
  mutable std::mutex mu_;
  std::vector<RouteState> routes_ ABSL_GUARDED_BY(mu_);
  std::vector<Running> running_ ABSL_GUARDED_BY(mu_);
  size_t queued_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_DEADLINE_POLICY_H_
