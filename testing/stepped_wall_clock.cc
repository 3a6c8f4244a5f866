#include "testing/stepped_wall_clock.h"

#include <time.h>

#include <atomic>

namespace brisk::testing {

std::atomic<time_t>& SteppedWallClock() {
  static std::atomic<time_t> wall{1'700'000'000};
  return wall;
}

}  // namespace brisk::testing

extern "C" time_t time(time_t* out) {
  const time_t now = brisk::testing::SteppedWallClock().load();
  if (out != nullptr) *out = now;
  return now;
}
