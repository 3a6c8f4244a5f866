// Batch formation with injected times: no clock, no threads, no sleeps.
#include "server/batch_former.h"

#include <chrono>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "server/deadline_policy.h"
#include "server/exchange.h"

namespace brisk::internal {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using Policy = BatchFormerOptions::Policy;

const SteadyTime kT0 = SteadyTime(std::chrono::hours(1));

Job Member(SteadyTime arrival, nanoseconds budget, uint64_t id) {
  return Job{.route = 0, .arrival = arrival, .deadline = arrival + budget, .id = id};
}

Job MemberOf(uintptr_t client, SteadyTime arrival, nanoseconds budget, uint64_t id) {
  Job j = Member(arrival, budget, id);
  j.client = client;
  return j;
}

std::vector<uint64_t> Ids(const std::vector<Job>& jobs) {
  std::vector<uint64_t> ids;
  for (const Job& j : jobs) ids.push_back(j.id);
  return ids;
}

TEST(BatchCostModelTest, FitsFixedAndPerItemCost) {
  BatchCostModel m(nanoseconds(0), nanoseconds(0));
  for (int round = 0; round < 10; ++round) {
    for (size_t n : {1, 2, 4, 8, 16, 32, 64}) {
      m.Observe(n, microseconds(9) + microseconds(1) * static_cast<int64_t>(n));
    }
  }
  EXPECT_NEAR(m.fixed().count(), 9000, 50);
  EXPECT_NEAR(m.per_item().count(), 1000, 5);
  EXPECT_NEAR(m.Cost(32).count(), 41000, 200);
}

TEST(BatchCostModelTest, OneBatchSizeKeepsTheSlopeAndFitsTheIntercept) {
  BatchCostModel m(microseconds(5), microseconds(2));
  for (int i = 0; i < 50; ++i) m.Observe(4, microseconds(20));
  EXPECT_EQ(m.per_item(), microseconds(2));
  EXPECT_NEAR(m.fixed().count(), 12000, 100);  // 20 - 4 * 2
}

TEST(BatchFormerTest, FullBatchGoesAtOnceEarliestDeadlineFirst) {
  BatchFormer f({.max_batch = 3, .expected_fixed_cost = microseconds(100)});
  const SteadyTime t = kT0;
  f.Add(Member(t, milliseconds(50), 1), t);
  f.Add(Member(t, milliseconds(10), 2), t);
  EXPECT_EQ(f.pending(), 2u);
  f.Add(Member(t, milliseconds(30), 3), t);
  f.Add(Member(t, milliseconds(40), 4), t);
  ASSERT_TRUE(f.Ready(t, 1));
  std::vector<Refusal> refused;
  EXPECT_EQ(Ids(f.Take(t, &refused)), (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_TRUE(refused.empty());
  EXPECT_EQ(f.pending(), 1u);  // the next batch
}

TEST(BatchFormerTest, LoneRequestUnderLightLoadDoesNotWaitForCompany) {
  BatchFormer f({.max_batch = 32,
                 .expected_fixed_cost = microseconds(9),
                 .expected_per_item_cost = microseconds(1)});
  SteadyTime t = kT0;
  // 100 requests per second: batches of one keep a worker nearly idle.
  for (int i = 0; i < 100; ++i) {
    f.Add(Member(t, milliseconds(10), i), t);
    EXPECT_TRUE(f.Ready(t, 1)) << i;  // goes at once
    std::vector<Refusal> refused;
    EXPECT_EQ(f.Take(t, &refused).size(), 1u);
    t += milliseconds(10);
  }
}

TEST(BatchFormerTest, HeavyLoadBuildsBatchesAsLargeAsTheRateNeeds) {
  BatchFormer f({.max_batch = 64,
                 .expected_fixed_cost = microseconds(40),
                 .expected_per_item_cost = microseconds(1)});
  // 200,000 requests per second on one worker: one at a time would need
  // 41 us each (8x too slow); the rate needs n = L*a / (0.8 - L*b)
  // = 0.2 * 40 / (0.8 - 0.2) = 13.3 per batch.
  SteadyTime t = kT0;
  for (int i = 0; i < 60000; ++i) {  // 300 ms to learn the rate
    // Open loop: arrivals find the worker busy with the last batch.
    f.Add(Member(t, milliseconds(10), i), t, /*running=*/1);
    std::vector<Refusal> refused;
    if (f.Ready(t, 1)) f.Take(t, &refused);
    t += microseconds(5);
  }
  EXPECT_NEAR(f.NeededBatch(t, 1), 13.3, 1.5);
  std::vector<Refusal> refused;
  while (!f.empty()) f.Take(t, &refused);
  for (int i = 0; i < 12; ++i) {
    f.Add(Member(t, milliseconds(10), 100000 + i), t);
    EXPECT_FALSE(f.Ready(t, 1)) << i;  // waiting for company that comes
    t += microseconds(5);
  }
  f.Add(Member(t, milliseconds(10), 200000), t);
  f.Add(Member(t, milliseconds(10), 200001), t);
  EXPECT_TRUE(f.Ready(t, 1));
  // With two workers, each needs only half the rate: smaller batches.
  EXPECT_LT(f.NeededBatch(t, 2), f.NeededBatch(t, 1) / 1.5);
}

// Arrivals long before `t` (their rate is forgotten by then) that each
// found a batch running: `f` has seen that company comes.
void SeeCompanyCome(BatchFormer& f, SteadyTime t) {
  const SteadyTime long_before = t - std::chrono::seconds(10);
  for (int i = 0; i < 8; ++i) {
    f.Add(Member(long_before, milliseconds(10), 900 + i), long_before, /*running=*/1);
    std::vector<Refusal> refused;
    f.Take(long_before, &refused);
  }
  ASSERT_TRUE(f.CompanyComes());
}

// A lone member whose own arrival raised the rate (its window closed just
// after it came) waits for company only while the rate says some may come:
// it goes once the rate has fallen, not at its deadline. (Before, nothing
// woke it until deadline - cost: a 60 s route's lone request waited 60 s.)
TEST(BatchFormerTest, ALoneMemberGoesOnceTheRateFallsNotAtItsDeadline) {
  BatchFormer f({.max_batch = 16});
  const SteadyTime t0 = kT0;
  SeeCompanyCome(f, t0);
  f.Add(Member(t0, std::chrono::seconds(60), 1), t0);
  ASSERT_TRUE(f.Ready(t0, 1));  // nothing known: goes at once
  std::vector<Refusal> refused;
  ASSERT_EQ(f.Take(t0, &refused).size(), 1u);
  f.Finished(1, milliseconds(200));  // a costly batch
  // The next comes in the rate's window [150 ms, 200 ms). Rate per 50 ms
  // window (weight 0.5): 10/s, 5, 2.5, then 11.25 with it: batches of
  // 11.25 * 0.2 s / 0.8 = 2.8 needed.
  const SteadyTime arrival = t0 + milliseconds(199);  // the batch runs
  f.Add(Member(arrival, std::chrono::seconds(60), 2), arrival, /*running=*/1);
  const SteadyTime now = t0 + milliseconds(201);
  ASSERT_FALSE(f.Ready(now, 1));
  EXPECT_NEAR(f.NeededBatch(now, 1), 2.81, 0.01);
  // Nobody else comes: 5.6/s at 250 ms (1.4 needed), 2.8/s at 300 ms (0.7).
  EXPECT_EQ(f.ReadyAt(now, 1), t0 + milliseconds(300));
  EXPECT_FALSE(f.Ready(t0 + milliseconds(300) - nanoseconds(1), 1));
  EXPECT_TRUE(f.Ready(t0 + milliseconds(300), 1));
  // With two workers each needs half the rate: one window sooner.
  BatchFormer g({.max_batch = 16});
  SeeCompanyCome(g, t0);
  g.Add(Member(t0, std::chrono::seconds(60), 1), t0);
  ASSERT_EQ(g.Take(t0, &refused).size(), 1u);
  g.Finished(1, milliseconds(200));
  g.Add(Member(arrival, std::chrono::seconds(60), 2), arrival, /*running=*/1);
  EXPECT_EQ(g.ReadyAt(now, 2), t0 + milliseconds(250));
}

// One client sending its next request just after each answer (a closed
// loop), 50 ms a batch on one worker: the rate (20/s) calls for batches of
// 1.25, but no arrival finds company, so waiting for some is useless.
// Before, every third request waited ~100 ms for the rate to fall.
TEST(BatchFormerTest, AClosedLoopClientsRequestsDoNotWaitForCompany) {
  BatchFormer f({.max_batch = 16, .expected_fixed_cost = milliseconds(50)});
  SteadyTime t = kT0;
  int waited = 0;
  for (int i = 0; i < 100; ++i) {
    f.Add(Member(t, std::chrono::seconds(5), i), t, /*running=*/0);
    const SteadyTime start = f.ReadyAt(t, 1);  // when a worker takes it
    ASSERT_NE(start, SteadyTime::max());
    ASSERT_TRUE(f.Ready(start, 1));
    if (start > t) {
      ++waited;
      // Only while the first arrivals teach it that none finds company.
      EXPECT_LT(i, 8) << "waited " << std::chrono::duration<double, std::milli>(start - t).count()
                      << " ms";
    }
    std::vector<Refusal> refused;
    ASSERT_EQ(f.Take(start, &refused).size(), 1u);
    f.Finished(1, milliseconds(50));
    t = start + milliseconds(50) + microseconds(100);  // the answer's round trip
  }
  EXPECT_GT(f.NeededBatch(t, 1), 1.0);  // the rate alone would wait
  EXPECT_FALSE(f.CompanyComes());
  EXPECT_LE(waited, 3);

  // Then arrivals independent of the answers (open loop at the same rate,
  // each finding the last batch running): company comes again, and after
  // a few arrivals a lone member waits for it.
  int found = 0;
  while (!f.CompanyComes()) {
    f.Add(Member(t, std::chrono::seconds(5), 1000 + found), t, /*running=*/1);
    std::vector<Refusal> refused;
    ASSERT_EQ(f.Take(t, &refused).size(), 1u);
    t += milliseconds(50);
    ASSERT_LT(++found, 8);
  }
  f.Add(Member(t, std::chrono::seconds(5), 2000), t, /*running=*/1);
  EXPECT_GT(f.NeededBatch(t, 1), 1.0);
  EXPECT_FALSE(f.Ready(t, 1));
  EXPECT_GT(f.ReadyAt(t, 1), t);
}

// Several clients, each sending its next request just after its answer:
// their answers go out together, their next requests come back together,
// and all but the first find company. But once all have a request here,
// no one is left to send another: the batch goes. Before, each batch of N
// waited ~33 ms (50 ms handlers) for the rate to fall. Arrivals from many
// clients, most of them idle, still wait for company.
TEST(BatchFormerTest, ClientsInAClosedLoopAreNotKeptWaitingForOneMore) {
  for (const uintptr_t n : {2, 3, 8}) {
    SCOPED_TRACE(n);
    BatchFormer f({.max_batch = 16, .expected_fixed_cost = milliseconds(50)});
    SteadyTime t = kT0;
    uint64_t id = 0;
    for (int round = 0; round < 40; ++round) {
      for (uintptr_t c = 1; c <= n; ++c) {  // 10 us apart
        f.Add(MemberOf(c, t, std::chrono::seconds(5), ++id), t);
        t += microseconds(10);
      }
      const SteadyTime start = f.ReadyAt(t, 1);
      ASSERT_TRUE(f.Ready(start, 1));
      EXPECT_EQ(start, t) << "round " << round << " waited "
                          << std::chrono::duration<double, std::milli>(start - t).count() << " ms";
      std::vector<Refusal> refused;
      const std::vector<Job> batch = f.Take(start, &refused);
      ASSERT_EQ(batch.size(), n);
      f.Finished(n, milliseconds(50));
      t = start + milliseconds(50);
      f.Ran(batch);
      t += microseconds(100);
    }
    EXPECT_TRUE(f.NeededBatch(t, 1) > static_cast<double>(n));  // the rate alone would wait
  }
  // Open loop from 200 clients, each sending now and then: most are idle,
  // so more may come, and a member waits for company as the rate says.
  BatchFormer f({.max_batch = 16, .expected_fixed_cost = milliseconds(50)});
  SteadyTime t = kT0;
  std::vector<Job> running;
  for (int i = 0; i < 100; ++i) {
    f.Add(MemberOf(static_cast<uintptr_t>(1 + i % 200), t, std::chrono::seconds(5), i), t,
          /*running=*/1);
    std::vector<Refusal> refused;
    f.Ran(running);
    running = f.Take(t, &refused);
    t += milliseconds(50);
  }
  f.Add(MemberOf(7, t, std::chrono::seconds(5), 1000), t, /*running=*/1);
  EXPECT_TRUE(f.NeededBatch(t, 1) > 1.0);
  EXPECT_FALSE(f.Ready(t, 1));
}

TEST(BatchFormerTest, ClosesWhenWaitingLongerWouldMissTheEarliestDeadline) {
  BatchFormer f({.max_batch = 64,
                 .expected_fixed_cost = milliseconds(2),
                 .expected_per_item_cost = microseconds(100),
                 .margin = milliseconds(1)});
  SteadyTime t = kT0;
  // A high rate, so the load rule wants a big batch.
  for (int i = 0; i < 4000; ++i) {
    f.Add(Member(t, std::chrono::seconds(10), i), t);
    t += microseconds(50);
  }
  std::vector<Refusal> refused;
  while (!f.empty()) f.Take(t, &refused);
  ASSERT_GT(f.NeededBatch(t, 1), 5);
  f.Add(Member(t, milliseconds(10), 1), t);
  f.Add(Member(t, milliseconds(20), 2), t);
  // Cost of two: 2.2 ms; the 10 ms deadline forces the batch out at
  // t + 10 - 2.2 - 1 (margin) = t + 6.8 ms.
  const SteadyTime forced = t + milliseconds(10) - microseconds(2200) - milliseconds(1);
  EXPECT_EQ(f.ReadyAt(t, 1), forced);
  EXPECT_FALSE(f.Ready(forced - microseconds(1), 1));
  EXPECT_TRUE(f.Ready(forced, 1));
}

// A lone member kept waiting for company by the load rule until the
// deadline rule closed its batch is still run when the worker takes the
// batch a little after that close time: the close's lateness comes out of
// the margin, not out of the member (it was refused expired_in_queue with
// most of its budget left).
TEST(BatchFormerTest, ALoneMemberClosedByItsDeadlineRunsWhenTakenALittleLate) {
  BatchFormer f(
      {.max_batch = 16, .expected_fixed_cost = milliseconds(50), .margin = milliseconds(1)});
  SteadyTime t = kT0;
  for (int i = 0; i < 40; ++i) {  // 20/s of 50 ms each on one worker
    // Open loop: each arrives as the last one's batch ends.
    f.Add(Member(t, std::chrono::seconds(10), i), t, /*running=*/1);
    std::vector<Refusal> refused;
    ASSERT_FALSE(f.Take(t, &refused).empty());
    t += milliseconds(50);
  }
  ASSERT_GT(f.NeededBatch(t, 1), 1.0);  // it waits for company
  f.Add(Member(t, milliseconds(120), 100), t);
  const SteadyTime close = t + milliseconds(120) - milliseconds(50) - milliseconds(1);
  ASSERT_FALSE(f.Ready(close - microseconds(1), 1));
  ASSERT_TRUE(f.Ready(close, 1));
  std::vector<Refusal> refused;
  const std::vector<Job> batch = f.Take(close + microseconds(300), &refused);
  EXPECT_EQ(Ids(batch), (std::vector<uint64_t>{100}));
  EXPECT_TRUE(refused.empty());
  // Past half the margin, it is refused: its answer would need the time
  // kept for its way home.
  f.Add(Member(t, milliseconds(120), 101), t);
  EXPECT_TRUE(f.Take(close + microseconds(600), &refused).empty());
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].reason, ShedReason::kExpiredInQueue);
}

TEST(BatchFormerTest, MaxDelayCapsTheWait) {
  BatchFormer f({.max_batch = 64,
                 .max_delay = milliseconds(2),
                 .expected_fixed_cost = milliseconds(1)});
  SteadyTime t = kT0;
  for (int i = 0; i < 40000; ++i) {  // a high rate: the load rule would wait
    f.Add(Member(t, std::chrono::seconds(10), i), t);
    t += microseconds(10);
  }
  std::vector<Refusal> refused;
  while (!f.empty()) f.Take(t, &refused);
  f.Add(Member(t, std::chrono::seconds(10), 1), t);
  EXPECT_FALSE(f.Ready(t + milliseconds(1), 1));
  EXPECT_EQ(f.ReadyAt(t, 1), t + milliseconds(2));
  EXPECT_TRUE(f.Ready(t + milliseconds(2), 1));
}

TEST(BatchFormerTest, FixedPolicyWaitsTheDelayEvenAlone) {
  // Triton's behaviour: a lone request waits max_delay for company.
  BatchFormer f({.policy = Policy::kFixed,
                 .max_batch = 8,
                 .max_delay = milliseconds(1)});
  const SteadyTime t = kT0;
  f.Add(Member(t, milliseconds(10), 1), t);
  EXPECT_FALSE(f.Ready(t, 1));
  EXPECT_FALSE(f.Ready(t + microseconds(999), 1));
  EXPECT_TRUE(f.Ready(t + milliseconds(1), 1));
  EXPECT_EQ(f.ReadyAt(t, 1), t + milliseconds(1));
  for (int i = 2; i <= 8; ++i) f.Add(Member(t, milliseconds(10), i), t);
  EXPECT_TRUE(f.Ready(t, 1));  // full
}

// Liveness, over random arrivals, costs and worker counts: whenever the
// pending members are not ready, ReadyAt names the earliest time they will
// be with nobody else coming, finite while they have deadlines. The waker
// sleeps until that time: later strands them, earlier makes it spin.
TEST(BatchFormerTest, ReadyAtIsExactlyWhenWaitingMembersBecomeReady) {
  std::mt19937 rng(20261204);  // fixed: the same cases every run
  for (int round = 0; round < 40; ++round) {
    std::uniform_int_distribution<int> pick(0, 3);
    BatchFormerOptions options{.max_batch = static_cast<size_t>(1 + pick(rng) * 5),
                               .max_delay = pick(rng) == 0 ? milliseconds(3) : nanoseconds(0),
                               .expected_fixed_cost = microseconds(pick(rng) * 300),
                               .expected_per_item_cost = microseconds(pick(rng) * 20)};
    BatchFormer f(options);
    const int workers = 1 + pick(rng) % 3;
    SteadyTime t = kT0;
    uint64_t id = 0;
    std::exponential_distribution<double> gap_us(1.0 / (pick(rng) == 0 ? 20 : 2000));
    std::uniform_int_distribution<int> budget_ms(5, 3000);
    std::uniform_int_distribution<int> cost_us(50, 250000);
    for (int step = 0; step < 300; ++step) {
      t += nanoseconds(static_cast<int64_t>(gap_us(rng) * 1000));
      f.Add(Member(t, milliseconds(budget_ms(rng)), ++id), t);
      if (f.Ready(t, workers)) {
        std::vector<Refusal> refused;
        const size_t n = f.Take(t, &refused).size();
        if (n > 0) f.Finished(n, microseconds(cost_us(rng)));
        continue;
      }
      const SteadyTime at = f.ReadyAt(t, workers);
      ASSERT_NE(at, SteadyTime::max()) << round << "/" << step;
      ASSERT_GT(at, t) << round << "/" << step;
      BatchFormer later = f;  // Ready() moves the rate meter on: ask copies
      ASSERT_TRUE(later.Ready(at, workers)) << round << "/" << step;
      BatchFormer sooner = f;
      ASSERT_FALSE(sooner.Ready(at - nanoseconds(1), workers)) << round << "/" << step;
      if (pick(rng) == 0) {  // sometimes nobody comes until then
        t = at;
        ASSERT_TRUE(f.Ready(t, workers));
        std::vector<Refusal> refused;
        const size_t n = f.Take(t, &refused).size();
        if (n > 0) f.Finished(n, microseconds(cost_us(rng)));
      }
    }
  }
}

TEST(BatchFormerTest, ExpiredMembersAreRefusedBeforeTheBatchRuns) {
  BatchFormer f({.max_batch = 8,
                 .expected_fixed_cost = milliseconds(1),
                 .margin = milliseconds(1)});
  const SteadyTime t = kT0;
  f.Add(Member(t, milliseconds(3), 1), t);   // 1 ms left at t + 2 ms
  f.Add(Member(t, milliseconds(20), 2), t);
  std::vector<Refusal> refused;
  std::vector<Job> batch = f.Take(t + milliseconds(2), &refused);
  EXPECT_EQ(Ids(batch), (std::vector<uint64_t>{2}));
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].job.id, 1u);
  EXPECT_EQ(refused[0].reason, ShedReason::kExpiredInQueue);
}

