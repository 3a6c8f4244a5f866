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
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "http/request.h"
#include "server/deadline_policy.h"
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
  bool Run(Exchange& exchange) override {
    exchange.Answer(http::Response{.status = 200});
    std::lock_guard<std::mutex> lock(mu_);
    ++runs_;
    cv_.notify_all();
    return true;
  }
  bool RunBatch(const std::vector<Exchange*>& batch) override {
    for (Exchange* e : batch) Run(*e);
    return true;
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

// A job of `route` (and metrics route), due in an hour, with its exchange.
Job MakeRouteJob(size_t route, SteadyTime now) {
  Job job{.route = route,
          .metrics_route = route,
          .arrival = now,
          .deadline = now + std::chrono::hours(1)};
  job.exchange = std::make_shared<Exchange>(http::Request(),
                                            std::vector<std::pair<std::string, std::string>>{}, now,
                                            job.deadline, route, nullptr, nullptr, nullptr);
  return job;
}

Job MakeJob(SteadyTime now) { return MakeRouteJob(0, now); }

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

// A first-in-first-out queue that hands out nothing until it is opened: a
// test cancels a queued request before any worker can take it, then opens
// the queue with the admission of one more job (in the same step, so that
// the worker woken for that job finds every job queued before it). Its Withdraw()
// finds nothing, as when a worker's Next() took the job a moment before the
// request was cancelled: the worker then holds a job whose request was
// answered already. In kBatch mode Next() hands out every queued job as one
// batch; in kRefuse mode it refuses them all (ShedReason::kExpiredInQueue);
// in kRefuseFirst mode, once two are queued, it refuses the first and hands
// out the second in the same Next().
// Records every Finished() and Withdraw() call.
class GatedPolicy : public AdmissionPolicy {
 public:
  enum class Mode { kSingle, kBatch, kRefuse, kRefuseFirst };
  struct Finish {
    std::vector<uint64_t> ids;  // the job's id, or its members' in order
    std::chrono::nanoseconds handler_time;
    bool cut_short;
    size_t batch_ran = 0;
    bool failed = false;
    SteadyTime end{};
  };

  explicit GatedPolicy(Mode mode) : mode_(mode) {}

  // The next Admit() opens the queue.
  void OpenAtNextAdmit() {
    std::lock_guard<std::mutex> lock(mu_);
    open_at_admit_ = true;
  }
  std::vector<Finish> finished() const {
    std::lock_guard<std::mutex> lock(mu_);
    return finished_;
  }
  int withdraw_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return withdraw_calls_;
  }

  std::optional<ShedReason> Admit(Job& job, SteadyTime) override {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
    open_ = open_ || open_at_admit_;
    return std::nullopt;
  }
  std::optional<Job> Next(SteadyTime, std::vector<Refusal>* refused) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!open_ || jobs_.empty()) return std::nullopt;
    switch (mode_) {
      case Mode::kSingle: {
        Job job = std::move(jobs_.front());
        jobs_.erase(jobs_.begin());
        return job;
      }
      case Mode::kBatch: {
        Job batch{.deadline = jobs_.front().deadline};
        batch.batch = std::move(jobs_);
        jobs_.clear();
        return batch;
      }
      case Mode::kRefuse:
        for (Job& job : jobs_) {
          refused->push_back({std::move(job), ShedReason::kExpiredInQueue});
        }
        jobs_.clear();
        return std::nullopt;
      case Mode::kRefuseFirst: {
        if (jobs_.size() < 2) return std::nullopt;
        refused->push_back({std::move(jobs_[0]), ShedReason::kExpiredInQueue});
        Job job = std::move(jobs_[1]);
        jobs_.erase(jobs_.begin(), jobs_.begin() + 2);
        return job;
      }
    }
    return std::nullopt;
  }
  void Finished(const Job& job, std::chrono::nanoseconds handler_time, SteadyTime end) override {
    Finish f{.handler_time = handler_time,
             .cut_short = job.cut_short,
             .batch_ran = job.batch_ran,
             .failed = job.failed,
             .end = end};
    if (job.is_batch()) {
      for (const Job& member : job.batch) f.ids.push_back(member.id);
    } else {
      f.ids.push_back(job.id);
    }
    std::lock_guard<std::mutex> lock(mu_);
    finished_.push_back(std::move(f));
  }
  bool Withdraw(size_t, SteadyTime, uintptr_t) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++withdraw_calls_;
    return false;  // taken by a worker already
  }
  size_t queued() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return jobs_.size();
  }

 private:
  const Mode mode_;
  mutable std::mutex mu_;
  bool open_ = false;
  bool open_at_admit_ = false;
  std::vector<Job> jobs_;
  std::vector<Finish> finished_;
  int withdraw_calls_ = 0;
};

