// Internal: the seam between the reactors, which admit offloaded requests,
// and the workers, which run them. An AdmissionPolicy decides which requests
// are queued or refused at arrival, which queued request runs next, and
// which queued requests are refused instead of run. The server only wires a
// policy in; each policy is unit-tested on its own with injected times.
//
//   std::unique_ptr<AdmissionPolicy> p = MakeCodelPolicy({...});
//   if (auto refused = p->Admit(job, now)) Refuse(job, *refused);  // reactor
//   ...
//   std::vector<Refusal> refused;                                  // worker
//   std::optional<Job> next = p->Next(now, &refused);
//   for (Refusal& r : refused) Refuse(r.job, r.reason);
//   if (next) { Run(*next); p->Finished(*next, handler_time, now); }
//
// Thread-safety: every method may be called from any thread.
#ifndef BRISK_SERVER_ADMISSION_H_
#define BRISK_SERVER_ADMISSION_H_

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "server/handler.h"

namespace brisk::internal {

class Exchange;

// Why a request was refused without running (the `reason` label of
// brisk_shed_total). Its label values are kShedReasonNames (metrics.h), in
// this order: add a reason to both.
enum class ShedReason : uint8_t {
  kQueueFull,       // the queue held queue_capacity requests
  kPredictedLate,   // at arrival: it could not finish before its deadline
  kExpiredInQueue,  // while queued: too little time left to run it
  kCodel,           // CoDel queue timeout while a standing queue existed
  kStandingQueue,   // at arrival: the route's queue has not drained for a
                    // whole budget, and it would wait past its target
                    // (deadline_policy.h)
  kBodyMemory,      // while its body arrived: the bodies being received,
                    // server-wide, reached ServerOptions::max_body_memory
};

// One offloaded request, as a policy sees it.
struct Job {
  size_t route = 0;          // route id (for per-route estimates and limits)
  size_t metrics_route = 0;  // its index in ServerMetrics
  SteadyTime arrival{};
  SteadyTime deadline = SteadyTime::max();
  std::shared_ptr<Exchange> exchange;  // opaque to the policy
  uint64_t id = 0;                     // free for the caller (tests)
  // The connection it came on (0: unknown): a batch route tells from it
  // whether any client can still send (BatchFormer).
  uintptr_t client = 0;
  // The request's own expected handler time (RouteOptions::
  // service_time_hint), never negative; none: its route's learned estimate
  // stands in.
  std::optional<std::chrono::nanoseconds> cost_hint;
  // A batch (batch routes): the members, `exchange` being null; `deadline`
  // is the earliest of theirs.
  std::vector<Job> batch;
  bool is_batch() const { return !batch.empty(); }
  // Set by the policy: admitted although its route's estimate said it would
  // be late, to measure the route again (see DeadlinePolicyOptions::
  // probe_interval); a batch, when one of its members was.
  bool probe = false;
  // Given by the caller of Admit(), written by a policy that queues the
  // job during that call only (then cleared): the latest time it can start
  // and still answer by its deadline, by its route's estimate (not written:
  // no such time; a probe, a batch member, a cost not known yet). The
  // caller refuses it then if no worker has taken it (deadline_policy.h,
  // "No useless work").
  SteadyTime* latest_useful_start = nullptr;
  // Set by the runner before Finished(): the deadline or a disconnect
  // answered the request before its handler returned, so the handler time
  // is only a lower bound of what the work takes.
  bool cut_short = false;
  // Set by the runner before Finished(): how long after its start the
  // handler gave its answer (or its stream's head), if it did before it
  // returned. A streamed handler answers at once and holds its worker for
  // the whole stream: its deadline covers the answer, the worker time
  // delays the requests behind it.
  std::optional<std::chrono::nanoseconds> answer_time;
  // From its handler's start to its answer, for a handler that ran
  // `handler_time`: answer_time if it answered before returning (a stream
  // was in time once its answer was given; its worker was held to the end).
  std::chrono::nanoseconds TimeToAnswer(std::chrono::nanoseconds handler_time) const {
    return answer_time.has_value() ? std::min(*answer_time, handler_time) : handler_time;
  }
  // Set by the runner before Finished(): the handler returned without
  // answering and without being cut short (an async handler that answers
  // later, from elsewhere): its time to answer is not known yet and comes
  // through AnswerCame() when the answer does.
  bool answer_pending = false;
  // Set by the runner before Finished(), for a batch: how many of its
  // members ran (a member answered while it was queued is left out), and
  // whether the handler failed (threw, or did not give one answer per
  // member, or answered every member that ran with a 5xx; a single
  // request's handler, when it threw or answered 5xx). A failed job's time
  // is learned only when it is longer than the cost expected (it may raise
  // the estimates, never lower them): a quick error is no measure of the
  // work.
  size_t batch_ran = 0;
  bool failed = false;
};

struct Refusal {
  Job job;
  ShedReason reason;
};

// What tells a queued job apart (AdmissionPolicy::Withdraw): its exchange,
// or its id when it has none (tests).
inline uintptr_t JobKey(const Job& job) {
  return job.exchange != nullptr ? reinterpret_cast<uintptr_t>(job.exchange.get())
                                 : static_cast<uintptr_t>(job.id);
}

// The end of the jobs of `queue` (in deadline order) due no later than
// `deadline`: those a job due then has ahead of it (earliest deadline
// first, it is placed after them).
inline std::deque<Job>::const_iterator QueuedDueBy(const std::deque<Job>& queue,
                                                   SteadyTime deadline) {
  return std::upper_bound(queue.begin(), queue.end(), deadline,
                          [](SteadyTime d, const Job& j) { return d < j.deadline; });
}

// Takes the job due at `deadline` whose JobKey is `key` out of `queue` (in
// deadline order), if it is there: AdmissionPolicy::Withdraw on a queue.
inline std::optional<Job> TakeQueuedJob(std::deque<Job>& queue, SteadyTime deadline,
                                        uintptr_t key) {
  auto it = std::lower_bound(queue.begin(), queue.end(), deadline,
                             [](const Job& j, SteadyTime d) { return j.deadline < d; });
  for (; it != queue.end() && it->deadline == deadline; ++it) {
    if (JobKey(*it) == key) {
      Job job = std::move(*it);
      queue.erase(it);
      return job;
    }
  }
  return std::nullopt;
}

class AdmissionPolicy {
 public:
  virtual ~AdmissionPolicy() = default;
  // Queues `job` (nullopt) or refuses it now (the reason; `job` is left
  // untouched so the caller can answer it).
  virtual std::optional<ShedReason> Admit(Job& job, SteadyTime now) = 0;
  // The next job to run, or nullopt. Queued jobs refused instead of run are
  // appended to `refused`.
  virtual std::optional<Job> Next(SteadyTime now,
                                  std::vector<Refusal>* refused) = 0;
  // A job returned by Next() finished; its handler ran for `handler_time`.
  virtual void Finished(const Job& job, std::chrono::nanoseconds handler_time,
                        SteadyTime now) = 0;
  // A queued job (of `route`, due at `deadline`, JobKey `key`) whose request
  // was answered or let go meanwhile (its deadline passed, its client
  // reset) leaves the queue: it holds no place (queue capacity) and delays
  // no prediction. True if it was queued; false if Next() took it already
  // (or it never was).
  virtual bool Withdraw(size_t route, SteadyTime deadline, uintptr_t key) = 0;
  // Jobs waiting.
  virtual size_t queued() const = 0;
  // The answer of a job Finished() with answer_pending came `to_answer`
  // after its handler started; `cut_short`: the deadline answered first,
  // so the answer would have taken longer, or the answer was a 5xx, whose
  // time is no measure of the work: learned as a lower bound. Any thread.
  virtual void AnswerCame(size_t route, std::chrono::nanoseconds to_answer,
                          bool cut_short, SteadyTime now) {}