TEST(BatchFormerTest, EveryMemberMustFinishInTimeSoTheBatchShrinks) {
  // 1 ms per item: the earliest deadline (6 ms away, 1 ms margin) allows a
  // batch of 5, not of 8.
  BatchFormer f({.max_batch = 8,
                 .expected_per_item_cost = milliseconds(1),
                 .margin = milliseconds(1)});
  const SteadyTime t = kT0;
  for (int i = 0; i < 8; ++i) f.Add(Member(t, milliseconds(6 + i), i), t);
  std::vector<Refusal> refused;
  EXPECT_EQ(f.Take(t, &refused).size(), 5u);
  EXPECT_TRUE(refused.empty());
  EXPECT_EQ(f.pending(), 3u);
}

TEST(BatchFormerTest, MembersWhoseClientLeftAreDropped) {
  BatchFormer f({.max_batch = 8});
  const SteadyTime t = kT0;
  std::vector<std::shared_ptr<Exchange>> exchanges;
  for (int i = 0; i < 3; ++i) {
    exchanges.push_back(std::make_shared<Exchange>(
        http::Request(), std::vector<std::pair<std::string, std::string>>{}, t,
        t + milliseconds(100), 0, nullptr, nullptr, nullptr));
    Job j = Member(t, milliseconds(100), i);
    j.exchange = exchanges.back();
    f.Add(std::move(j), t);
  }
  exchanges[1]->Unbind();  // the client went away
  std::vector<Refusal> refused;
  EXPECT_EQ(Ids(f.Take(t, &refused)), (std::vector<uint64_t>{0, 2}));
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].job.id, 1u);  // handed back; not answered (it was)
}