// Records which exchanges the pool ran and refused; answers each run 200.
// Read after the pool's Shutdown(), which runs every wake-up posted before
// it: what the workers did with the jobs submitted is then all done.
class RecordingDelegate : public WorkerDelegate {
 public:
  bool Run(Exchange& exchange) override {
    exchange.Answer(http::Response{.status = 200});
    std::lock_guard<std::mutex> lock(mu_);
    ran_.push_back(&exchange);
    return true;
  }
  // With FailBatches(), answers each member 500 and reports the batch failed.
  bool RunBatch(const std::vector<Exchange*>& batch) override {
    std::unique_lock<std::mutex> lock(mu_);
    const bool fail = fail_batches_;
    lock.unlock();
    for (Exchange* e : batch) e->Answer(http::Response{.status = fail ? 500 : 200});
    lock.lock();
    batches_.push_back(batch);
    return !fail;
  }
  void FailBatches() {
    std::lock_guard<std::mutex> lock(mu_);
    fail_batches_ = true;
  }
  void Refuse(Exchange& exchange, ShedReason reason) override {
    exchange.Refuse(http::Response{.status = 503});
    std::lock_guard<std::mutex> lock(mu_);
    refused_.push_back({&exchange, reason});
  }

  std::vector<Exchange*> ran() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ran_;
  }
  std::vector<std::vector<Exchange*>> batches() const {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_;
  }
  std::vector<std::pair<Exchange*, ShedReason>> refused() const {
    std::lock_guard<std::mutex> lock(mu_);
    return refused_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Exchange*> ran_;
  std::vector<std::vector<Exchange*>> batches_;
  bool fail_batches_ = false;
  std::vector<std::pair<Exchange*, ShedReason>> refused_;
};

Job MakeJobWithId(uint64_t id) {
  Job job = MakeJob(steady_clock::now());
  job.id = id;
  return job;
}

// Submits a job numbered `id`: its exchange, or null if the pool refused it
// at once.
std::shared_ptr<Exchange> SubmitJobWithId(WorkerPool& pool, uint64_t id) {
  Job job = MakeJobWithId(id);
  std::shared_ptr<Exchange> exchange = job.exchange;
  if (pool.Submit(std::move(job), steady_clock::now()).has_value()) return nullptr;
  return exchange;
}

// A job whose deadline passed while it was queued, its 503 not yet sent
// (the reactor's timer fires up to ~1 ms late, and CoDel's Next() does not
// look at deadlines): a worker that takes it must not start its handler,
// whose answer could only come late.
TEST(WorkerPoolTest, AJobPastItsDeadlineIsNotStartedBeforeItsTimerAnswers) {
  ServerMetrics metrics({"/score"});
  RecordingDelegate delegate;
  auto owned = std::make_unique<GatedPolicy>(GatedPolicy::Mode::kSingle);
  owned->OpenAtNextAdmit();
  const GatedPolicy* const recorder = owned.get();
  WorkerPool pool(1, 16, std::move(owned), &delegate, &metrics);
  const SteadyTime now = steady_clock::now();
  Job job = MakeRouteJob(0, now - std::chrono::seconds(1));
  job.deadline = now - std::chrono::milliseconds(1);
  job.exchange = std::make_shared<Exchange>(
      http::Request(), std::vector<std::pair<std::string, std::string>>{}, job.arrival,
      job.deadline, 0, nullptr, nullptr, nullptr);
  const std::shared_ptr<Exchange> exchange = job.exchange;
  ASSERT_FALSE(pool.Submit(std::move(job), now).has_value());
  pool.Shutdown();
  EXPECT_TRUE(delegate.ran().empty());
  EXPECT_FALSE(exchange->started());
  const std::vector<GatedPolicy::Finish> finished = recorder->finished();
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].handler_time, std::chrono::nanoseconds(0));
  // Still unanswered: the deadline's 503 is the reactor's to send.
  EXPECT_TRUE(exchange->Expire());
}

