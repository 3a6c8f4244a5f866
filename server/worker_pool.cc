#include "server/worker_pool.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "concurrency/start_thread.h"
#include "server/server_thread.h"
#include "server/stderr_writer.h"

namespace brisk::internal {
namespace {

// A job of metrics route `metrics_route` joins (+1) or leaves (-1) the
// queue: brisk_queue_depth and the route's share of it.
void CountQueued(ServerMetrics& metrics, size_t metrics_route, int delta) {
  metrics.queue_depth.fetch_add(delta, std::memory_order_relaxed);
  metrics.route(metrics_route).queue_depth.fetch_add(delta, std::memory_order_relaxed);
}

// Publishes the policy's learned times for `route` in `rm` (/metrics).
void PublishEstimates(AdmissionPolicy& policy, size_t route, RouteMetrics& rm) {
  if (std::optional<AdmissionPolicy::Estimates> e = policy.EstimatesFor(route)) {
    rm.service_estimate.Set(e->handler.mean, e->handler.deviation);
    rm.answer_estimate.Set(e->to_answer.mean, e->to_answer.deviation);
  }
}

// Adds `by` to the calling thread's nice value (up to 19); says once on
// stderr when the kernel refuses.
void LowerThisThreadsPriority(int by, const char* thread_name) {
  const id_t tid = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  const int base = getpriority(PRIO_PROCESS, tid);  // -1 is a valid value
  if (base == -1 && errno != 0) return;
  const int target = std::min(base + by, 19);
  if (target <= base) return;  // already at the lowest priority
  if (setpriority(PRIO_PROCESS, tid, target) != 0) {
    const int error = errno;
    static std::atomic<bool> said{false};
    if (!said.exchange(true)) {
      SayOnStderr("%s: cannot lower its CPU priority to nice %d: %s", thread_name, target,
                  std::strerror(error));
    }
  }
}

}  // namespace

WorkerPool::WorkerPool(int workers, size_t queue_capacity, std::unique_ptr<AdmissionPolicy> policy,
                       WorkerDelegate* delegate, ServerMetrics* metrics, int nice,
                       bool timed_batches, const char* thread_name)
    : policy_(std::move(policy)),
      delegate_(delegate),
      metrics_(metrics),
      timed_batches_(timed_batches),
      waker_needed_(timed_batches || policy_->WakesByTime()),
      // Workers sleep at once when idle (no spin): they share cores with the
      // reactors, whose latency matters more than a worker's wake-up time.
      pool_(
          workers, queue_capacity, std::chrono::nanoseconds(0),
          [name = thread_name, nice, metrics] {
            pthread_setname_np(pthread_self(), name);
            current_server_thread = metrics;
            // The workers' (lower) CPU priority, so that busy handlers
            // never delay the reactors sharing their cores (a reactor
            // reading, refusing and writing matters more than a
            // handler's progress). Raising one's own nice value needs no
            // privilege. `nice` is added to the value the thread
            // inherits (the process's own, under `nice -n` or systemd's
            // Nice=), as `nice -n` does: an absolute value would rank the
            // workers above the reactors of a niced process.
            if (nice > 0) LowerThisThreadsPriority(nice, name);
          },
          [](absl::string_view what, std::function<void()> body) {
            return StartServerThread(what, std::move(body));
          }) {
  status_ = pool_.status();
  if (waker_needed_ && status_.ok()) {
    absl::StatusOr<std::thread> waker = StartServerThread("the waker thread", [this] {
      pthread_setname_np(pthread_self(), "brisk-waker");
      current_server_thread = metrics_;
      WakerLoop();
    });
    if (waker.ok()) {
      waker_ = *std::move(waker);
    } else {
      status_ = waker.status();
      pool_.Shutdown();
    }
  }
}

WorkerPool::~WorkerPool() { Shutdown(); }

void WorkerPool::PokeIfSooner(SteadyTime closes) {
  if (!waker_needed_ || closes == SteadyTime::max()) return;
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    // While the waker is not waiting (planning, or handing a batch to a
    // worker) it plans again before it waits, with this job counted.
    if (closes >= planned_wake_ || planned_wake_ - closes <= kWakeSlack) return;
    wake_poked_ = true;
  }
  wake_cv_.notify_one();
}