// A batch that cannot grow goes at once: with the queue full every arrival
// is refused, so waiting for company (a fixed delay, or the batch size the
// arrival rate asks for) only left the worker idle while the load was
// turned away (queue_capacity 2: a few hundred of 90,000 answered).
TEST(DeadlinePolicyBatchTest, ABatchThatCannotGrowRunsAtOnce) {
  for (const auto policy : {Policy::kFixed, Policy::kDeadline}) {
    SCOPED_TRACE(policy == Policy::kFixed ? "fixed" : "deadline");
    DeadlinePolicy p({.capacity = 2, .workers = 1,
                      .batch = {BatchFormerOptions{.policy = policy,
                                                   .max_batch = 32,
                                                   .max_delay = std::chrono::seconds(1)}}});
    std::vector<Refusal> refused;
    Job a = Member(kT0, std::chrono::seconds(5), 1);
    ASSERT_FALSE(p.Admit(a, kT0).has_value());
    if (policy == Policy::kFixed) {
      EXPECT_FALSE(p.Next(kT0, &refused).has_value());  // it may still grow
      EXPECT_EQ(p.AfterAdmit(0, kT0).closes, kT0 + std::chrono::seconds(1));
    }
    Job b = Member(kT0, std::chrono::seconds(5), 2);
    ASSERT_FALSE(p.Admit(b, kT0).has_value());
    Job c = Member(kT0, std::chrono::seconds(5), 3);
    EXPECT_EQ(p.Admit(c, kT0), ShedReason::kQueueFull);
    EXPECT_TRUE(p.AfterAdmit(0, kT0).worker);
    EXPECT_TRUE(p.NextWake(kT0).now);
    std::optional<Job> batch = p.Next(kT0, &refused);
    ASSERT_TRUE(batch.has_value());
    EXPECT_EQ(Ids(batch->batch), (std::vector<uint64_t>{1, 2}));
  }
}

