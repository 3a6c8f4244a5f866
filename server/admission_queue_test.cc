#include "server/admission_queue.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "gtest/gtest.h"

namespace brisk {
namespace {

using std::chrono::milliseconds;
using Fn = absl::AnyInvocable<void()>;
using Queue = AdmissionQueue<Fn>;
using TimePoint = Queue::TimePoint;

// Pushes an item that appends `tag` to `log` when run.
bool Push(Queue& q, std::vector<int>& log, int tag, TimePoint now) {
  absl::AnyInvocable<void()> fn = [&log, tag] { log.push_back(tag); };
  return q.TryPush(fn, now);
}

TEST(AdmissionQueueTest, RejectsWhenFullAndLeavesPayloadIntact) {
  Queue q({.capacity = 2});
  TimePoint t0{};
  std::vector<int> log;
  EXPECT_TRUE(Push(q, log, 1, t0));
  EXPECT_TRUE(Push(q, log, 2, t0));
  bool ran = false;
  absl::AnyInvocable<void()> third = [&ran] { ran = true; };
  EXPECT_FALSE(q.TryPush(third, t0));
  ASSERT_TRUE(third != nullptr);
  third();
  EXPECT_TRUE(ran);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.stats().rejected_full, 1u);
}

// An item removed (its request went away while queued) frees its place at
// once; the others keep their order.
TEST(AdmissionQueueTest, RemoveFirstFreesThePlace) {
  AdmissionQueue<int> q({.capacity = 2});
  TimePoint t0{};
  int one = 1, two = 2, three = 3;
  ASSERT_TRUE(q.TryPush(one, t0));
  ASSERT_TRUE(q.TryPush(two, t0));
  EXPECT_FALSE(q.TryPush(three, t0));
  EXPECT_FALSE(q.RemoveFirst([](int v) { return v == 9; }));
  EXPECT_TRUE(q.RemoveFirst([](int v) { return v == 1; }));
  EXPECT_EQ(q.size(), 1u);
  EXPECT_TRUE(q.TryPush(three, t0));
  std::vector<AdmissionQueue<int>::Item> expired;
  EXPECT_EQ(q.Pop(t0, &expired)->payload, 2);
  EXPECT_EQ(q.Pop(t0, &expired)->payload, 3);
  EXPECT_TRUE(expired.empty());
}

TEST(AdmissionQueueTest, FifoWithoutStandingQueue) {
  Queue q({.capacity = 8});
  TimePoint t0{};
  std::vector<int> log;
  for (int i = 0; i < 3; ++i) Push(q, log, i, t0);
  std::vector<Queue::Item> expired;
  while (auto item = q.Pop(t0 + milliseconds(1), &expired)) item->payload();
  EXPECT_EQ(log, (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(expired.empty());
}

TEST(AdmissionQueueTest, StandingQueueTurnsLifoAndExpiresAfterTarget) {
  Queue q({.capacity = 100, .target = milliseconds(5),
                    .interval = milliseconds(100)});
  TimePoint t0{};
  std::vector<int> log;
  std::vector<Queue::Item> expired;
  // The queue never empties: items keep arriving every 10 ms for 150 ms,
  // one is served every 20 ms.
  int tag = 0;
  for (int ms = 0; ms <= 150; ms += 10) {
    Push(q, log, tag++, t0 + milliseconds(ms));
    if (ms % 20 == 0 && ms < 100) {
      auto item = q.Pop(t0 + milliseconds(ms), &expired);
      ASSERT_TRUE(item.has_value());
    }
  }
  EXPECT_FALSE(q.Standing(t0 + milliseconds(50)));
  EXPECT_TRUE(q.Standing(t0 + milliseconds(151)));
  // Standing at 151 ms: items older than 5 ms are expired, the newest
  // (pushed at 150 ms, tag 15) runs first.
  log.clear();
  expired.clear();
  auto item = q.Pop(t0 + milliseconds(151), &expired);
  ASSERT_TRUE(item.has_value());
  item->payload();
  EXPECT_EQ(log, std::vector<int>{15});
  EXPECT_FALSE(expired.empty());
  for (const auto& e : expired) {
    EXPECT_GT(t0 + milliseconds(151) - e.enqueued, milliseconds(5));
  }
  EXPECT_EQ(q.size(), 0u);
  EXPECT_GT(q.stats().lifo_pops, 0u);
}

TEST(AdmissionQueueTest, SheddingDoesNotEndTheStandingState) {
  // 2x overload on one worker: two arrivals per millisecond, one service.
  // Each Pop may expire everything old and leave the queue empty; that must
  // not count as drained, or the queue flips back to FIFO with the long
  // (interval) timeout and admitted requests wait up to 100 ms.
  Queue q({.capacity = 1000, .target = milliseconds(5),
           .interval = milliseconds(100)});
  TimePoint t0{};
  std::vector<int> log;
  std::vector<Queue::Item> expired;
  std::chrono::nanoseconds worst_served_wait{0};
  int tag = 0;
  for (int ms = 0; ms < 1000; ++ms) {
    const TimePoint now = t0 + milliseconds(ms);
    Push(q, log, tag++, now);
    Push(q, log, tag++, now);
    if (ms % 150 == 149) {  // now and then the worker stalls 8 ms...
      continue;
    }
    if (auto item = q.Pop(now, &expired)) {
      worst_served_wait = std::max(worst_served_wait, now - item->enqueued);
    }
    // ...and sometimes everything left is expired at once (queue empty).
  }
  EXPECT_GT(q.stats().expired, 0u);
  // Past the first interval, every served request is the newest: a request
  // never waits longer than the target once the queue stands.
  EXPECT_TRUE(q.Standing(t0 + milliseconds(999)));
  EXPECT_LE(worst_served_wait, milliseconds(100));
  log.clear();
  std::vector<Queue::Item> late;
  // Served waits after the queue started standing stay within the target.
  for (int ms = 1000; ms < 1200; ++ms) {
    const TimePoint now = t0 + milliseconds(ms);
    Push(q, log, tag++, now);
    Push(q, log, tag++, now);
    EXPECT_TRUE(q.Standing(now)) << ms;
    if (auto item = q.Pop(now, &late)) {
      EXPECT_LE(now - item->enqueued, milliseconds(5)) << ms;
    }
    // Now and then everything left expires at once: the queue goes empty by
    // shedding, and must still count as standing at the next arrivals.
    if (ms % 50 == 0) {
      EXPECT_FALSE(q.Pop(now + milliseconds(6), &late).has_value());
      EXPECT_EQ(q.size(), 0u);
    }
  }
}

TEST(AdmissionQueueTest, ServiceDrainingTheQueueEndsTheStandingState) {
  Queue q({.capacity = 100, .target = milliseconds(5),
           .interval = milliseconds(100)});
  TimePoint t0{};
  std::vector<int> log;
  std::vector<Queue::Item> expired;
  for (int ms = 0; ms <= 200; ms += 10) Push(q, log, ms, t0 + milliseconds(ms));
  EXPECT_TRUE(q.Standing(t0 + milliseconds(201)));
  // One Pop expires every item older than the target and serves the newest:
  // the queue is empty, but shedding emptied it.
  ASSERT_TRUE(q.Pop(t0 + milliseconds(201), &expired).has_value());
  EXPECT_EQ(q.size(), 0u);
  EXPECT_FALSE(expired.empty());
  // Emptied by expiry: still overloaded.
  Push(q, log, 1, t0 + milliseconds(202));
  EXPECT_TRUE(q.Standing(t0 + milliseconds(203)));
  // Served to empty with nothing expired: drained. Once an interval has
  // also passed since the last shed (at 201 ms), the queue is ordinary again.
  ASSERT_TRUE(q.Pop(t0 + milliseconds(203), &expired).has_value());
  Push(q, log, 2, t0 + milliseconds(302));
  EXPECT_FALSE(q.Standing(t0 + milliseconds(303)));
}

// Under CoDel the reactor withdraws what expired at its deadline (or whose
// client left) while queued: a queue so emptied was not drained by service
// and still stands at the next arrivals. Counted as drained, it went back
// to FIFO with the long (interval) timeout in the middle of the overload.
TEST(AdmissionQueueTest, WithdrawalsEmptyingTheQueueDoNotEndTheStandingState) {
  Queue q({.capacity = 100, .target = milliseconds(5), .interval = milliseconds(100)});
  TimePoint t0{};
  std::vector<int> log;
  for (int ms = 0; ms <= 200; ms += 10) Push(q, log, ms, t0 + milliseconds(ms));
  EXPECT_TRUE(q.Standing(t0 + milliseconds(201)));
  while (q.RemoveFirst([](const auto&) { return true; })) {
  }
  EXPECT_EQ(q.size(), 0u);
  Push(q, log, 1, t0 + milliseconds(202));
  EXPECT_TRUE(q.Standing(t0 + milliseconds(203)));
  // Served to empty: drained. An ordinary queue again.
  std::vector<Queue::Item> expired;
  ASSERT_TRUE(q.Pop(t0 + milliseconds(203), &expired).has_value());
  EXPECT_TRUE(expired.empty());
  Push(q, log, 2, t0 + milliseconds(204));
  EXPECT_FALSE(q.Standing(t0 + milliseconds(205)));
}

TEST(AdmissionQueueTest, StandingOutlastsAMomentaryDrainByOneInterval) {
  Queue q({.capacity = 100, .target = milliseconds(5),
           .interval = milliseconds(100)});
  TimePoint t0{};
  std::vector<int> log;
  std::vector<Queue::Item> expired;
  for (int ms = 0; ms <= 200; ms += 10) Push(q, log, ms, t0 + milliseconds(ms));
  ASSERT_TRUE(q.Pop(t0 + milliseconds(201), &expired).has_value());  // sheds
  ASSERT_FALSE(expired.empty());
  // Arrivals hiccup; the worker serves the queue empty: a drain by service.
  Push(q, log, 1, t0 + milliseconds(202));
  ASSERT_TRUE(q.Pop(t0 + milliseconds(203), &expired).has_value());
  EXPECT_EQ(q.size(), 0u);
  // The overload resumes: still standing (LIFO, short timeout) because the
  // last shed was within one interval...
  Push(q, log, 2, t0 + milliseconds(204));
  Push(q, log, 3, t0 + milliseconds(205));
  EXPECT_TRUE(q.Standing(t0 + milliseconds(206)));
  log.clear();
  q.Pop(t0 + milliseconds(206), &expired)->payload();
  EXPECT_EQ(log, std::vector<int>{3});  // newest first
  // ...but not forever: one interval after the last shed, with the queue
  // drained meanwhile, it is an ordinary FIFO queue again.
  ASSERT_TRUE(q.Pop(t0 + milliseconds(207), &expired).has_value());
  Push(q, log, 4, t0 + milliseconds(302));
  EXPECT_FALSE(q.Standing(t0 + milliseconds(303)));
}

TEST(AdmissionQueueTest, ExpiresAfterIntervalWhenNotStanding) {
  Queue q({.capacity = 10, .target = milliseconds(5),
                    .interval = milliseconds(100)});
  TimePoint t0{};
  std::vector<int> log;
  Push(q, log, 1, t0);
  std::vector<Queue::Item> expired;
  // 50 ms of wait: not standing (queue was empty at t0), below interval.
  auto item = q.Pop(t0 + milliseconds(50), &expired);
  ASSERT_TRUE(item.has_value());
  EXPECT_TRUE(expired.empty());
  Push(q, log, 2, t0 + milliseconds(60));
  item = q.Pop(t0 + milliseconds(161), &expired);
  EXPECT_FALSE(item.has_value());
  ASSERT_EQ(expired.size(), 1u);
  expired[0].payload();
  EXPECT_EQ(log, std::vector<int>{2});
}

TEST(AdmissionQueueTest, LifoCanBeDisabled) {
  Queue q({.capacity = 10, .interval = milliseconds(10),
                    .adaptive_lifo = false});
  TimePoint t0{};
  std::vector<int> log;
  std::vector<Queue::Item> expired;
  Push(q, log, 0, t0);
  for (int i = 1; i <= 3; ++i) Push(q, log, i, t0 + milliseconds(20));
  // Standing: item 0 expired (waited 21 ms > 5 ms target); then FIFO.
  auto item = q.Pop(t0 + milliseconds(21), &expired);
  ASSERT_TRUE(item.has_value());
  item->payload();
  EXPECT_EQ(expired.size(), 1u);
  EXPECT_EQ(log, std::vector<int>{1});
}

TEST(AdmissionQueueTest, ConcurrentPushPopLosesNothing) {
  Queue q({.capacity = 64});
  constexpr int kPerProducer = 5000;
  std::atomic<int> ran{0}, rejected{0}, expired_count{0};
  TimePoint t0{};
  std::vector<std::thread> threads;
  for (int p = 0; p < 2; ++p) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerProducer; ++i) {
        absl::AnyInvocable<void()> fn = [&ran] { ran.fetch_add(1); };
        if (!q.TryPush(fn, t0)) rejected.fetch_add(1);
      }
    });
  }
  std::atomic<bool> producers_done{false};
  std::vector<std::thread> consumers;
  for (int c = 0; c < 2; ++c) {
    consumers.emplace_back([&] {
      std::vector<Queue::Item> expired;
      while (true) {
        auto item = q.Pop(t0, &expired);
        if (item) {
          item->payload();
        } else if (producers_done.load()) {
          break;
        } else {
          std::this_thread::yield();
        }
      }
      expired_count.fetch_add(static_cast<int>(expired.size()));
    });
  }
  for (auto& t : threads) t.join();
  producers_done.store(true);
  for (auto& t : consumers) t.join();
  std::vector<Queue::Item> expired;
  while (auto item = q.Pop(t0, &expired)) item->payload();
  EXPECT_EQ(ran.load() + rejected.load() + expired_count.load(),
            2 * kPerProducer);
  EXPECT_EQ(expired_count.load(), 0);
}

}  // namespace
}  // namespace brisk
