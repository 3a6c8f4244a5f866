// TryStartThread: std::thread without the exception.
//
// std::thread's constructor throws std::system_error when the system has no
// thread to give (a container's limit on processes, RLIMIT_NPROC, memory).
// Code on brisk's data and start-up paths returns absl::Status instead of
// letting exceptions escape, so every thread brisk starts goes through
// here: the failure comes back as ResourceExhausted naming the thread.
//
// The thread starts with the process's asynchronous stop and control
// signals blocked (SIGTERM, SIGINT, SIGHUP, SIGUSR1): the kernel gives
// such a signal to a thread that does not block it, and a library thread
// has no business taking one. Left open, a host's SIGTERM could land on a
// brisk thread made before a server that handles signals blocked them
// (its default action ends the process with no drain), or be taken from
// the host's own handler thread.
//
// Thread-safety: a free function; call it from any thread.
#ifndef BRISK_CONCURRENCY_START_THREAD_H_
#define BRISK_CONCURRENCY_START_THREAD_H_

#include <pthread.h>
#include <signal.h>

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
  // The new thread inherits the mask of this one at its creation.
  sigset_t blocked;
  sigemptyset(&blocked);
  for (const int signo : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&blocked, signo);
  sigset_t saved;
  pthread_sigmask(SIG_BLOCK, &blocked, &saved);
  absl::StatusOr<std::thread> thread;
  try {
    thread = std::thread(std::forward<F>(body));
  } catch (const std::system_error& e) {
    thread = absl::ResourceExhaustedError(absl::StrCat("cannot start ", what, ": ", e.what()));
  }
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  return thread;
}

}  // namespace brisk

#endif  // BRISK_CONCURRENCY_START_THREAD_H_
