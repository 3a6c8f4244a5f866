// WaitBound: a timeout given to a condition variable's wait_for, bounded so
// that "forever" (nanoseconds::max(), as ServerOptions' durations allow)
// waits forever. wait_for adds the timeout to steady_clock::now(); past a
// few centuries that overflows (undefined behaviour: in practice the
// deadline wraps into the past and the wait returns at once).
#ifndef BRISK_SERVER_WAIT_BOUND_H_
#define BRISK_SERVER_WAIT_BOUND_H_

#include <algorithm>
#include <chrono>

namespace brisk::internal {

// A century: longer than any process waits, far from the clock's range.
inline constexpr std::chrono::nanoseconds kWaitForever = std::chrono::hours(24 * 365 * 100);

inline std::chrono::nanoseconds WaitBound(std::chrono::nanoseconds timeout) {
  return std::min(timeout, kWaitForever);
}

}  // namespace brisk::internal

#endif  // BRISK_SERVER_WAIT_BOUND_H_