// Answers 500 and reports the handler failed, as the dispatcher does for a
// handler that threw; its refusals take a millisecond each, and it notes
// when the last one returned.
class FailingDelegate : public WorkerDelegate {
 public:
  bool Run(Exchange& exchange) override {
    exchange.Answer(http::Response{.status = 500});
    return false;
  }
  bool RunBatch(const std::vector<Exchange*>&) override { return true; }
  void Refuse(Exchange& exchange, ShedReason) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    exchange.Refuse(http::Response{.status = 503});
    std::lock_guard<std::mutex> lock(mu_);
    refused_done_ = steady_clock::now();
  }
  SteadyTime refused_done() const {
    std::lock_guard<std::mutex> lock(mu_);
    return refused_done_;
  }

 private:
  mutable std::mutex mu_;
  SteadyTime refused_done_{};
};

// A handler that failed (threw) is reported so: a quick throw taught the
// route's estimate that it was fast (a failed batch was already reported).
TEST(WorkerPoolTest, AHandlerThatFailedIsReportedFailed) {
  auto owned = std::make_unique<GatedPolicy>(GatedPolicy::Mode::kSingle);
  owned->OpenAtNextAdmit();
  const GatedPolicy* const recorder = owned.get();
  ServerMetrics metrics({"/score"});
  FailingDelegate delegate;
  WorkerPool pool(1, 16, std::move(owned), &delegate, &metrics);
  const std::shared_ptr<Exchange> exchange = SubmitJobWithId(pool, 1);
  ASSERT_NE(exchange, nullptr);
  pool.Shutdown();
  const std::vector<GatedPolicy::Finish> finished = recorder->finished();
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_TRUE(finished[0].failed);
  EXPECT_FALSE(finished[0].cut_short);
}

// A job handed out with refusals starts once they are answered: the time
// spent answering them was counted as its handler's (and taught the
// route's estimate), and cut from its queue wait.
TEST(WorkerPoolTest, AnsweringRefusalsIsNoPartOfTheNextJobsHandlerTime) {
  auto owned = std::make_unique<GatedPolicy>(GatedPolicy::Mode::kRefuseFirst);
  GatedPolicy& policy = *owned;
  ServerMetrics metrics({"/score"});
  FailingDelegate delegate;
  WorkerPool pool(1, 16, std::move(owned), &delegate, &metrics);
  const std::shared_ptr<Exchange> refused = SubmitJobWithId(pool, 1);
  ASSERT_NE(refused, nullptr);
  policy.OpenAtNextAdmit();
  ASSERT_NE(SubmitJobWithId(pool, 2), nullptr);
  pool.Shutdown();
  const std::vector<GatedPolicy::Finish> finished = policy.finished();
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].ids, std::vector<uint64_t>{2});
  ASSERT_NE(delegate.refused_done(), SteadyTime{});
  // Its start (end - handler time) came after the refusal was answered.
  EXPECT_GE(finished[0].end - finished[0].handler_time, delegate.refused_done());
}

