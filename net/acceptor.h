// Acceptor: accepts connections from a Listener on an EventLoop and hands each
// one to a callback. On a readiness loop (epoll) it calls accept4 until
// EAGAIN, bounded per wake-up for fairness; on a loop with completion-based
// accepting (io_uring's multishot accept, EventLoop::StartAccept) the kernel
// accepts and the Acceptor only hands the connections on (the peer address
// then comes from getpeername, and max_accepts_per_event does not apply).
//
//   absl::StatusOr<std::unique_ptr<Acceptor>> acceptor = Acceptor::Create(
//       loop, *std::move(listener),
//       [&](UniqueFd fd, const SocketAddress& peer) { AddConnection(...); });
//   ...
//   (*acceptor)->Pause();   // draining, or at max connections
//   (*acceptor)->Resume();
//
// Running out of descriptors (EMFILE/ENFILE, also ENOBUFS/ENOMEM): the
// pending connection stays in the kernel backlog, which keeps the listener
// readable; with a level-triggered loop, retrying at once would spin at 100%
// CPU. Like nginx (which disables accept events for 500 ms), the Acceptor
// stops watching the listener (interest 0) and re-enables it from a timer
// after `fd_limit_backoff`; the listener is never closed, and the connection
// is accepted once a descriptor is free. Each such event is counted
// (stats().fd_limit_events). Optionally (`reserve_fd`), like libuv's EMFILE
// trick, one spare descriptor is held: on EMFILE it is released, the pending
// connections are accepted and closed at once (the clients see a clean close
// instead of waiting), and the spare is re-taken.
//
// Any other error of the listener itself (accept(2) lists none in normal
// operation; EINVAL after shutdown(2) of the socket, EBADF, ...) is counted
// (stats().errors), told to `on_accept_error`, and backs off the same way:
// a listener that keeps failing would otherwise spin the loop. Errors of
// the pending connection (ECONNABORTED, EPERM from a firewall, ...) skip it
// and go on.
//
// Ownership: owns the Listener; `loop` is not owned and must outlive the
// Acceptor. Thread-safety: loop thread only (create, Pause/Resume, destroy).
// Destroying the Acceptor stops watching and cancels its timer; it is safe
// from inside its own on_accept callback. On a completion-based loop, a
// connection the kernel accepted just before a Pause() or the destruction
// took effect still reaches on_accept (EventLoop::StopAccept's `late`), an
// iteration later, even after the Acceptor is gone: what on_accept uses
// must live as long as the loop. SetOnStopped() tells when none can come
// any more (a drain waits for that).
#ifndef BRISK_NET_ACCEPTOR_H_
#define BRISK_NET_ACCEPTOR_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "net/event_loop.h"
#include "net/socket.h"

namespace brisk::net {

struct AcceptorOptions {
  // How long the listener is left unwatched after EMFILE/ENFILE or another
  // error of the listener.
  Duration fd_limit_backoff = std::chrono::milliseconds(100);
  // Accepts per readiness event before yielding to other fds (the listener
  // stays readable, so the rest are accepted next iteration).
  int max_accepts_per_event = 64;
  // Hold one spare fd (open("/dev/null")) for the reject-on-EMFILE trick.
  bool reserve_fd = false;
  // Told of each back-off, with the accept's errno (EMFILE, ENFILE, ...),
  // on the loop thread: the owner's metric and log line (the clients in the
  // backlog are waiting meanwhile). May be empty.
  std::function<void(int error)> on_fd_limit;
  // Told when the listener could not be watched again (epoll_ctl or the
  // ring refused it: no memory, fs.epoll.max_user_watches); the acceptor
  // tries again after fd_limit_backoff, and on, until it works. May be
  // empty.
  std::function<void(const absl::Status& error)> on_watch_error;
  // Told of each accept error that is neither the fd limit nor the pending
  // connection's (the listener is then left unwatched for
  // fd_limit_backoff), with its errno, on the loop thread. May be empty.
  std::function<void(int error)> on_accept_error;
};

struct AcceptorStats {
  uint64_t accepted = 0;          // connections handed to on_accept
  uint64_t fd_limit_events = 0;   // EMFILE/ENFILE/... back-offs
  uint64_t rejected = 0;          // closed at once by the reserve-fd trick
  uint64_t errors = 0;            // other accept errors (each backs off)
  uint64_t watch_errors = 0;      // the listener could not be re-armed
};

class Acceptor {
 public:
  using OnAccept = absl::AnyInvocable<void(UniqueFd fd, const SocketAddress& peer)>;

