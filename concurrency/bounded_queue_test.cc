#include "concurrency/bounded_queue.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace brisk {
namespace {

using std::chrono::milliseconds;
constexpr std::chrono::nanoseconds kNoSpin{0};

// Yields until `q` counts `n` registered waiters: those threads are then
// blocked (or committed to block) and must be woken by whatever comes next.
template <typename Q>
void AwaitWaiters(const Q& q, size_t n) {
  while (q.num_waiters_for_testing() < n) std::this_thread::yield();
}

TEST(BoundedQueueTest, FifoAndAccessors) {
  BoundedQueue<int> q(4);
  EXPECT_EQ(q.capacity(), 4u);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_FALSE(q.closed());
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(q.Push(i));
  EXPECT_EQ(q.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(q.Pop(), i);
  EXPECT_EQ(q.size(), 0u);
}

TEST(BoundedQueueTest, ZeroCapacityMeansOne) {
  BoundedQueue<int> q(0);
  EXPECT_EQ(q.capacity(), 1u);
  EXPECT_TRUE(q.TryPush(1));
  int two = 2;
  EXPECT_FALSE(q.TryPush(std::move(two)));
}

TEST(BoundedQueueTest, TryPushFullLeavesItemUntouched) {
  BoundedQueue<std::unique_ptr<int>> q(2);
  EXPECT_TRUE(q.TryPush(std::make_unique<int>(1)));
  EXPECT_TRUE(q.TryPush(std::make_unique<int>(2)));
  auto third = std::make_unique<int>(3);
  EXPECT_FALSE(q.TryPush(std::move(third)));
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(*third, 3);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(**q.TryPop(), 1);
  EXPECT_TRUE(q.TryPush(std::move(third)));
  EXPECT_EQ(third, nullptr);
  EXPECT_EQ(**q.TryPop(), 2);
  EXPECT_EQ(**q.TryPop(), 3);
  EXPECT_EQ(q.TryPop(), std::nullopt);
}

// Many laps around rings of every small size, power of two or not.
TEST(BoundedQueueTest, WrapsAroundAtAnyCapacity) {
  for (size_t cap : {1u, 2u, 3u, 5u, 8u}) {
    BoundedQueue<uint64_t> q(cap);
    uint64_t next_in = 0, next_out = 0;
    for (int round = 0; round < 100; ++round) {
      while (q.TryPush(uint64_t{next_in})) ++next_in;
      ASSERT_EQ(q.size(), cap);
      ASSERT_EQ(next_in - next_out, cap);
      // Pop a varying number to shift the phase.
      for (size_t k = 0; k <= round % cap; ++k) {
        ASSERT_EQ(q.TryPop(), next_out) << "cap " << cap;
        ++next_out;
      }
    }
  }
}

TEST(BoundedQueueTest, CloseRefusesPushesAndDrains) {
  BoundedQueue<std::unique_ptr<int>> q(4);
  EXPECT_TRUE(q.Push(std::make_unique<int>(1)));
  EXPECT_TRUE(q.Push(std::make_unique<int>(2)));
  q.Close();
  q.Close();  // idempotent
  EXPECT_TRUE(q.closed());
  EXPECT_FALSE(q.Push(std::make_unique<int>(3)));
  auto four = std::make_unique<int>(4);
  EXPECT_FALSE(q.TryPush(std::move(four)));
  EXPECT_NE(four, nullptr);
  EXPECT_EQ(**q.Pop(), 1);
  EXPECT_EQ(**q.PopFor(milliseconds(1)), 2);
  EXPECT_EQ(q.Pop(), std::nullopt);
  EXPECT_EQ(q.TryPop(), std::nullopt);
  EXPECT_EQ(q.PopFor(std::chrono::hours(1)), std::nullopt);  // no wait
}

TEST(BoundedQueueTest, PopForTimesOutOnEmpty) {
  BoundedQueue<int> q(2);
  EXPECT_EQ(q.PopFor(milliseconds(1)), std::nullopt);
  EXPECT_EQ(q.PopFor(std::chrono::nanoseconds(0)), std::nullopt);
  EXPECT_EQ(q.PopFor(-milliseconds(5)), std::nullopt);
}

TEST(BoundedQueueTest, PopForReturnsQueuedItem) {
  BoundedQueue<int> q(2);
  q.Push(7);
  EXPECT_EQ(q.PopFor(std::chrono::nanoseconds(0)), 7);
}

TEST(BoundedQueueTest, PopForWokenByPush) {
  BoundedQueue<int> q(2);
  std::thread producer([&] {
    AwaitWaiters(q, 1);
    q.Push(9);
  });
  EXPECT_EQ(q.PopFor(std::chrono::hours(1)), 9);
  producer.join();
}

TEST(BoundedQueueTest, CloseWakesBlockedPoppers) {
  BoundedQueue<int> q(2);
  constexpr int kPoppers = 4;
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kPoppers; ++i) {
    threads.emplace_back([&, i] {
      const std::optional<int> v =
          i % 2 == 0 ? q.Pop() : q.PopFor(std::chrono::hours(1));
      EXPECT_EQ(v, std::nullopt);
      done.fetch_add(1);
    });
  }
  AwaitWaiters(q, kPoppers);
  EXPECT_EQ(done.load(), 0);
  q.Close();
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), kPoppers);
}

