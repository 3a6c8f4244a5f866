// LogLimiter: the first occurrence said, then one line a period with the
// count of what it stands for; periods on the steady clock, so a wall clock
// stepped back or forth changes nothing.
#include "server/log_limiter.h"

#include <time.h>

#include <atomic>

#include "gtest/gtest.h"
#include "testing/stepped_wall_clock.h"

namespace brisk::internal {
namespace {

TEST(LogLimiterTest, SaysTheFirstThenOncePerPeriodWithTheCount) {
  LogLimiter limiter(/*period_seconds=*/10);
  EXPECT_EQ(limiter.CountAt(100), 1u);
  EXPECT_EQ(limiter.CountAt(101), 0u);
  EXPECT_EQ(limiter.CountAt(109), 0u);
  EXPECT_EQ(limiter.CountAt(110), 3u);  // this one and the two unsaid
  EXPECT_EQ(limiter.CountAt(111), 0u);
  EXPECT_EQ(limiter.CountAt(500), 2u);
}

// The first occurrence is said whatever the clock reads, zero and negative
// included (0 used to mean "never said").
TEST(LogLimiterTest, TheFirstIsSaidAtAnyReading) {
  for (int64_t at : {int64_t{0}, int64_t{-5}, int64_t{1} << 40}) {
    LogLimiter limiter(/*period_seconds=*/10);
    EXPECT_EQ(limiter.CountAt(at), 1u) << at;
    EXPECT_EQ(limiter.CountAt(at + 1), 0u) << at;
  }
}

// Count() reads the steady clock, not time(): with time() the period was
// over as soon as the wall clock jumped (and, stepped back an hour, an NTP
// correction or a VM restored from a snapshot, every accept error,
// descriptor shortage or connection error went unsaid for that hour).
TEST(LogLimiterTest, TheWallClockStepsChangeNothing) {
  LogLimiter limiter(/*period_seconds=*/3600);
  EXPECT_EQ(limiter.Count(), 1u);
  brisk::testing::SteppedWallClock() += 7200;  // two periods later, on the wall clock only
  // The override is in effect (else this test proves nothing).
  ASSERT_EQ(time(nullptr), brisk::testing::SteppedWallClock().load());
  EXPECT_EQ(limiter.Count(), 0u);
  brisk::testing::SteppedWallClock() -= 3 * 7200;
  EXPECT_EQ(limiter.Count(), 0u);
}

}  // namespace
}  // namespace brisk::internal
