// Thin wrappers over the Linux futex(2) system call, used by BoundedQueue to
// sleep on a 32-bit atomic "epoch" word with an optional absolute deadline
// (std::atomic<>::wait has no timed variant, which PopFor needs).
//
//   std::atomic<uint32_t> word{0};
//   // sleeper:  FutexWait(&word, /*expected=*/0, /*deadline=*/nullptr);
//   // waker:    word.fetch_add(1); FutexWake(&word, 1);
//
// FutexWait returns at once if `*word != expected`; it may also return
// spuriously, so callers re-check their condition in a loop. The futex is
// process-private. Thread-safe; all functions may be called from any thread.
// Internal to //concurrency.

#ifndef BRISK_CONCURRENCY_FUTEX_H_
#define BRISK_CONCURRENCY_FUTEX_H_

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <ctime>

namespace brisk {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "futex needs a plain 32-bit atomic word");

// Sleeps while `*word == expected`, until woken or `*deadline` (absolute,
// steady_clock = CLOCK_MONOTONIC on Linux; nullptr = forever). Returns false
// only when the deadline has passed.
inline bool FutexWait(std::atomic<uint32_t>* word, uint32_t expected,
                      const std::chrono::steady_clock::time_point* deadline) {
  timespec ts;
  timespec* tsp = nullptr;
  if (deadline != nullptr) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        deadline->time_since_epoch())
                        .count();
    if (ns <= 0) return false;
    ts.tv_sec = static_cast<time_t>(ns / 1000000000);
    ts.tv_nsec = static_cast<long>(ns % 1000000000);
    tsp = &ts;
  }
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout, so retries
  // after a spurious wake-up never stretch the deadline.
  const long rc =
      syscall(SYS_futex, reinterpret_cast<uint32_t*>(word),
              FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, tsp, nullptr,
              FUTEX_BITSET_MATCH_ANY);
  if (rc == -1 && errno == ETIMEDOUT) return false;
  if (deadline != nullptr && std::chrono::steady_clock::now() >= *deadline) {
    return false;
  }
  return true;  // woken, value changed (EAGAIN) or interrupted (EINTR)
}

// Wakes up to `count` threads sleeping in FutexWait on `word`.
inline void FutexWake(std::atomic<uint32_t>* word, int count) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word),
          FUTEX_WAKE | FUTEX_PRIVATE_FLAG, count, nullptr, nullptr, 0);
}

inline void FutexWakeAll(std::atomic<uint32_t>* word) {
  FutexWake(word, INT_MAX);
}

}  // namespace brisk

#endif  // BRISK_CONCURRENCY_FUTEX_H_