// A request answered at its deadline (Expire) while queued, its place not
// given back (a worker's Next() had it already): the worker skips its
// handler, tells the policy it took no time, and goes on to the next job.
// The queue depth counts it out all the same.
TEST(WorkerPoolTest, AJobCancelledWhileQueuedIsSkippedNotRun) {
  ServerMetrics metrics({"/score"});
  RecordingDelegate delegate;
  auto owned = std::make_unique<GatedPolicy>(GatedPolicy::Mode::kSingle);
  GatedPolicy& policy = *owned;
  WorkerPool pool(1, 16, std::move(owned), &delegate, &metrics);
  const std::shared_ptr<Exchange> expired_exchange = SubmitJobWithId(pool, 1);
  ASSERT_NE(expired_exchange, nullptr);
  EXPECT_EQ(metrics.queue_depth.load(), 1);
  ASSERT_TRUE(expired_exchange->Expire());  // the deadline answered it: 503
  EXPECT_TRUE(expired_exchange->cancelled());
  EXPECT_EQ(policy.withdraw_calls(), 1);
  policy.OpenAtNextAdmit();
  const std::shared_ptr<Exchange> live_exchange = SubmitJobWithId(pool, 2);
  ASSERT_NE(live_exchange, nullptr);
  pool.Shutdown();  // the worker took both jobs, in order

  EXPECT_EQ(delegate.ran(), std::vector<Exchange*>{live_exchange.get()});
  EXPECT_FALSE(expired_exchange->started());
  EXPECT_TRUE(live_exchange->started());
  const std::vector<GatedPolicy::Finish> finished = policy.finished();
  ASSERT_EQ(finished.size(), 2u);
  EXPECT_EQ(finished[0].ids, std::vector<uint64_t>{1});
  EXPECT_EQ(finished[0].handler_time, std::chrono::nanoseconds(0));
  EXPECT_FALSE(finished[0].cut_short);
  EXPECT_EQ(finished[1].ids, std::vector<uint64_t>{2});
  EXPECT_EQ(metrics.queue_depth.load(), 0);
  // Only the job that ran is in the handler and queue-wait histograms.
  EXPECT_EQ(metrics.route(0).handler.count(), 1u);
  EXPECT_EQ(metrics.route(0).queue_wait.count(), 1u);
  // The deadline's answer stands: the skipped job answered nothing late.
  EXPECT_EQ(expired_exchange->outcome(), Exchange::Outcome::kOther);
}

// An asynchronous handler (it returns, its answer to come) during whose
// run the deadline answered its request: the time it ran is no answer
// time, only a lower bound of it. Reported cut short; it was reported as a
// plain sample, which pulled the route's estimate of its answer time down.
class ExpiringDelegate : public WorkerDelegate {
 public:
  bool Run(Exchange& exchange) override {
    exchange.Expire();
    return true;
  }
  bool RunBatch(const std::vector<Exchange*>&) override { return true; }
  void Refuse(Exchange&, ShedReason) override {}
};

TEST(WorkerPoolTest, AnAsyncHandlerOvertakenByItsDeadlineIsReportedCutShort) {
  auto policy = std::make_unique<GatedPolicy>(GatedPolicy::Mode::kSingle);
  policy->OpenAtNextAdmit();
  const GatedPolicy* const recorder = policy.get();
  ServerMetrics metrics({"/score"});
  ExpiringDelegate delegate;
  WorkerPool pool(1, 16, std::move(policy), &delegate, &metrics);
  ASSERT_NE(SubmitJobWithId(pool, 1), nullptr);
  pool.Shutdown();
  const std::vector<GatedPolicy::Finish> finished = recorder->finished();
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_TRUE(finished[0].cut_short);
}

