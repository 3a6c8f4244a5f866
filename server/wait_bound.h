// WaitBound: the server's one bound for durations that may mean "forever"
// (nanoseconds::max(), as ServerOptions' durations and the API's waits
// allow). Each is added to a steady time somewhere (a timer's due time,
// condition_variable::wait_for's deadline), and past a few centuries that
// overflows (undefined behaviour: in practice the time wraps into the past
// and the wait returns at once). Bounded at a century, forever still waits.
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
