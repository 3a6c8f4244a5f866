// The threads a server starts. Each starts through StartServerThread().
// Those that run its code (reactors, workers, the waker, the control
// thread) mark themselves with its server's token, so that a call a
// server's own thread must not make is caught instead of deadlocking:
// HttpServer::Stop() from a handler would wait for the very thread it runs
// on.
#ifndef BRISK_SERVER_SERVER_THREAD_H_
#define BRISK_SERVER_SERVER_THREAD_H_

#include <pthread.h>
#include <signal.h>

#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "concurrency/start_thread.h"

namespace brisk::internal {

// The token of the server this thread belongs to (the address of its
// ServerMetrics, one per server), or null on any other thread.
inline thread_local const void* current_server_thread = nullptr;

// The signals a server that handles signals reads from its signalfd:
// SIGTERM, SIGINT (shut down), SIGHUP (reload), SIGUSR1 (reopen the log).
inline constexpr int kServerSignals[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};

// kServerSignals as a set.
inline sigset_t ServerSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (const int signo : kServerSignals) sigaddset(&set, signo);
  return set;
}

// TryStartThread with `blocked` added to the calling thread's mask while
// the thread starts: the new thread inherits it, and the caller's mask is
// restored however this returns (std::thread may throw bad_alloc, which
// TryStartThread does not catch).
template <typename F>
absl::StatusOr<std::thread> StartThreadBlocking(const sigset_t& blocked, absl::string_view what,
                                                F&& body) {
  sigset_t saved;
  pthread_sigmask(SIG_BLOCK, &blocked, &saved);
  struct Restore {
    const sigset_t* mask;
    ~Restore() { pthread_sigmask(SIG_SETMASK, mask, nullptr); }
  } restore{&saved};
  return TryStartThread(what, std::forward<F>(body));
}

// TryStartThread for a server's own thread: it starts with ServerSignals()
// blocked, whether or not its server handles signals, and the caller's
// mask is left as it was. The kernel gives a process's signal to a thread
// that does not block it: left open in the threads of a server made
// before another one that handles signals blocked them (an admin port
// started first), a SIGTERM landed there and its default action ended the
// process with no drain.
template <typename F>
absl::StatusOr<std::thread> StartServerThread(absl::string_view what, F&& body) {
  return StartThreadBlocking(ServerSignals(), what, std::forward<F>(body));
}

// A thread that takes no signal at all (the access log's and stderr's
// writers: a process-directed SIGTERM must reach the thread that waits for
// it, not end the process in a writer), the caller's mask left as it was.
template <typename F>
absl::StatusOr<std::thread> StartSignalFreeThread(absl::string_view what, F&& body) {
  sigset_t all;
  sigfillset(&all);
  return StartThreadBlocking(all, what, std::forward<F>(body));
}

}  // namespace brisk::internal

#endif  // BRISK_SERVER_SERVER_THREAD_H_