void WorkerPool::WakerLoop() {
  std::unique_lock<std::mutex> lock(wake_mu_);
  while (!wake_stop_) {
    wake_poked_ = false;
    const AdmissionPolicy::WakePlan plan =
        policy_->NextWake(std::chrono::steady_clock::now());
    planned_wake_ = plan.next;
    if (plan.now) {
      // A batch closed with no worker sure to come for it: its last
      // arrival found it not runnable, a moment before its close time.
      // One wake-up per plan: the next plan follows a poke or a close time,
      // never this wake-up alone, so the waker cannot spin on a batch the
      // woken worker has not taken yet.
      lock.unlock();
      pool_.TryPost([this] { RunAvailable(); });
      lock.lock();
      if (wake_stop_ || wake_poked_) continue;
    }
    const auto woken = [this] { return wake_stop_ || wake_poked_; };
    if (plan.next == SteadyTime::max()) {
      wake_cv_.wait(lock, woken);
    } else {
      // On time-out the next plan finds the batch runnable and wakes a
      // worker for it.
      wake_cv_.wait_until(lock, plan.next, woken);
    }
  }
}

std::optional<ShedReason> WorkerPool::Submit(Job job, SteadyTime now) {
  if (job.exchange != nullptr) job.exchange->set_enqueued(now);
  const size_t route = job.route;
  const size_t metrics_route = job.metrics_route;
  const SteadyTime deadline = job.deadline;
  const uintptr_t key = JobKey(job);
  // Held for this call: once Admit() has queued the job, a worker may run it
  // and drop the job's reference before the withdraw callback is set below
  // (the dispatcher holds one too; a caller that does not, like a test,
  // would have the exchange freed under it: seen under ASan).
  const std::shared_ptr<Exchange> exchange = job.exchange;
  // Counted before it is queued: a worker may take it (and count it out)
  // before Admit() returns, and the gauges must never read below zero.
  CountQueued(*metrics_, metrics_route, 1);
  SteadyTime latest_useful_start = SteadyTime::max();
  job.latest_useful_start = &latest_useful_start;
  if (std::optional<ShedReason> refused = policy_->Admit(job, now)) {
    CountQueued(*metrics_, metrics_route, -1);
    return refused;
  }
  if (exchange != nullptr) {
    exchange->set_latest_useful_start(latest_useful_start);
    // A request let go while queued gives its place back at once. (Not a
    // reference to the exchange: it owns this callback.)
    exchange->SetWithdraw([policy = std::weak_ptr<AdmissionPolicy>(policy_), metrics = metrics_,
                           route, metrics_route, deadline, key] {
      std::shared_ptr<AdmissionPolicy> p = policy.lock();
      if (p != nullptr && p->Withdraw(route, deadline, key)) {
        CountQueued(*metrics, metrics_route, -1);
      }
    });
  }
  // Only a pool with batch routes (it has the waker) needs to ask: every
  // other job is runnable as soon as it is queued, and asking would take
  // the policy's lock a second time on the reactor for each request.
  // On the clock the waker and the workers read: `now` is the reactor's
  // iteration time, which may be milliseconds old by now, and a batch
  // judged not runnable by it may already be past its close time for them.
  const AdmissionPolicy::WakeAfterAdmit wake =
      timed_batches_
          ? policy_->AfterAdmit(route, std::chrono::steady_clock::now())
          : AdmissionPolicy::WakeAfterAdmit{};
  // A batch that may close sooner now: the waker plans again. Not for every
  // member: on one core each needless wake-up is two context switches, and
  // the reactor is preempted by the waker it woke.
  PokeIfSooner(wake.closes);
  // One wake-up per runnable job. If the pool's own queue is full, at least
  // as many wake-ups are pending as jobs are queued, so none is stranded.
  if (wake.worker) pool_.TryPost([this] { RunAvailable(); });
  return std::nullopt;
}

void WorkerPool::Shutdown() {
  if (waker_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(wake_mu_);
      wake_stop_ = true;
    }
    wake_cv_.notify_one();
    waker_.join();
  }
  pool_.Shutdown();
}

void WorkerPool::RunAvailable() {
  std::vector<Refusal> refused;
  for (;;) {
    const SteadyTime now = std::chrono::steady_clock::now();
    std::optional<Job> job = policy_->Next(now, &refused);
    if (waker_needed_ && (!job.has_value() || job->is_batch())) {
      // The waker planned with the batches as they were; it must plan
      // again when that changed: a batch taken may leave members behind
      // that must wait for their own close time (or another batch may be
      // runnable, for a second worker), and a batch runnable at its
      // arrival may not be any more when a worker asks (the deadline
      // policy sizes batches by the arrival rate). Else they would wait for
      // the next arrival, or their deadline. So must a job this worker
      // leaves queued because the bulkhead holds its route back: its
      // worker is given back by time, with no event.
      const AdmissionPolicy::WakePlan plan = policy_->NextWake(now);
      PokeIfSooner(plan.now ? now : plan.next);
    }
    for (Refusal& r : refused) {
      CountQueued(*metrics_, r.job.metrics_route, -1);
      if (r.job.exchange->cancelled()) continue;  // answered already
      delegate_->Refuse(*r.job.exchange, r.reason);
    }
    // The job starts once those are answered: answering them is no part
    // of its handler's time (nor of the estimates learned from it).
    const SteadyTime start = refused.empty() ? now : std::chrono::steady_clock::now();
    refused.clear();
    if (!job) return;
    RunJob(*job, start);
  }
}

