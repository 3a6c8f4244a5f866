// SignalWatcher: turns asynchronous signals (SIGTERM, SIGINT, ...) into
// ordinary callbacks on an EventLoop, through signalfd.
//
//   // In main(), BEFORE starting any thread:
//   absl::StatusOr<std::unique_ptr<SignalWatcher>> signals =
//       SignalWatcher::Create(loop.get(), {SIGTERM, SIGINT},
//                             [&](int signo) { server.BeginDrain(); });
//
// Signal mask: Create() blocks the signals in the CALLING thread with
// pthread_sigmask, so they stay pending for the signalfd instead of running
// their default action. Threads inherit the mask of the thread that creates
// them, so create the watcher before any other thread is started; a thread
// created earlier without the mask may receive the signal and die from its
// default action. The mask is NOT restored on destruction (unblocking a
// pending SIGTERM would kill the process); the signals stay blocked.
//
// Ownership: owns its signalfd; `loop` is not owned and must outlive it.
// Thread-safety: loop thread only (create, destroy). Several instances of the
// same signal: whichever signalfd is read first gets it.
#ifndef BRISK_NET_SIGNALS_H_
#define BRISK_NET_SIGNALS_H_

#include <initializer_list>
#include <memory>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "net/event_loop.h"
#include "net/socket.h"

namespace brisk::net {

class SignalWatcher {
 public:
  using Callback = absl::AnyInvocable<void(int signo)>;

  static absl::StatusOr<std::unique_ptr<SignalWatcher>> Create(
      EventLoop* loop, const std::vector<int>& signals, Callback cb);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  SignalWatcher(EventLoop* loop, UniqueFd fd, Callback cb)
      : loop_(loop), fd_(std::move(fd)), cb_(std::move(cb)) {}
  void OnReadable();

  EventLoop* loop_;
  UniqueFd fd_;
  Callback cb_;
};

}  // namespace brisk::net

#endif  // BRISK_NET_SIGNALS_H_