// One worker, one deadline-policy route whose batches are expected to take
// 50 ms: the closed-loop clients' tests below.
DeadlinePolicyOptions OneFiftyMsRoute() {
  return {.workers = 1,
          .batch = {BatchFormerOptions{.max_batch = 16, .expected_fixed_cost = milliseconds(50)}}};
}

// The policy tells the former which arrivals find a batch running: one
// client's requests, each sent after the last answer, never wait for
// company on a free worker; arrivals that come while a batch runs do.
TEST(DeadlinePolicyBatchTest, OnlyArrivalsThatFindCompanyWaitForMore) {
  DeadlinePolicy p(OneFiftyMsRoute());
  SteadyTime t = kT0;
  std::vector<Refusal> refused;
  uint64_t id = 0;
  for (int i = 0; i < 60; ++i) {  // closed loop: 50 ms, then the next
    Job j = Member(t, std::chrono::seconds(5), ++id);
    ASSERT_FALSE(p.Admit(j, t).has_value());
    std::optional<Job> batch = p.Next(t, &refused);
    if (i >= 8) {
      ASSERT_TRUE(batch.has_value()) << i;  // at once
    }
    if (!batch.has_value()) {
      const SteadyTime at = p.AfterAdmit(0, t).closes;
      ASSERT_NE(at, SteadyTime::max());
      t = at;
      batch = p.Next(t, &refused);
      ASSERT_TRUE(batch.has_value());
    }
    t += milliseconds(50);
    p.Finished(*batch, milliseconds(50), t);
    t += microseconds(100);
  }
  // Open loop at the same rate: each arrival finds the last batch running.
  Job j = Member(t, std::chrono::seconds(5), ++id);
  ASSERT_FALSE(p.Admit(j, t).has_value());
  std::optional<Job> running = p.Next(t, &refused);
  ASSERT_TRUE(running.has_value());
  bool waits = false;
  for (int i = 0; i < 8 && !waits; ++i) {
    t += milliseconds(50);
    Job k = Member(t, std::chrono::seconds(5), ++id);
    ASSERT_FALSE(p.Admit(k, t).has_value());  // while `running` runs
    p.Finished(*running, milliseconds(50), t);
    running = p.Next(t, &refused);
    waits = !running.has_value();  // the free worker waits for company
  }
  EXPECT_TRUE(waits);
}

