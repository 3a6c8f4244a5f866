// Internal: forms the batches of one batch route (AddBatchRoute): when the
// requests waiting for it should go to a worker, and which of them.
//
// Two policies:
//
//  kDeadline (the default). The pending requests become a batch, taken by
//  the next free worker, as soon as any of these holds:
//    - it is full (max_batch);
//    - it is as large as the load needs: with arrivals at rate L per worker
//      and a batch costing a + b*n, batches of n >= L*a / (u - L*b) keep a
//      worker at utilisation u (0.8); a lone request under light load
//      therefore goes at once, and batches grow only as the rate requires.
//      The rate (a 50 ms windowed, smoothed count) falls while nobody
//      comes, so a member waiting for company goes once the rate no longer
//      calls for it (ReadyAt tells when), not at its deadline. Only while
//      arrivals find company: if most arrivals find the route idle (none of
//      its requests pending or running), they come one at a time, each
//      after the last one's answer (a closed loop), and company will not
//      come however high the rate, so a member goes at once. Nor while
//      every client (connection) that sent to the route in the last second
//      has a request pending or running here: several clients in such a
//      loop arrive together after their answers and find company, but no
//      one is left to send more;
//    - waiting any longer would make the member with the earliest deadline
//      miss it: now + a + b*n + margin >= earliest deadline;
//    - the optional max_delay since the oldest member has passed.
//  While the workers are busy, requests simply accumulate and the next free
//  worker takes up to max_batch of them, earliest deadline first.
//
//  kFixed (Triton's dynamic batcher): wait up to max_delay after the first
//  member for max_batch members, whatever the deadlines.
//
// Under both, members whose client went away are dropped, and members that
// can no longer finish in time (remaining budget below the batch's cost)
// are refused before the batch runs.
//
// The cost model a + b*n is fitted online by exponentially weighted least
// squares over the batches' measured times (BatchCostModel), so it follows
// the handler as it is, not as configured.
//
// Every time is passed in by the caller (unit tests need no clock or
// thread). Thread-safety: none; the admission policy holds it under its
// mutex.
#ifndef BRISK_SERVER_BATCH_FORMER_H_
#define BRISK_SERVER_BATCH_FORMER_H_

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "server/admission.h"
#include "server/estimators.h"

namespace brisk::internal {

struct BatchFormerOptions {
  enum class Policy { kDeadline, kFixed };
  Policy policy = Policy::kDeadline;
  size_t max_batch = 32;
  // kDeadline: an optional cap on the oldest member's wait (0 = none).
  // kFixed: how long to wait for a full batch (required).
  std::chrono::nanoseconds max_delay{0};
  // The cost model before the first measurement.
  std::chrono::nanoseconds expected_fixed_cost{0};
  std::chrono::nanoseconds expected_per_item_cost{0};
  // Utilisation a worker should stay below (kDeadline's batch-size rule).
  double target_utilization = 0.8;
  // Kept for the answer's way home (as DeadlinePolicyOptions::margin).
  std::chrono::nanoseconds margin = std::chrono::milliseconds(1);
};

class BatchFormer {
 public:
  explicit BatchFormer(BatchFormerOptions options);

  // A new member (its deadline orders it). `running`: the route's batches
  // running now (with the pending members, whether it found company).
  void Add(Job job, SteadyTime now, int running = 0);
  // A taken batch's members have run (or were answered without running):
  // their clients may send again.
  void Ran(const std::vector<Job>& members);
  // Removes the pending member due at `deadline` whose JobKey is `key`;
  // false if there is none.
  bool Remove(SteadyTime deadline, uintptr_t key);
  size_t pending() const { return pending_.size(); }
  // Pending members due no later than `deadline`: those a member due then
  // would have ahead of it (Add() places it after them).
  size_t PendingDueBy(SteadyTime deadline) const;
  bool empty() const { return pending_.empty(); }
  SteadyTime earliest_deadline() const {
    return pending_.empty() ? SteadyTime::max() : pending_.front().deadline;
  }

  // Whether the pending members should go to the next free worker, given
  // `workers` workers this route may use.
  bool Ready(SteadyTime now, int workers);
  // When Ready() will become true without a new arrival (kDeadline: the
  // earliest deadline forcing it, the cap, or the arrival rate falling to
  // what the pending members suffice for; kFixed: the delay), or
  // SteadyTime::max().
  SteadyTime ReadyAt(SteadyTime now, int workers) const;
  // Takes the batch: up to max_batch members, earliest deadline first.
  // Members that can no longer finish in time are appended to `refused`
  // (kExpiredInQueue), cancelled ones are dropped.
  std::vector<Job> Take(SteadyTime now, std::vector<Refusal>* refused);

  // A batch of `n` ran for `time` (handler time). `restart`: the batch
  // carried a probe (DeadlinePolicyOptions::probe_interval): the cost model
  // forgets its past first.
  void Finished(size_t n, std::chrono::nanoseconds time, bool restart = false);

  // The completion time of a request arriving now with `position` members
  // queued before it (in deadline order), on `workers` workers, once it
  // gets one: the full batches ahead of its own, then its own (position %
  // max_batch members before it). Used for early rejection.
  std::chrono::nanoseconds PredictedService(size_t position, int workers) const;

  const BatchCostModel& cost() const { return cost_; }
  const BatchFormerOptions& options() const { return options_; }
  // The batch size the current arrival rate needs (kDeadline's rule).
  double NeededBatch(SteadyTime now, int workers);
  // Whether arrivals find company often enough for the rate rule to wait
  // for more, and some client could still send it (see the file comment).
  bool CompanyComes() const;

 private:
  // NeededBatch at an arrival rate of `per_second`.
  double NeededFor(double per_second, int workers) const;
  // The earliest arrival among the pending members (not empty); they are
  // kept in deadline order.
  SteadyTime OldestArrival() const;

  const BatchFormerOptions options_;
  std::deque<Job> pending_;  // deadline order
  BatchCostModel cost_;
  RateMeter arrivals_;
  // How often arrivals find the route busy (pending or running members):
  // moved 1/8 of the way to 1 or 0 by each arrival. It starts at 0: a
  // member waits for company once arrivals have shown that some comes
  // (under a burst, the fourth in a row that finds it), not before.
  double found_company_ = 0.0;
  // The route's clients (Job::client): requests each has pending or
  // running here, and when it last sent one. Those idle for a second are
  // forgotten (at most every 250 ms).
  struct Client {
    int outstanding = 0;
    SteadyTime last_sent{};
  };
  void Release(uintptr_t client);
  absl::flat_hash_map<uintptr_t, Client> clients_;
  size_t clients_waiting_ = 0;  // with outstanding > 0
  SteadyTime clients_pruned_{};
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_BATCH_FORMER_H_
