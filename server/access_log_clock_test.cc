// AccessLog's loss reports are spaced on the steady clock: a wall clock
// stepped forward (NTP, a VM resumed) does not multiply them, nor does one
// stepped back silence them. The line's time field stays the wall clock's.
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "server/access_log.h"
#include "testing/stepped_wall_clock.h"

namespace brisk {
namespace {

void LogTen(AccessLog& log) {
  for (int i = 0; i < 10; ++i) {
    log.Log("127.0.0.1", "-", "GET", "/", 1, 200, 2, std::chrono::microseconds(0));
  }
  log.Flush();
}

// Each batch is lost to /dev/full with the wall clock a minute further on:
// on time() each batch was reported; on the steady clock one report says
// the first loss and the end says the rest.
TEST(AccessLogClockTest, AWallClockSteppedForwardDoesNotMultiplyTheReports) {
  std::atomic<uint64_t> lost{0};
  std::vector<std::string> reports;
  auto log = AccessLog::Open("/dev/full",
                             AccessLogHooks{.lost_lines = &lost,
                                            .on_error = [&](std::string_view m) {
                                              reports.emplace_back(m);
                                            }});
  ASSERT_TRUE(log.ok());
  for (int batch = 0; batch < 3; ++batch) {
    LogTen(**log);
    testing::SteppedWallClock() += 60;
    // The override is in effect (else this test proves nothing).
    ASSERT_EQ(time(nullptr), testing::SteppedWallClock().load());
  }
  EXPECT_EQ(lost.load(), 30u);
  EXPECT_EQ(reports.size(), 1u);
  log->reset();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_NE(reports[0].find("10 lines lost"), std::string::npos) << reports[0];
  EXPECT_NE(reports[1].find("20 more lines were lost"), std::string::npos) << reports[1];
}

}  // namespace
}  // namespace brisk