// A batch member whose client left while queued (Unbind) is left out of
// its batch: the handler gets the others; a batch whose members were all
// let go runs no handler at all.
TEST(WorkerPoolTest, ABatchLeavesOutTheMembersCancelledWhileQueued) {
  for (const bool all_cancelled : {false, true}) {
    SCOPED_TRACE(all_cancelled ? "all cancelled" : "one cancelled");
    ServerMetrics metrics({"/score"});
    RecordingDelegate delegate;
    auto owned = std::make_unique<GatedPolicy>(GatedPolicy::Mode::kBatch);
    GatedPolicy& policy = *owned;
    WorkerPool pool(1, 16, std::move(owned), &delegate, &metrics);
    std::vector<std::shared_ptr<Exchange>> exchanges;
    for (uint64_t id = 1; id <= 3; ++id) {
      Job job = MakeJobWithId(id);
      exchanges.push_back(job.exchange);
      ASSERT_FALSE(pool.Submit(std::move(job), steady_clock::now()).has_value());
    }
    EXPECT_EQ(metrics.queue_depth.load(), 3);
    exchanges[1]->Unbind();  // its client left
    if (all_cancelled) {
      exchanges[0]->Unbind();
      exchanges[2]->Unbind();
    }
    // Queued with the others: the queue opens as it is admitted (the
    // wake-ups of the others may be spent).
    policy.OpenAtNextAdmit();
    Job last = MakeJobWithId(4);
    std::shared_ptr<Exchange> last_exchange = last.exchange;
    if (all_cancelled) last_exchange->Unbind();
    exchanges.push_back(last_exchange);
    ASSERT_FALSE(pool.Submit(std::move(last), steady_clock::now()).has_value());
    pool.Shutdown();

    const std::vector<GatedPolicy::Finish> finished = policy.finished();
    ASSERT_EQ(finished.size(), 1u);
    EXPECT_EQ(finished[0].ids, (std::vector<uint64_t>{1, 2, 3, 4}));
    EXPECT_EQ(metrics.queue_depth.load(), 0);
    EXPECT_FALSE(exchanges[1]->started());
    if (all_cancelled) {
      EXPECT_TRUE(delegate.batches().empty());
      EXPECT_EQ(finished[0].handler_time, std::chrono::nanoseconds(0));
      EXPECT_EQ(metrics.route(0).batch_size.count(), 0u);
      EXPECT_EQ(metrics.route(0).handler.count(), 0u);
      for (const auto& e : exchanges) EXPECT_FALSE(e->started());
    } else {
      const std::vector<std::vector<Exchange*>> batches = delegate.batches();
      ASSERT_EQ(batches.size(), 1u);
      EXPECT_EQ(batches[0], (std::vector<Exchange*>{exchanges[0].get(), exchanges[2].get(),
                                                    exchanges[3].get()}));
      EXPECT_EQ(metrics.route(0).batch_size.count(), 1u);
      EXPECT_EQ(metrics.route(0).queue_wait.count(), 3u);
      // The policy learns the cost of the three that ran, not of four.
      EXPECT_EQ(finished[0].batch_ran, 3u);
      EXPECT_FALSE(finished[0].failed);
    }
  }
}

// A batch whose handler failed is reported so to the policy, which then
// does not learn its time as what a batch costs.
TEST(WorkerPoolTest, AFailedBatchIsReportedFailedToThePolicy) {
  ServerMetrics metrics({"/score"});
  RecordingDelegate delegate;
  delegate.FailBatches();
  auto owned = std::make_unique<GatedPolicy>(GatedPolicy::Mode::kBatch);
  GatedPolicy& policy = *owned;
  WorkerPool pool(1, 16, std::move(owned), &delegate, &metrics);
  Job first = MakeJobWithId(1);
  ASSERT_FALSE(pool.Submit(std::move(first), steady_clock::now()).has_value());
  policy.OpenAtNextAdmit();
  Job second = MakeJobWithId(2);
  std::shared_ptr<Exchange> exchange = second.exchange;
  ASSERT_FALSE(pool.Submit(std::move(second), steady_clock::now()).has_value());
  pool.Shutdown();

  const std::vector<GatedPolicy::Finish> finished = policy.finished();
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].ids, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(finished[0].batch_ran, 2u);
  EXPECT_TRUE(finished[0].failed);
  EXPECT_TRUE(exchange->started());
}

