// A wall clock a test steps: linking //testing:stepped_wall_clock replaces
// libc's time() in the test binary with one that reads
// brisk::testing::SteppedWallClock(), so a test can step the wall clock
// forward or back (as NTP or a resumed VM does) and check that what it
// tests keeps its periods on the steady clock.
//
//   brisk::testing::SteppedWallClock() += 60;   // a minute later, at once
//
// Only time() is replaced: clock_gettime(CLOCK_REALTIME) and the steady
// clock are the real ones.
#ifndef BRISK_TESTING_STEPPED_WALL_CLOCK_H_
#define BRISK_TESTING_STEPPED_WALL_CLOCK_H_

#include <time.h>

#include <atomic>

namespace brisk::testing {

// What time() returns; starts at 1'700'000'000 (Nov 2023). Thread-safe.
std::atomic<time_t>& SteppedWallClock();

}  // namespace brisk::testing

#endif  // BRISK_TESTING_STEPPED_WALL_CLOCK_H_