// Through the policy: three clients in a closed loop are never kept waiting
// for a fourth; Finished() lets a batch's clients send again, so when one
// of them then sends alone, the others may still come, and it waits.
TEST(DeadlinePolicyBatchTest, ClosedLoopClientsAreNotHeldForOneMore) {
  DeadlinePolicy p(OneFiftyMsRoute());
  SteadyTime t = kT0;
  std::vector<Refusal> refused;
  uint64_t id = 0;
  for (int i = 0; i < 40; ++i) {
    for (uintptr_t c = 1; c <= 3; ++c) {
      Job j = MemberOf(c, t, std::chrono::seconds(5), ++id);
      ASSERT_FALSE(p.Admit(j, t).has_value());
      t += microseconds(10);
    }
    std::optional<Job> batch = p.Next(t, &refused);
    ASSERT_TRUE(batch.has_value()) << i;  // at once
    EXPECT_EQ(batch->batch.size(), 3u);
    t += milliseconds(50);
    p.Finished(*batch, milliseconds(50), t);
    t += microseconds(100);
  }
  Job alone = MemberOf(1, t, std::chrono::seconds(5), ++id);
  ASSERT_FALSE(p.Admit(alone, t).has_value());
  EXPECT_FALSE(p.Next(t, &refused).has_value());  // clients 2 and 3 may come
}

TEST(DeadlinePolicyBatchTest, BatchRouteIsAdmittedFormedAndLearned) {
  DeadlinePolicy p({.workers = 1,
                    .batch = {BatchFormerOptions{
                        .max_batch = 4,
                        .expected_fixed_cost = milliseconds(1),
                        .expected_per_item_cost = microseconds(100)}}});
  SteadyTime t = kT0;
  std::vector<Refusal> refused;
  // The worker is busy with a first batch; four more arrive meanwhile.
  Job first = Member(t, milliseconds(50), 1);
  ASSERT_FALSE(p.Admit(first, t).has_value());
  std::optional<Job> running = p.Next(t, &refused);
  ASSERT_TRUE(running.has_value());
  ASSERT_TRUE(running->is_batch());
  EXPECT_EQ(running->batch.size(), 1u);
  for (uint64_t i = 2; i <= 5; ++i) {
    Job j = Member(t, milliseconds(50), i);
    ASSERT_FALSE(p.Admit(j, t).has_value());
  }
  EXPECT_FALSE(p.Next(t, &refused).has_value());  // one worker, busy
  p.Finished(*running, microseconds(1100), t + microseconds(1100));
  std::optional<Job> next = p.Next(t + microseconds(1100), &refused);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(Ids(next->batch), (std::vector<uint64_t>{2, 3, 4, 5}));  // full
  p.Finished(*next, microseconds(1400), t + microseconds(2500));
  ASSERT_TRUE(p.BatchCostFor(0).has_value());
  // A request that cannot finish even in a batch of its own is refused now.
  Job hopeless = Member(t, microseconds(500), 9);
  EXPECT_EQ(p.Admit(hopeless, t + microseconds(2500)), ShedReason::kPredictedLate);
}

// Past the first batch, a position's own batch holds position % max_batch
// members before it (it was priced as a full one).
TEST(BatchFormerTest, PredictedServiceCountsFullBatchesAheadThenItsOwn) {
  BatchFormer f({.max_batch = 4,
                 .expected_fixed_cost = milliseconds(1),
                 .expected_per_item_cost = microseconds(100)});
  EXPECT_EQ(f.PredictedService(0, 1), microseconds(1100));
  EXPECT_EQ(f.PredictedService(3, 1), microseconds(1400));
  // One full batch ahead (1.4 ms), then a batch of two.
  EXPECT_EQ(f.PredictedService(5, 1), microseconds(1400 + 1200));
  // Two full batches ahead on two workers: one batch's time.
  EXPECT_EQ(f.PredictedService(8, 2), microseconds(1400 + 1100));
}

