// CodelPolicy's learned times (for /metrics), with injected times.
#include "server/codel_policy.h"

#include <chrono>
#include <optional>
#include <vector>

#include "gtest/gtest.h"

namespace brisk::internal {
namespace {

using std::chrono::milliseconds;

const SteadyTime kT0 = SteadyTime(std::chrono::hours(1));

// Admits a job of `route` and takes it for a worker.
Job TakeForAWorker(AdmissionPolicy& p, size_t route, uint64_t id) {
  Job j{.route = route, .arrival = kT0, .id = id};
  EXPECT_FALSE(p.Admit(j, kT0).has_value());
  std::vector<Refusal> refused;
  std::optional<Job> next = p.Next(kT0, &refused);
  EXPECT_TRUE(next.has_value());
  return next.has_value() ? *std::move(next) : Job{};
}

// Under --admission=codel the routes' times were not learned, and
// brisk_service_time_estimate_seconds had no samples (outside review).
TEST(CodelPolicyTest, LearnsEachRoutesTimesForMetrics) {
  std::unique_ptr<AdmissionPolicy> p = MakeCodelPolicy({});
  for (uint64_t i = 0; i < 20; ++i) {
    const Job job = TakeForAWorker(*p, 1, i);
    p->Finished(job, milliseconds(20), kT0 + milliseconds(20));
  }
  std::optional<AdmissionPolicy::Estimates> e = p->EstimatesFor(1);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->handler.mean, milliseconds(20));
  EXPECT_EQ(e->to_answer.mean, milliseconds(20));
  EXPECT_EQ(p->EstimatesFor(0)->handler.mean, milliseconds(0));  // never ran

  // A quick failure or a run cut short only raises them.
  Job failed = TakeForAWorker(*p, 1, 100);
  failed.failed = true;
  p->Finished(failed, milliseconds(1), kT0);
  Job cut = TakeForAWorker(*p, 1, 101);
  cut.cut_short = true;
  p->Finished(cut, milliseconds(2), kT0);
  EXPECT_EQ(p->EstimatesFor(1)->handler.mean, milliseconds(20));

  // A stream answered at once: its answer time apart from its worker time.
  Job stream = TakeForAWorker(*p, 2, 200);
  stream.answer_time = milliseconds(1);
  p->Finished(stream, milliseconds(500), kT0);
  EXPECT_EQ(p->EstimatesFor(2)->handler.mean, milliseconds(500));
  EXPECT_EQ(p->EstimatesFor(2)->to_answer.mean, milliseconds(1));

  // An async answer, learned when it comes.
  Job async = TakeForAWorker(*p, 3, 300);
  async.answer_pending = true;
  p->Finished(async, milliseconds(1), kT0);
  EXPECT_EQ(p->EstimatesFor(3)->to_answer.mean, milliseconds(0));
  p->AnswerCame(3, milliseconds(30), /*cut_short=*/false, kT0);
  EXPECT_EQ(p->EstimatesFor(3)->to_answer.mean, milliseconds(30));
}

}  // namespace
}  // namespace brisk::internal