void WorkerPool::RunJob(Job& job, SteadyTime start) {
  RouteMetrics& rm = metrics_->route(job.metrics_route);
  std::vector<Exchange*> batch;
  if (job.is_batch()) {
    batch.reserve(job.batch.size());
    SteadyTime oldest = start;
    for (Job& member : job.batch) {
      CountQueued(*metrics_, member.metrics_route, -1);
      Exchange& e = *member.exchange;
      if (!e.TryStart()) continue;  // answered at its deadline meanwhile
      rm.queue_wait.Observe(start - e.enqueued());
      oldest = std::min(oldest, e.enqueued());
      batch.push_back(&e);
    }
    if (batch.empty()) {
      policy_->Finished(job, std::chrono::nanoseconds(0), start);
      return;
    }
    rm.batch_size.Observe(batch.size());
    rm.batch_wait.Observe(start - oldest);
    job.batch_ran = batch.size();
    job.failed = !delegate_->RunBatch(batch) ||
                 std::all_of(batch.begin(), batch.end(),
                             [](const Exchange* e) { return e->answer_status() >= 500; });
  } else {
    CountQueued(*metrics_, job.metrics_route, -1);
    Exchange& exchange = *job.exchange;
    if (!exchange.TryStart()) {  // answered at its deadline
      policy_->Finished(job, std::chrono::nanoseconds(0), start);
      return;
    }
    rm.queue_wait.Observe(start - exchange.enqueued());
    batch.push_back(&exchange);
    // A handler that threw, or (below) answered 5xx: a quick error must
    // not make admission optimistic (as a failed batch).
    job.failed = !delegate_->Run(exchange);
    job.cut_short = exchange.outcome() == Exchange::Outcome::kLate;
    if (!job.cut_short && !exchange.answered_at().has_value()) {
      // Returned without answering (async): the time to its answer is
      // learned when the answer comes (or the deadline answers first).
      job.answer_pending = exchange.ObserveAnswer(
          [policy = std::weak_ptr<AdmissionPolicy>(policy_), route = job.route,
           metrics = exchange.metrics(), metrics_route = job.metrics_route,
           start](std::optional<SteadyTime> at, bool cut_short) {
            if (!at.has_value()) return;
            if (std::shared_ptr<AdmissionPolicy> p = policy.lock()) {
              p->AnswerCame(route, std::max(*at - start, std::chrono::nanoseconds(0)),
                            cut_short, *at);
              if (metrics != nullptr) {
                PublishEstimates(*p, route, metrics->route(metrics_route));
              }
            }
          });
      // Declined, with no answer: the deadline or a disconnect settled it
      // while its handler ran. The handler's time is no answer time (as
      // the handler would have taken longer): learned as a lower bound,
      // not as a sample that pulls the estimate down.
      if (!job.answer_pending && !exchange.answered_at().has_value()) job.cut_short = true;
    }
    // Read again: an answer given by now, before the handler returned or
    // since (declining the observer), is learned from here, its status too.
    if (!job.answer_pending && exchange.answer_status() >= 500) job.failed = true;
    if (const std::optional<SteadyTime> at = exchange.answered_at();
        at.has_value() && *at >= start) {
      job.answer_time = *at - start;
    }
  }
  const SteadyTime end = std::chrono::steady_clock::now();
  const std::chrono::nanoseconds took = end - start;
  rm.handler.Observe(took);
  // Worker time by how it ended, shared evenly among a batch's members;
  // counted when each member's fate is final (Exchange::ChargeWorkerTime).
  const std::chrono::nanoseconds share = took / batch.size();
  for (Exchange* e : batch) e->ChargeWorkerTime(job.metrics_route, share);
  policy_->Finished(job, took, end);
  PublishEstimates(*policy_, job.route, rm);
  if (std::optional<AdmissionPolicy::Estimate> c =
          policy_->BatchCostFor(job.route)) {
    rm.SetBatchCost(c->mean, c->deviation);
  }
}

}  // namespace brisk::internal