// A tight arrival goes ahead of the members due after it (earliest deadline
// first), so only those due before it count against its budget: admitted
// behind 100 members with 1 s budgets, it is the front of the next batch.
// (Every pending member was counted: it was refused, predicted at 34 ms.)
TEST(DeadlinePolicyBatchTest, OnlyMembersDueBeforeAnArrivalAreAheadOfIt) {
  DeadlinePolicy p({.capacity = 1024,
                    .workers = 1,
                    .batch = {BatchFormerOptions{.max_batch = 32,
                                                 .expected_fixed_cost = milliseconds(5),
                                                 .expected_per_item_cost = microseconds(100)}}});
  for (uint64_t i = 1; i <= 100; ++i) {
    Job loose = Member(kT0, std::chrono::seconds(1), i);
    ASSERT_FALSE(p.Admit(loose, kT0).has_value()) << i;
  }
  Job tight = Member(kT0, milliseconds(20), 999);
  EXPECT_FALSE(p.Admit(tight, kT0).has_value());
  std::vector<Refusal> refused;
  std::optional<Job> batch = p.Next(kT0, &refused);
  ASSERT_TRUE(batch.has_value());
  ASSERT_FALSE(batch->batch.empty());
  EXPECT_EQ(batch->batch.front().id, 999u);
  EXPECT_TRUE(refused.empty());
}

// A running batch delays an arrival once: until its worker is free. Its
// time was also added as the route's own work ahead, so with one worker a
// 14 ms budget behind a running 5.1 ms batch (5.1 + 5.1 + 1 ms margin) was
// refused.
TEST(DeadlinePolicyBatchTest, ARunningBatchIsCountedAheadOnce) {
  DeadlinePolicy p({.workers = 1,
                    .batch = {BatchFormerOptions{.max_batch = 32,
                                                 .expected_fixed_cost = milliseconds(5),
                                                 .expected_per_item_cost = microseconds(100)}}});
  SteadyTime t = kT0;
  std::vector<Refusal> refused;
  uint64_t id = 1;
  for (int k = 0; k < 20; ++k) {  // learned: a batch of one takes 5.1 ms
    Job j = Member(t, std::chrono::seconds(1), id++);
    ASSERT_FALSE(p.Admit(j, t).has_value());
    std::optional<Job> one = p.Next(t, &refused);
    ASSERT_TRUE(one.has_value());
    t += microseconds(5100);
    p.Finished(*one, microseconds(5100), t);
    t += milliseconds(200);
  }
  Job j = Member(t, std::chrono::seconds(1), id++);
  ASSERT_FALSE(p.Admit(j, t).has_value());
  std::optional<Job> running = p.Next(t, &refused);  // the worker is busy now
  ASSERT_TRUE(running.has_value());
  Job next = Member(t, milliseconds(14), id++);
  EXPECT_FALSE(p.Admit(next, t).has_value());
  // What cannot finish behind it is still refused at once.
  Job hopeless = Member(t, milliseconds(9), id++);
  EXPECT_EQ(p.Admit(hopeless, t), ShedReason::kPredictedLate);
}

// A batch whose handler failed (threw, or gave the wrong number of
// answers) quickly says nothing of what a batch costs: the cost model stays
// as it was. One that failed slowly (a backend hanging until a timeout)
// raises it. A batch some of whose members were answered while queued is
// learned as the size that ran.
TEST(DeadlinePolicyBatchTest, TheCostModelLearnsFailedBatchesOnlyWhenSlow) {
  const auto policy = [] {
    return std::make_unique<DeadlinePolicy>(DeadlinePolicyOptions{
        .workers = 1,
        .batch = {BatchFormerOptions{.max_batch = 8,
                                     .expected_fixed_cost = milliseconds(1),
                                     .expected_per_item_cost = microseconds(100)}}});
  };
  const SteadyTime t = kT0;
  std::vector<Refusal> refused;
  // Runs a batch of `members` whose handler took `took` for `ran` of them.
  const auto run = [&](DeadlinePolicy& p, uint64_t members, size_t ran, bool failed,
                       std::chrono::nanoseconds took) {
    for (uint64_t i = 1; i <= members; ++i) {
      Job j = Member(t, milliseconds(50), i);
      ASSERT_FALSE(p.Admit(j, t).has_value());
    }
    std::optional<Job> batch = p.Next(t, &refused);
    ASSERT_TRUE(batch.has_value());
    ASSERT_EQ(batch->batch.size(), members);
    batch->batch_ran = ran;
    batch->failed = failed;
    p.Finished(*batch, took, t + took);
  };
  const auto cost = [](DeadlinePolicy& p) {
    const std::optional<AdmissionPolicy::Estimate> c = p.BatchCostFor(0);
    return std::make_pair(c->mean, c->deviation);
  };
  const auto estimate = [](DeadlinePolicy& p) { return p.EstimatesFor(0)->handler.mean; };
  std::unique_ptr<DeadlinePolicy> untouched = policy();
  // Expected: 1 ms + 8 x 100 us = 1.8 ms.
  std::unique_ptr<DeadlinePolicy> quick_failure = policy();
  run(*quick_failure, 8, 8, /*failed=*/true, microseconds(200));
  EXPECT_EQ(cost(*quick_failure), cost(*untouched));
  std::unique_ptr<DeadlinePolicy> quick_success = policy();
  run(*quick_success, 8, 8, /*failed=*/false, microseconds(200));
  EXPECT_LT(cost(*quick_success).first, cost(*untouched).first);  // a sound batch is learned
  std::unique_ptr<DeadlinePolicy> slow_failure = policy();
  run(*slow_failure, 8, 8, /*failed=*/true, milliseconds(50));
  EXPECT_GT(cost(*slow_failure).first, cost(*untouched).first);
  EXPECT_GT(estimate(*slow_failure), estimate(*untouched));

  std::unique_ptr<DeadlinePolicy> two_of_eight = policy();
  run(*two_of_eight, 8, 2, /*failed=*/false, milliseconds(5));
  std::unique_ptr<DeadlinePolicy> two = policy();
  run(*two, 2, 2, /*failed=*/false, milliseconds(5));
  std::unique_ptr<DeadlinePolicy> eight = policy();
  run(*eight, 8, 8, /*failed=*/false, milliseconds(5));
  EXPECT_EQ(cost(*two_of_eight), cost(*two));
  EXPECT_NE(cost(*two_of_eight), cost(*eight));
}

