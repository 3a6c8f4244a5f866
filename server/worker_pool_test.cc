// WorkerPool's wake-ups, with a scripted policy: which thread starts a job
// the policy reports runnable. Waits are for events (a job ran), bounded
// by a generous time-out only so that a bug fails the test instead of
// hanging it.
#include "server/worker_pool.h"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "http/request.h"
#include "server/exchange.h"
#include "server/metrics.h"

namespace brisk::internal {
namespace {

using std::chrono::steady_clock;

// One queue of jobs that become runnable at a close time fixed at
// admission, reported the way DeadlinePolicy reports a batch route: the
// admission asks for no worker (the close time has not come when it is
// checked), NextWake says when it closes and whether it is runnable.
class ClosingPolicy : public AdmissionPolicy {
 public:
  explicit ClosingPolicy(std::chrono::nanoseconds close_after)
      : close_after_(close_after) {}

  std::optional<ShedReason> Admit(Job& job, SteadyTime now) override {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
    if (closes_ == SteadyTime::max()) closes_ = now + close_after_;
    return std::nullopt;
  }
  std::optional<Job> Next(SteadyTime now, std::vector<Refusal>*) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (jobs_.empty() || now < closes_) return std::nullopt;
    Job job = std::move(jobs_.front());
    jobs_.erase(jobs_.begin());
    if (jobs_.empty()) closes_ = SteadyTime::max();
    return job;
  }
  void Finished(const Job&, std::chrono::nanoseconds, SteadyTime) override {}
  bool Withdraw(size_t, SteadyTime, uintptr_t) override { return false; }
  size_t queued() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return jobs_.size();
  }
  WakePlan NextWake(SteadyTime now) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (jobs_.empty()) return {};
    if (now >= closes_) return {.now = true};
    return {.next = closes_};
  }
  WakeAfterAdmit AfterAdmit(size_t, SteadyTime) override {
    std::lock_guard<std::mutex> lock(mu_);
    // As judged a moment before the close time: not runnable yet.
    return {.worker = false, .closes = closes_};
  }

 private:
  const std::chrono::nanoseconds close_after_;
  mutable std::mutex mu_;
  std::vector<Job> jobs_;
  SteadyTime closes_ = SteadyTime::max();
};

class CountingDelegate : public WorkerDelegate {
 public:
  void Run(Exchange& exchange) override {
    exchange.Answer(http::Response{.status = 200});
    std::lock_guard<std::mutex> lock(mu_);
    ++runs_;
    cv_.notify_all();
  }
  void RunBatch(const std::vector<Exchange*>& batch) override {
    for (Exchange* e : batch) Run(*e);
  }
  void Refuse(Exchange&, ShedReason) override {}

  // Waits for `n` runs in all; false after a minute without them.
  bool WaitForRuns(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::minutes(1),
                        [&] { return runs_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int runs_ = 0;
};

Job MakeJob(SteadyTime now) {
  Job job{.arrival = now, .deadline = now + std::chrono::hours(1)};
  job.exchange = std::make_shared<Exchange>(
      http::Request(), std::vector<std::pair<std::string, std::string>>{}, now,
      job.deadline, 0, nullptr, nullptr, nullptr);
  return job;
}

// Close times already past when the waker plans (its admission judged the
// job not runnable a moment before): the waker, not an arrival, must send
// a worker, or the jobs wait forever.
TEST(WorkerPoolTest, TheWakerSendsAWorkerForAJobThatBecameRunnableUnseen) {
  ServerMetrics metrics({"/score"});
  CountingDelegate delegate;
  WorkerPool pool(2, 16, std::make_unique<ClosingPolicy>(std::chrono::nanoseconds(0)),
                  &delegate, &metrics, 0, /*timed_batches=*/true);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_FALSE(pool.Submit(MakeJob(steady_clock::now()), steady_clock::now())
                     .has_value());
    EXPECT_TRUE(delegate.WaitForRuns(i)) << "job " << i << " was stranded";
  }
  pool.Shutdown();
}

// A close time in the future: the waker sleeps until it, then sends a
// worker.
TEST(WorkerPoolTest, TheWakerSendsAWorkerAtACloseTime) {
  ServerMetrics metrics({"/score"});
  CountingDelegate delegate;
  WorkerPool pool(1, 16, std::make_unique<ClosingPolicy>(std::chrono::milliseconds(2)),
                  &delegate, &metrics, 0, /*timed_batches=*/true);
  ASSERT_FALSE(pool.Submit(MakeJob(steady_clock::now()), steady_clock::now())
                   .has_value());
  EXPECT_TRUE(delegate.WaitForRuns(1));
  pool.Shutdown();
}

}  // namespace
}  // namespace brisk::internal