// A queued job the policy refuses (here: too little time left) is answered
// by the delegate's Refuse, unless its request was answered meanwhile: a
// cancelled one is only counted out of the queue.
TEST(WorkerPoolTest, ARefusedJobCancelledWhileQueuedIsNotAnsweredAgain) {
  ServerMetrics metrics({"/score"});
  RecordingDelegate delegate;
  auto owned = std::make_unique<GatedPolicy>(GatedPolicy::Mode::kRefuse);
  GatedPolicy& policy = *owned;
  WorkerPool pool(1, 16, std::move(owned), &delegate, &metrics);
  const std::shared_ptr<Exchange> gone_exchange = SubmitJobWithId(pool, 1);
  ASSERT_NE(gone_exchange, nullptr);
  ASSERT_TRUE(gone_exchange->Expire());
  policy.OpenAtNextAdmit();
  const std::shared_ptr<Exchange> waiting_exchange = SubmitJobWithId(pool, 2);
  ASSERT_NE(waiting_exchange, nullptr);
  pool.Shutdown();  // both were refused in one Next(), the cancelled one first

  const std::vector<std::pair<Exchange*, ShedReason>> refused = delegate.refused();
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].first, waiting_exchange.get());
  EXPECT_EQ(refused[0].second, ShedReason::kExpiredInQueue);
  EXPECT_TRUE(delegate.ran().empty());
  EXPECT_TRUE(policy.finished().empty());
  EXPECT_EQ(metrics.queue_depth.load(), 0);
}

// Holds the first request of route 0 in its handler until Release(); runs
// every other at once. Counts the handlers started.
class HoldingDelegate : public WorkerDelegate {
 public:
  bool Run(Exchange& exchange) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++started_;
    cv_.notify_all();
    if (exchange.route_id() == 0 && !held_one_) {
      held_one_ = true;
      cv_.wait(lock, [&] { return released_; });
    }
    lock.unlock();
    exchange.Answer(http::Response{.status = 200});
    return true;
  }
  bool RunBatch(const std::vector<Exchange*>& batch) override {
    for (Exchange* e : batch) Run(*e);
    return true;
  }
  void Refuse(Exchange& exchange, ShedReason) override {
    exchange.Refuse(http::Response{.status = 503});
  }

  // Waits for `n` handlers started in all; false after `limit` without.
  bool WaitForStarts(int n, std::chrono::seconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return started_ >= n; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int started_ = 0;
  bool held_one_ = false;
  bool released_ = false;
};

// The deadline policy's bulkhead keeps one of two workers from route 0
// while route 1 is active. Route 0's first request runs long (until the
// second starts), its second is queued behind the bulkhead. When route 1's
// active window ends nothing arrives and nothing finishes: the pool must
// still send the idle worker to the queued request (without the wake-up,
// the first would wait for the second and the second for the first).
TEST(WorkerPoolTest, AWorkerTheBulkheadGivesBackIsSentToTheQueuedRequest) {
  ServerMetrics metrics({"/a", "/b"});
  HoldingDelegate delegate;
  // Long enough that the second request always comes within it, even on a
  // loaded machine under TSan (else the test would pass without the
  // wake-up); the give-back comes 2 s after route 1's request.
  DeadlinePolicyOptions options{.workers = 2, .active_window = std::chrono::seconds(2)};
  WorkerPool pool(2, 16, std::make_unique<DeadlinePolicy>(std::move(options)), &delegate, &metrics);
  ASSERT_TRUE(pool.status().ok());
  ASSERT_FALSE(pool.Submit(MakeRouteJob(1, steady_clock::now()), steady_clock::now()).has_value());
  ASSERT_TRUE(delegate.WaitForStarts(1, std::chrono::seconds(20)));
  ASSERT_FALSE(pool.Submit(MakeRouteJob(0, steady_clock::now()), steady_clock::now()).has_value());
  ASSERT_TRUE(delegate.WaitForStarts(2, std::chrono::seconds(20)));
  ASSERT_FALSE(pool.Submit(MakeRouteJob(0, steady_clock::now()), steady_clock::now()).has_value());
  EXPECT_TRUE(delegate.WaitForStarts(3, std::chrono::seconds(20)))
      << "the queued request waited for the running one";
  delegate.Release();
  pool.Shutdown();
}

}  // namespace
}  // namespace brisk::internal