  static absl::StatusOr<std::unique_ptr<Acceptor>> Create(
      EventLoop* loop, Listener listener, OnAccept on_accept,
      AcceptorOptions options = {});
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // Stops accepting (connections queue in the kernel backlog) / resumes.
  // Idempotent.
  void Pause();
  void Resume();
  bool paused() const { return paused_; }
  // True while backing off after EMFILE.
  bool backing_off() const { return backoff_timer_ != kInvalidTimerId; }

  // `on_stopped` runs on the loop thread once this Acceptor is destroyed
  // and no connection can reach on_accept any more: on a completion-based
  // loop after the late connections of every stop (EventLoop::StopAccept),
  // on a readiness loop in the loop's next turn. Never from within the
  // destructor; not at all if the loop is destroyed first.
  void SetOnStopped(absl::AnyInvocable<void()> on_stopped) {
    shared_->on_stopped = std::move(on_stopped);
  }

  const Listener& listener() const { return listener_; }
  const AcceptorStats& stats() const { return stats_; }

 private:
  Acceptor(EventLoop* loop, Listener listener, OnAccept on_accept,
           AcceptorOptions options);
  void OnReadable();
  // What late connections need, outliving the Acceptor.
  struct Shared {
    explicit Shared(OnAccept on_accept) : on_accept(std::move(on_accept)) {}
    OnAccept on_accept;
    int stops_pending = 0;   // StopAccept calls not yet ended (fd -1)
    bool destroyed = false;
    absl::AnyInvocable<void()> on_stopped;
  };
  AcceptCallback NativeCallback();
  // For StopAccept: hands late connections to on_accept, needing nothing
  // of this Acceptor, and counts the stop until the loop ends it.
  AcceptCallback LateCallback();
  // Runs on_stopped if the Acceptor is gone and no stop is pending.
  static void MaybeStopped(Shared& shared);
  // A connection accepted by the loop (no address): to `on_accept`, with
  // its peer from getpeername.
  static void HandOnAccepted(OnAccept& on_accept, int fd);
  void OnNativeAccept(int fd, int error);
  IoCallback ReadinessCallback();
  void OnFdLimit(int error);
  // A connection waits in the listener's backlog (poll says it is readable).
  bool ConnectionWaiting() const;
  // Any other error of the listener: count, tell, back off.
  void OnListenerError(int error);
  // Leaves the listener unwatched for fd_limit_backoff.
  void BackOff();
  void UpdateInterest();

  EventLoop* loop_;
  Listener listener_;
  std::shared_ptr<Shared> shared_;  // with LateCallback()
  AcceptorOptions options_;
  AcceptorStats stats_;
  UniqueFd reserve_;
  bool paused_ = false;
  bool native_ = false;  // the loop's StartAccept (io_uring), not Watch
  // Readiness loop: unwatched for an error's back-off (epoll reports a
  // hung-up listener even at interest 0), watched again after it.
  bool unwatched_ = false;
  // Completion-based loop, after an fd-limit error: the next accept waits
  // for a connection (`watching_`: a readiness Watch on the listener until
  // one comes). The kernel takes a descriptor for a multishot accept before
  // it looks at the backlog, so one re-armed with the table still full and
  // nobody waiting failed at once, every back-off (counted and logged as a
  // connection left waiting); a readiness loop tries only when one waits.
  bool accept_when_readable_ = false;
  bool watching_ = false;
  TimerId backoff_timer_ = kInvalidTimerId;
  // Set by the destructor so an on_accept that destroys us stops the loop.
  std::shared_ptr<bool> alive_;
};

}  // namespace brisk::net

#endif  // BRISK_NET_ACCEPTOR_H_