// One slow first batch (a cold start: 18 ms) taught the cost model that a
// batch of one takes 18 ms; with 10 ms budgets every arrival is refused on
// that cost alone, so no batch runs and the model never learns again.
// After ten times that cost (19 ms with the margin) without a
// measurement, one arrival is admitted as a probe, runs although the model
// says it is late, and restarts the model.
TEST(DeadlinePolicyBatchTest, AStaleBatchCostIsProbedAndRestarted) {
  DeadlinePolicy p({.workers = 1, .batch = {BatchFormerOptions{.max_batch = 32}}});
  SteadyTime t = kT0;
  std::vector<Refusal> refused;
  Job cold = Member(t, milliseconds(50), 1);
  ASSERT_FALSE(p.Admit(cold, t).has_value());
  std::optional<Job> run = p.Next(t, &refused);
  ASSERT_TRUE(run.has_value());
  p.Finished(*run, milliseconds(18), t + milliseconds(18));
  t += milliseconds(150);
  Job early = Member(t, milliseconds(10), 2);
  EXPECT_EQ(p.Admit(early, t), ShedReason::kPredictedLate);  // too soon to probe
  t = kT0 + milliseconds(18 + 200);
  Job probe = Member(t, milliseconds(10), 3);
  ASSERT_FALSE(p.Admit(probe, t).has_value());
  Job second = Member(t, milliseconds(10), 4);
  EXPECT_EQ(p.Admit(second, t), ShedReason::kPredictedLate);  // one probe
  run = p.Next(t, &refused);  // not dropped as unable to finish in time
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(Ids(run->batch), (std::vector<uint64_t>{3}));
  EXPECT_TRUE(refused.empty());
  p.Finished(*run, microseconds(100), t + microseconds(100));
  EXPECT_EQ(p.BatchCostFor(0)->mean + p.BatchCostFor(0)->deviation,
            microseconds(100));  // a + b for a batch of one
  t += milliseconds(1);
  Job after = Member(t, milliseconds(10), 5);
  EXPECT_FALSE(p.Admit(after, t).has_value());
  EXPECT_FALSE(after.probe);
}

// One worker, one route batching up to 8 for up to 3 ms (Triton's rule).
DeadlinePolicyOptions OneFixedRoute() {
  return {.workers = 1,
          .batch = {BatchFormerOptions{.policy = BatchFormerOptions::Policy::kFixed,
                                       .max_batch = 8,
                                       .max_delay = milliseconds(3)}}};
}

TEST(DeadlinePolicyBatchTest, NextWakeIsTheEarliestForcedClose) {
  DeadlinePolicy p(OneFixedRoute());
  const SteadyTime t = kT0;
  EXPECT_EQ(p.NextWake(t).next, SteadyTime::max());
  EXPECT_FALSE(p.NextWake(t).now);
  Job j = Member(t, milliseconds(50), 1);
  ASSERT_FALSE(p.Admit(j, t).has_value());
  EXPECT_EQ(p.NextWake(t).next, t + milliseconds(3));
  EXPECT_FALSE(p.NextWake(t).now);
  std::vector<Refusal> refused;
  EXPECT_FALSE(p.Next(t + milliseconds(1), &refused).has_value());
  EXPECT_TRUE(p.Next(t + milliseconds(3), &refused).has_value());
}

TEST(DeadlinePolicyBatchTest, NextWakeSendsAWorkerForABatchThatClosedUnseen) {
  // The member's arrival found its batch not runnable; its close time has
  // come since, with no arrival to notice: the waker must send a worker,
  // unless the route's only worker is busy (it takes the batch when done).
  DeadlinePolicy p(OneFixedRoute());
  const SteadyTime t = kT0;
  Job a = Member(t, milliseconds(50), 1);
  ASSERT_FALSE(p.Admit(a, t).has_value());
  ASSERT_FALSE(p.AfterAdmit(0, t).worker);
  AdmissionPolicy::WakePlan plan = p.NextWake(t + milliseconds(3));
  EXPECT_TRUE(plan.now);
  EXPECT_EQ(plan.next, SteadyTime::max());

  std::vector<Refusal> refused;
  std::optional<Job> running = p.Next(t + milliseconds(3), &refused);
  ASSERT_TRUE(running.has_value());
  Job b = Member(t + milliseconds(3), milliseconds(50), 2);
  ASSERT_FALSE(p.Admit(b, t + milliseconds(3)).has_value());
  plan = p.NextWake(t + milliseconds(7));  // b's close time came
  EXPECT_FALSE(plan.now);                  // but the worker is busy
  EXPECT_EQ(plan.next, SteadyTime::max());
  p.Finished(*running, milliseconds(1), t + milliseconds(7));
  EXPECT_TRUE(p.NextWake(t + milliseconds(7)).now);
}

// Two workers, a 100 ms active window: route 0 a batch route with
// `batch`, route 1 a plain one.
DeadlinePolicyOptions WithPlainRoute(BatchFormerOptions batch) {
  return {.workers = 2, .batch = {batch}, .active_window = milliseconds(100)};
}

// Runs one request of route 1 from `t` to `t` + 1 ms: route 1 is then
// active (the bulkhead holds route 0 to one worker) until `t` + 101 ms.
void ActivatePlainRoute(DeadlinePolicy& p, SteadyTime t) {
  std::vector<Refusal> refused;
  Job b = Member(t, milliseconds(500), 100);
  b.route = 1;
  ASSERT_FALSE(p.Admit(b, t).has_value());
  std::optional<Job> other = p.Next(t, &refused);
  ASSERT_TRUE(other.has_value());
  p.Finished(*other, milliseconds(1), t + milliseconds(1));
}

