// "Forever" (nanoseconds::max()) given to the server's waits: they added it
// to steady_clock::now() inside wait_for, which overflowed, so the wait
// returned at once as if timed out (static-analysis review).
#include "server/wait_bound.h"

#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "server/cancel_state.h"
#include "server/lifecycle.h"

namespace brisk::internal {
namespace {

constexpr auto kForever = std::chrono::nanoseconds::max();

TEST(WaitBoundTest, BoundsOnlyWhatIsPastACentury) {
  EXPECT_EQ(WaitBound(std::chrono::seconds(5)), std::chrono::seconds(5));
  EXPECT_EQ(WaitBound(std::chrono::nanoseconds(0)), std::chrono::nanoseconds(0));
  EXPECT_EQ(WaitBound(kForever), kWaitForever);
}

// SleepFor(forever) returns when cancelled, saying the time did not elapse;
// it returned true (the full time elapsed) at once.
TEST(WaitBoundTest, SleepForForeverWaitsForTheCancellation) {
  CancelState state;
  std::thread canceller([&] {
    // Later than the sleep's start, most likely (the old code's sleep had
    // returned by then); the fixed sleep passes whatever the order.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    state.Cancel();
  });
  const bool elapsed = state.SleepFor(kForever);
  canceller.join();
  EXPECT_FALSE(elapsed);
}

// WaitDrained(forever) returns true once drained; it returned false at once.
TEST(WaitBoundTest, WaitDrainedForeverWaitsForTheDrain) {
  Lifecycle lifecycle;
  ASSERT_TRUE(lifecycle.TryOpenConnection(10));
  bool drained = false;
  std::thread drainer([&] {
    // Later than the wait's start, most likely (the old code's wait had
    // returned false by then); the fixed wait passes whatever the order.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    lifecycle.BeginDrain();
    lifecycle.ConnectionClosed();
  });
  drained = lifecycle.WaitDrained(kForever);
  drainer.join();
  EXPECT_TRUE(drained);
}

}  // namespace
}  // namespace brisk::internal