TEST(BoundedQueueTest, CloseWakesBlockedPushers) {
  BoundedQueue<int> q(1);
  ASSERT_TRUE(q.Push(-1));
  constexpr int kPushers = 4;
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kPushers; ++i) {
    threads.emplace_back([&, i] {
      if (!q.Push(i)) refused.fetch_add(1);
    });
  }
  AwaitWaiters(q, kPushers);
  q.Close();
  for (auto& t : threads) t.join();
  EXPECT_EQ(refused.load(), kPushers);
  EXPECT_EQ(q.Pop(), -1);
  EXPECT_EQ(q.Pop(), std::nullopt);
}

TEST(BoundedQueueTest, BlockedPusherWokenByPop) {
  BoundedQueue<int> q(1);
  ASSERT_TRUE(q.Push(1));
  std::thread pusher([&] { EXPECT_TRUE(q.Push(2)); });
  AwaitWaiters(q, 1);
  EXPECT_EQ(q.Pop(), 1);
  EXPECT_EQ(q.Pop(), 2);
  pusher.join();
}

// Two threads bounce a token through two capacity-1 queues. Every step
// blocks on the other side, so a single lost wake-up hangs the test.
TEST(BoundedQueueTest, PingPongHasNoLostWakeups) {
  BoundedQueue<int> ping(1, kNoSpin), pong(1, kNoSpin);
  constexpr int kRounds = 20000;
  std::thread echo([&] {
    while (std::optional<int> v = ping.Pop()) pong.Push(*v + 1);
    pong.Close();
  });
  for (int i = 0; i < kRounds; i += 2) {
    ASSERT_TRUE(ping.Push(i));
    ASSERT_EQ(pong.Pop(), i + 1);
  }
  ping.Close();
  EXPECT_EQ(pong.Pop(), std::nullopt);
  echo.join();
}

TEST(BoundedQueueTest, DestructorDestroysQueuedItems) {
  auto token = std::make_shared<int>(0);
  {
    BoundedQueue<std::shared_ptr<int>> q(3);
    q.Push(token);
    q.Push(token);
    EXPECT_EQ(token.use_count(), 3);
  }
  EXPECT_EQ(token.use_count(), 1);
}

// Many producers and consumers through a small queue: every item must come
// out exactly once, and each consumer must see each producer's items in the
// order they were pushed (FIFO per producer).
struct StressParam {
  size_t capacity;
  int producers;
  int consumers;
  // 0 = sleep at once when full/empty: every wait takes the futex path.
  std::chrono::nanoseconds max_spin = BoundedQueue<int>::kDefaultMaxSpin;
};

class BoundedQueueStressTest : public ::testing::TestWithParam<StressParam> {};

