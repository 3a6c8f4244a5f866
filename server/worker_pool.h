// Internal: the worker threads that run admitted requests, in the order an
// AdmissionPolicy chooses.
//
// Submit() (a reactor) asks the policy to admit a request and, when it is
// queued and may run, posts one wake-up task to the thread pool. A woken
// worker takes jobs from the policy until none is runnable: each job either
// runs (the delegate's Run) or, when the policy refuses it while queued, is
// answered by the delegate's Refuse. A job whose request was already
// answered (its deadline passed, its client left) is skipped. Since every
// runnable job has a wake-up task posted after it, a worker keeps taking
// jobs after each one finishes, and a batch that is not runnable yet is
// started by the arrival that completes it or at its close time (the waker
// thread, AdmissionPolicy::AfterAdmit), and a job the deadline policy's
// bulkhead holds back is started when its worker is given back (the waker
// again), no runnable job is left waiting while a worker idles.
//
// Thread-safety: Submit() from any thread; Shutdown() once, from a thread
// that is not a worker.
#ifndef BRISK_SERVER_WORKER_POOL_H_
#define BRISK_SERVER_WORKER_POOL_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "concurrency/thread_pool.h"
#include "server/admission.h"
#include "server/exchange.h"
#include "server/metrics.h"

namespace brisk::internal {

// What the pool does with a job; implemented by the Dispatcher.
class WorkerDelegate {
 public:
  // Runs the request's handler (a worker thread). Returns false when the
  // handler failed (it threw; the request is then answered 500): its time
  // is no measure of the route's work.
  virtual bool Run(Exchange& exchange) = 0;
  // Runs a batch route's handler on one batch (a worker thread). Returns
  // false when the handler failed: it threw, or did not give one answer
  // per member (each member is then answered 500).
  virtual bool RunBatch(const std::vector<Exchange*>& batch) = 0;
  // Answers a request the policy refused while it was queued.
  virtual void Refuse(Exchange& exchange, ShedReason reason) = 0;

 protected:
  ~WorkerDelegate() = default;
};

class WorkerPool {
 public:
  // `nice`: added to the CPU priority (nice value) each worker thread
  // inherits when it starts, up to 19 (as `nice -n`); 0 leaves it as
  // inherited; a refusal by the kernel is said once on stderr. `timed_batches`:
  // the policy forms batches whose close time comes without an arrival (a
  // small thread then wakes a worker at AdmissionPolicy::NextWake(); it
  // does so too for a policy that WakesByTime()).
  // `thread_name`: what `top -H` and /proc/<pid>/task/*/comm show for the
  // workers (at most 15 characters).
  WorkerPool(int workers, size_t queue_capacity,
             std::unique_ptr<AdmissionPolicy> policy, WorkerDelegate* delegate,
             ServerMetrics* metrics, int nice = 0, bool timed_batches = false,
             const char* thread_name = "brisk-worker");
  ~WorkerPool();  // Shutdown()

  // Queues the job (nullopt) or returns why it was refused now.
  std::optional<ShedReason> Submit(Job job, SteadyTime now);
  // Lets running handlers finish and joins the threads. Jobs a worker takes
  // meanwhile are skipped if their requests were answered (the server
  // answers or withdraws them all before: HttpServer's CloseAll), run
  // otherwise; jobs the policy would not hand out yet (batch members whose
  // batch is not ready, jobs the bulkhead holds back) stay in it unrun once
  // the waker has stopped: the owner must have answered them.
  void Shutdown();

  AdmissionPolicy& policy() { return *policy_; }
  // OK, or why not every thread could be started (the system's limit on
  // threads): the pool is then shut down and the server must not start.
  const absl::Status& status() const { return status_; }

 private:
  void RunAvailable();
  void RunJob(Job& job, SteadyTime start);
  void WakerLoop();
  // Wakes the waker if a batch now closes at `closes`, more than
  // kWakeSlack before the time it sleeps until.
  void PokeIfSooner(SteadyTime closes);

  // Shared: an async answer may come after the pool is gone (its
  // exchange's observer holds a weak reference, AnswerCame()).
  const std::shared_ptr<AdmissionPolicy> policy_;
  WorkerDelegate* const delegate_;
  ServerMetrics* const metrics_;
  // The policy forms batches with close times (a job's admission may move
  // the next wake-up).
  const bool timed_batches_;
  // A waker thread exists: timed batches, or a policy that holds queued
  // work back until a time (AdmissionPolicy::WakesByTime).
  const bool waker_needed_;
  ThreadPool pool_;
  absl::Status status_;  // set by the constructor only
  // Wakes a worker when a batch's close time comes, or a held-back job's
  // worker is given back (waker_needed_ only).
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool wake_stop_ = false;    // guarded by wake_mu_
  bool wake_poked_ = false;   // guarded by wake_mu_: the next wake may be sooner
  // What the waker sleeps until (guarded by wake_mu_).
  SteadyTime planned_wake_ = SteadyTime::max();
  // Each member of a growing batch moves its close time a little earlier
  // (by the per-item cost); the waker is woken only when that adds up to
  // more than this. A batch therefore closes at most this much after its
  // computed time, well inside the margin its close time keeps (1 ms by
  // default).
  static constexpr std::chrono::microseconds kWakeSlack{50};
  std::thread waker_;
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_WORKER_POOL_H_