TEST(DeadlinePolicyBatchTest, ABatchHeldByTheBulkheadIsWokenAtTheGiveBack) {
  // Two workers; the batch route runs one batch and leaves the other
  // worker to route 1 while route 1 is active. The next batch closes while
  // the first still runs: it may start on the second worker once route 1's
  // active window ends, with no event to say so but NextWake.
  DeadlinePolicy p(WithPlainRoute(BatchFormerOptions{
      .policy = BatchFormerOptions::Policy::kFixed, .max_batch = 8, .max_delay = milliseconds(3)}));
  const SteadyTime t = kT0;
  std::vector<Refusal> refused;
  ActivatePlainRoute(p, t);  // active to +101 ms
  Job a1 = Member(t + milliseconds(10), milliseconds(500), 1);
  ASSERT_FALSE(p.Admit(a1, t + milliseconds(10)).has_value());
  ASSERT_TRUE(p.Next(t + milliseconds(13), &refused).has_value());  // runs on
  Job a2 = Member(t + milliseconds(20), milliseconds(500), 2);
  ASSERT_FALSE(p.Admit(a2, t + milliseconds(20)).has_value());
  EXPECT_FALSE(p.Next(t + milliseconds(23), &refused).has_value());  // held
  AdmissionPolicy::WakePlan plan = p.NextWake(t + milliseconds(23));
  EXPECT_FALSE(plan.now);
  EXPECT_EQ(plan.next, t + milliseconds(101));
  plan = p.NextWake(t + milliseconds(101));
  EXPECT_TRUE(plan.now);
  std::optional<Job> second = p.Next(t + milliseconds(101), &refused);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->batch.size(), 1u);
  EXPECT_EQ(second->batch.front().id, 2u);
}

TEST(DeadlinePolicyBatchTest, AReadyBatchHeldByTheBulkheadAsksForTheGiveBack) {
  // A batch ready at its arrival (full at one member) while its route is
  // held to one of two workers: the arrival may wake no worker, but must
  // tell the waker when the second worker comes back.
  DeadlinePolicy p(WithPlainRoute(
      BatchFormerOptions{.policy = BatchFormerOptions::Policy::kDeadline, .max_batch = 1}));
  const SteadyTime t = kT0;
  std::vector<Refusal> refused;
  ActivatePlainRoute(p, t);  // active to +101 ms
  Job a1 = Member(t + milliseconds(10), milliseconds(500), 1);
  ASSERT_FALSE(p.Admit(a1, t + milliseconds(10)).has_value());
  EXPECT_TRUE(p.AfterAdmit(0, t + milliseconds(10)).worker);
  ASSERT_TRUE(p.Next(t + milliseconds(10), &refused).has_value());
  Job a2 = Member(t + milliseconds(20), milliseconds(500), 2);
  ASSERT_FALSE(p.Admit(a2, t + milliseconds(20)).has_value());
  const AdmissionPolicy::WakeAfterAdmit wake = p.AfterAdmit(0, t + milliseconds(20));
  EXPECT_FALSE(wake.worker);
  EXPECT_EQ(wake.closes, t + milliseconds(101));
  EXPECT_TRUE(p.NextWake(t + milliseconds(101)).now);
  ASSERT_TRUE(p.Next(t + milliseconds(101), &refused).has_value());
}

TEST(DeadlinePolicyBatchTest, AfterAdmitWakesAWorkerOnlyForARunnableBatch) {
  // kFixed: a member waits for the delay, so the arrival needs no worker,
  // only the waker at the close time; the third fills the batch.
  DeadlinePolicy p({.workers = 1,
                    .batch = {BatchFormerOptions{
                                  .policy = BatchFormerOptions::Policy::kFixed,
                                  .max_batch = 3,
                                  .max_delay = milliseconds(3)},
                              std::nullopt}});
  const SteadyTime t = kT0;
  Job a = Member(t, milliseconds(50), 1);
  ASSERT_FALSE(p.Admit(a, t).has_value());
  AdmissionPolicy::WakeAfterAdmit w = p.AfterAdmit(0, t);
  EXPECT_FALSE(w.worker);
  EXPECT_EQ(w.closes, t + milliseconds(3));
  Job b = Member(t + milliseconds(1), milliseconds(50), 2);
  ASSERT_FALSE(p.Admit(b, t + milliseconds(1)).has_value());
  w = p.AfterAdmit(0, t + milliseconds(1));
  EXPECT_FALSE(w.worker);
  EXPECT_EQ(w.closes, t + milliseconds(3));  // the oldest member's delay
  Job c = Member(t + milliseconds(2), milliseconds(50), 3);
  ASSERT_FALSE(p.Admit(c, t + milliseconds(2)).has_value());
  w = p.AfterAdmit(0, t + milliseconds(2));
  EXPECT_TRUE(w.worker);  // full
  EXPECT_EQ(w.closes, SteadyTime::max());

  // The batch runs on the only worker; a full batch behind it waits for
  // that worker to finish, which takes it (no wake-up needed).
  std::vector<Refusal> refused;
  std::optional<Job> running = p.Next(t + milliseconds(2), &refused);
  ASSERT_TRUE(running.has_value());
  for (uint64_t i = 4; i <= 6; ++i) {
    Job j = Member(t + milliseconds(2), milliseconds(50), i);
    ASSERT_FALSE(p.Admit(j, t + milliseconds(2)).has_value());
  }
  w = p.AfterAdmit(0, t + milliseconds(2));
  EXPECT_FALSE(w.worker);
  EXPECT_EQ(w.closes, SteadyTime::max());

  // An ordinary route always asks for a worker.
  Job plain{.route = 1, .arrival = t, .deadline = t + milliseconds(50), .id = 7};
  ASSERT_FALSE(p.Admit(plain, t + milliseconds(2)).has_value());
  w = p.AfterAdmit(1, t + milliseconds(2));
  EXPECT_TRUE(w.worker);
  EXPECT_EQ(w.closes, SteadyTime::max());
}

}  // namespace
}  // namespace brisk::internal