TEST_P(BoundedQueueStressTest, EveryItemPoppedExactlyOnce) {
  const StressParam p = GetParam();
  constexpr uint64_t kPerProducer = 20000;
  BoundedQueue<uint64_t> q(p.capacity, p.max_spin);
  std::vector<std::atomic<uint8_t>> seen(p.producers * kPerProducer);
  std::atomic<uint64_t> popped_sum{0};
  std::atomic<bool> order_ok{true};

  std::vector<std::thread> consumers;
  for (int c = 0; c < p.consumers; ++c) {
    consumers.emplace_back([&, c] {
      std::vector<int64_t> last(p.producers, -1);
      uint64_t sum = 0;
      for (uint64_t n = 0;; ++n) {
        // Mix the three ways to pop.
        std::optional<uint64_t> v;
        const int mode = (n + c) % 3;
        switch (mode) {
          case 0: v = q.Pop(); break;
          case 1: v = q.PopFor(std::chrono::microseconds(50)); break;
          default: v = q.TryPop(); break;
        }
        if (!v) {
          if (mode == 0) break;  // Pop: closed and drained
          if (!q.closed()) continue;
          v = q.Pop();
          if (!v) break;
        }
        const uint64_t producer = *v / kPerProducer;
        const int64_t index = *v % kPerProducer;
        if (index <= last[producer]) order_ok = false;
        last[producer] = index;
        seen[*v].fetch_add(1, std::memory_order_relaxed);
        sum += *v;
      }
      popped_sum.fetch_add(sum);
    });
  }
  std::vector<std::thread> producers;
  for (int pr = 0; pr < p.producers; ++pr) {
    producers.emplace_back([&, pr] {
      for (uint64_t i = 0; i < kPerProducer; ++i) {
        uint64_t v = pr * kPerProducer + i;
        if (i % 2 == 0) {
          ASSERT_TRUE(q.Push(v));
        } else {
          while (!q.TryPush(std::move(v))) std::this_thread::yield();
        }
      }
    });
  }
  for (auto& t : producers) t.join();
  q.Close();
  for (auto& t : consumers) t.join();

  const uint64_t n = p.producers * kPerProducer;
  EXPECT_EQ(popped_sum.load(), n * (n - 1) / 2);
  EXPECT_TRUE(order_ok.load());
  for (uint64_t i = 0; i < n; ++i) {
    ASSERT_EQ(seen[i].load(), 1) << "item " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, BoundedQueueStressTest,
    ::testing::Values(StressParam{1, 1, 1}, StressParam{1, 3, 3},
                      StressParam{2, 2, 2}, StressParam{3, 4, 2},
                      StressParam{64, 2, 4}, StressParam{1, 1, 1, kNoSpin},
                      StressParam{1, 3, 3, kNoSpin},
                      StressParam{2, 2, 2, kNoSpin},
                      StressParam{5, 2, 3, kNoSpin}),
    [](const ::testing::TestParamInfo<StressParam>& info) {
      return "cap" + std::to_string(info.param.capacity) + "_p" +
             std::to_string(info.param.producers) + "_c" +
             std::to_string(info.param.consumers) +
             (info.param.max_spin == kNoSpin ? "_nospin" : "");
    });

// Producers blocked on a full queue and consumers draining race with Close():
// pushes either succeed (and are popped) or are refused, nothing is lost.
TEST(BoundedQueueTest, CloseRacingWithTrafficLosesNothing) {
  for (int round = 0; round < 40; ++round) {
    BoundedQueue<int> q(2, round % 2 == 0 ? kNoSpin : milliseconds(1));
    std::atomic<int> accepted{0}, popped{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
      threads.emplace_back([&] {
        for (int k = 0; k < 200 && q.Push(k); ++k) accepted.fetch_add(1);
      });
      threads.emplace_back([&] {
        while (q.Pop()) popped.fetch_add(1);
      });
    }
    while (accepted.load() < 50) std::this_thread::yield();
    q.Close();
    for (auto& t : threads) t.join();
    EXPECT_EQ(popped.load(), accepted.load());
  }
}

}  // namespace
}  // namespace brisk
