// TryStartThread: std::thread without the exception.
//
// std::thread's constructor throws std::system_error when the system has no
// thread to give (a container's limit on processes, RLIMIT_NPROC, memory).
// Code on brisk's data and start-up paths returns absl::Status instead of
// letting exceptions escape, so every thread brisk starts goes through
// here: the failure comes back as ResourceExhausted naming the thread.
//
// Thread-safety: a free function; call it from any thread.
#ifndef BRISK_CONCURRENCY_START_THREAD_H_
#define BRISK_CONCURRENCY_START_THREAD_H_

#include <system_error>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace brisk {

// A thread running `body`, or ResourceExhausted "cannot start <what>: ...".
template <typename F>
absl::StatusOr<std::thread> TryStartThread(absl::string_view what, F&& body) {
  try {
    return std::thread(std::forward<F>(body));
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot start ", what, ": ", e.what()));
  }
}

}  // namespace brisk

#endif  // BRISK_CONCURRENCY_START_THREAD_H_
