// ConnectionTimers on an epoll loop with a fake clock: due order, moving
// and cancelling entries, callbacks that re-arm or cancel others, and that
// one loop timer serves them all.
#include "server/connection_timers.h"

#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "net/clock.h"
#include "net/event_loop.h"

namespace brisk::internal {
namespace {

using std::chrono::milliseconds;

struct Entry;
std::vector<int>* g_fired = nullptr;

struct Entry {
  int id = 0;
  TimerSlot slot;
  std::function<void(Entry*)> on_fire;
  void Fire() {
    g_fired->push_back(id);
    if (on_fire) on_fire(this);
  }
};
using Timers = ConnectionTimers<Entry, &Entry::slot, &Entry::Fire>;

class ConnectionTimersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_fired = &fired_;
    loop_ = *net::CreateEpollLoop({.clock = &clock_});
    timers_ = std::make_unique<Timers>(loop_.get());
  }
  void TearDown() override { g_fired = nullptr; }
  net::TimePoint At(int ms) { return start_ + milliseconds(ms); }
  // Moves the clock to `ms` and runs the loop once.
  void RunTo(int ms) {
    clock_.Set(At(ms));
    loop_->RunOnce(std::chrono::nanoseconds(0));
  }

  net::FakeClock clock_;
  std::unique_ptr<net::EventLoop> loop_;
  const net::TimePoint start_ = clock_.Now();
  std::unique_ptr<Timers> timers_;
  std::vector<int> fired_;
};

TEST_F(ConnectionTimersTest, FiresInDueOrderExactlyWhenDue) {
  Entry a{.id = 1}, b{.id = 2}, c{.id = 3};
  timers_->Schedule(&b, At(20));
  timers_->Schedule(&a, At(10));
  timers_->Schedule(&c, At(30));
  EXPECT_EQ(timers_->size(), 3u);
  RunTo(9);
  EXPECT_TRUE(fired_.empty());
  RunTo(10);
  EXPECT_EQ(fired_, std::vector<int>({1}));
  EXPECT_FALSE(a.slot.armed());
  RunTo(35);  // two due at once: in due order
  EXPECT_EQ(fired_, std::vector<int>({1, 2, 3}));
  EXPECT_EQ(timers_->size(), 0u);
}

TEST_F(ConnectionTimersTest, MovingAndCancelling) {
  Entry a{.id = 1}, b{.id = 2}, c{.id = 3};
  timers_->Schedule(&a, At(10));
  timers_->Schedule(&b, At(20));
  timers_->Schedule(&c, At(30));
  timers_->Schedule(&a, At(40));  // later
  timers_->Schedule(&c, At(5));   // earlier than the loop timer
  timers_->Cancel(&b);
  timers_->Cancel(&b);  // not armed: no-op
  RunTo(5);
  EXPECT_EQ(fired_, std::vector<int>({3}));
  RunTo(39);
  EXPECT_EQ(fired_, std::vector<int>({3}));
  RunTo(40);
  EXPECT_EQ(fired_, std::vector<int>({3, 1}));
}

TEST_F(ConnectionTimersTest, CallbacksMayRearmAndCancelOthers) {
  Entry a{.id = 1}, b{.id = 2}, c{.id = 3};
  a.on_fire = [&](Entry* self) { timers_->Schedule(self, At(50)); };
  b.on_fire = [&](Entry*) { timers_->Cancel(&c); };
  timers_->Schedule(&a, At(10));
  timers_->Schedule(&b, At(10));
  timers_->Schedule(&c, At(12));
  RunTo(12);  // all three due: a and b (same due, either order), then not c
  EXPECT_EQ(fired_.size(), 2u);
  EXPECT_FALSE(c.slot.armed());
  EXPECT_TRUE(a.slot.armed());
  a.on_fire = nullptr;
  RunTo(50);
  EXPECT_EQ(fired_.size(), 3u);
  EXPECT_EQ(fired_.back(), 1);
}

// A callback that reschedules itself at or before now is told again in the
// next loop iteration, not in a loop inside this one.
TEST_F(ConnectionTimersTest, ReschedulingIntoThePastWaitsForTheNextIteration) {
  Entry a{.id = 1};
  int calls = 0;
  a.on_fire = [&](Entry* self) {
    if (++calls < 3) timers_->Schedule(self, At(0));
  };
  timers_->Schedule(&a, At(5));
  RunTo(5);
  EXPECT_EQ(calls, 1);
  RunTo(5);
  EXPECT_EQ(calls, 2);
  RunTo(5);
  EXPECT_EQ(calls, 3);
  RunTo(5);
  EXPECT_EQ(calls, 3);
  EXPECT_FALSE(a.slot.armed());
}

// Many entries moved and cancelled at random fire in due order, each once,
// with one loop timer.
TEST_F(ConnectionTimersTest, RandomScheduleMatchesAReference) {
  std::mt19937 rng(7);
  std::vector<Entry> entries(500);
  for (int i = 0; i < 500; ++i) entries[i].id = i;
  std::vector<int> due(500, -1);  // the reference
  for (int step = 0; step < 5000; ++step) {
    Entry& e = entries[rng() % entries.size()];
    if (rng() % 4 == 0) {
      timers_->Cancel(&e);
      due[e.id] = -1;
    } else {
      const int ms = 1 + static_cast<int>(rng() % 1000);
      timers_->Schedule(&e, At(ms));
      due[e.id] = ms;
    }
  }
  size_t armed = 0;
  for (int d : due) armed += d >= 0;
  EXPECT_EQ(timers_->size(), armed);
  EXPECT_EQ(loop_->stats().timers_fired, 0u);
  for (int ms = 0; ms <= 1000; ++ms) RunTo(ms);
  ASSERT_EQ(fired_.size(), armed);
  for (size_t i = 1; i < fired_.size(); ++i) {
    EXPECT_LE(due[fired_[i - 1]], due[fired_[i]]);
  }
  EXPECT_EQ(timers_->size(), 0u);
  // One loop timer at a time: at most one firing per distinct due time.
  EXPECT_LE(loop_->stats().timers_fired, 1000u);
}

}  // namespace
}  // namespace brisk::internal