  // The policy's learned times for `route`, if it keeps them: how long its
  // handler holds a worker, and from the handler's start to its answer.
  struct Estimate {
    std::chrono::nanoseconds mean{0};
    std::chrono::nanoseconds deviation{0};
  };
  struct Estimates {
    Estimate handler;
    Estimate to_answer;
  };
  virtual std::optional<Estimates> EstimatesFor(size_t route) { return std::nullopt; }
  // The batch cost model a + b*n of a batch route, if it has one.
  virtual std::optional<Estimate> BatchCostFor(size_t route) { return std::nullopt; }
  // What the workers must be woken for without a new arrival. `now`: a
  // queued job is runnable already (a batch's close time came, or a worker
  // held back for other routes was given back, and a worker is free for
  // it); one may be on its way, but none is certain to be. `next`: the
  // earliest time a job that is not runnable yet becomes runnable with no
  // arrival or completion (a batch closes, a held-back worker is given
  // back), or SteadyTime::max().
  struct WakePlan {
    bool now = false;
    SteadyTime next = SteadyTime::max();
  };
  virtual WakePlan NextWake(SteadyTime now) { return {}; }
  // Whether NextWake() may name times for routes that are not batch routes
  // (then the pool keeps a thread to wake a worker at them).
  virtual bool WakesByTime() const { return false; }

  // Right after a job of `route` was admitted: whether a worker should look
  // for work now, and when the route's batch closes by itself if it cannot
  // run yet (SteadyTime::max() if it can, or has no such time). A batch
  // member that cannot run yet needs no worker: the arrival that completes
  // its batch, a worker finishing a job (it keeps taking jobs) or the
  // batch's close time (NextWake) starts it.
  struct WakeAfterAdmit {
    bool worker = true;
    SteadyTime closes = SteadyTime::max();
  };
  virtual WakeAfterAdmit AfterAdmit(size_t route, SteadyTime now) { return {}; }
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_ADMISSION_H_
