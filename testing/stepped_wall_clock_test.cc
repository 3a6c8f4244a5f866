#include "testing/stepped_wall_clock.h"

#include <time.h>

#include "gtest/gtest.h"

namespace brisk::testing {
namespace {

TEST(SteppedWallClockTest, TimeReadsTheSteppedClock) {
  SteppedWallClock() = 1'000;
  EXPECT_EQ(time(nullptr), 1'000);
  SteppedWallClock() -= 3'600;
  time_t out = 0;
  EXPECT_EQ(time(&out), -2'600);
  EXPECT_EQ(out, -2'600);
}

}  // namespace
}  // namespace brisk::testing
