#include "net/acceptor.h"

#include <fcntl.h>
#include <poll.h>

#include <utility>

namespace brisk::net {

absl::StatusOr<std::unique_ptr<Acceptor>> Acceptor::Create(
    EventLoop* loop, Listener listener, OnAccept on_accept,
    AcceptorOptions options) {
  std::unique_ptr<Acceptor> acceptor(new Acceptor(
      loop, std::move(listener), std::move(on_accept), std::move(options)));
  Acceptor* self = acceptor.get();
  // Completion-based where the loop has it (io_uring), else readiness.
  absl::Status s = loop->StartAccept(self->listener_.fd(), self->NativeCallback());
  if (s.ok()) {
    self->native_ = true;
    return acceptor;
  }
  if (s.code() != absl::StatusCode::kUnimplemented) return s;
  s = loop->Watch(self->listener_.fd(), kReadable, self->ReadinessCallback());
  if (!s.ok()) return s;
  return acceptor;
}

Acceptor::Acceptor(EventLoop* loop, Listener listener, OnAccept on_accept,
                   AcceptorOptions options)
    : loop_(loop),
      listener_(std::move(listener)),
      shared_(std::make_shared<Shared>(std::move(on_accept))),
      options_(std::move(options)),
      alive_(std::make_shared<bool>(true)) {
  if (options_.reserve_fd) {
    reserve_.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
  }
}

Acceptor::~Acceptor() {
  *alive_ = false;
  if (backoff_timer_ != kInvalidTimerId) loop_->Cancel(backoff_timer_);
  shared_->destroyed = true;
  if (native_) {
    if (watching_) (void)loop_->Unwatch(listener_.fd());
    loop_->StopAccept(listener_.fd(), LateCallback());  // ends it, posted
    return;
  }
  (void)loop_->Unwatch(listener_.fd());
  if (shared_->on_stopped) loop_->Post(std::move(shared_->on_stopped));
}

IoCallback Acceptor::ReadinessCallback() {
  return [this](uint32_t) { OnReadable(); };
}

AcceptCallback Acceptor::NativeCallback() {
  return [this](int fd, int error) { OnNativeAccept(fd, error); };
}

AcceptCallback Acceptor::LateCallback() {
  ++shared_->stops_pending;
  return [shared = shared_](int fd, int) {
    if (fd >= 0) {
      HandOnAccepted(shared->on_accept, fd);
      return;
    }
    --shared->stops_pending;  // this stop is over
    MaybeStopped(*shared);
  };
}

void Acceptor::MaybeStopped(Shared& shared) {
  if (shared.destroyed && shared.stops_pending == 0 && shared.on_stopped) {
    std::exchange(shared.on_stopped, nullptr)();
  }
}

void Acceptor::HandOnAccepted(OnAccept& on_accept, int fd) {
  // Multishot accept cannot return addresses: ask the socket.
  absl::StatusOr<SocketAddress> peer = SocketAddress::PeerOf(fd);
  on_accept(UniqueFd(fd), peer.ok() ? *peer : SocketAddress());
}

void Acceptor::Pause() {
  if (paused_) return;
  paused_ = true;
  UpdateInterest();
}

void Acceptor::Resume() {
  if (!paused_) return;
  paused_ = false;
  UpdateInterest();
}

void Acceptor::UpdateInterest() {
  // Interest 0 keeps the registration but reports nothing (the pending
  // connections wait in the kernel backlog).
  const bool active = !paused_ && backoff_timer_ == kInvalidTimerId;
  absl::Status s;
  if (native_) {
    if (active && accept_when_readable_) {
      // After an fd-limit error: accept once a connection waits.
      if (!watching_) {
        s = loop_->Watch(listener_.fd(), kReadable, [this](uint32_t) {
          accept_when_readable_ = false;
          UpdateInterest();
        });
        if (s.ok()) watching_ = true;
      }
    } else {
      if (watching_ && loop_->Unwatch(listener_.fd()).ok()) watching_ = false;
      // Stopped: the connections wait in the backlog. AlreadyExists (still
      // accepting) is fine.
      if (active) {
        s = loop_->StartAccept(listener_.fd(), NativeCallback());
        if (absl::IsAlreadyExists(s)) s = absl::OkStatus();
      } else {
        loop_->StopAccept(listener_.fd(), LateCallback());
      }
    }
  } else if (unwatched_) {
    if (active) {
      s = loop_->Watch(listener_.fd(), kReadable, ReadinessCallback());
      if (s.ok()) unwatched_ = false;
    }
  } else {
    s = loop_->Modify(listener_.fd(), active ? kReadable : 0);
  }
  if (s.ok()) return;
  ++stats_.watch_errors;
  if (options_.on_watch_error) options_.on_watch_error(s);
  // A listener left unwatched would never accept again: try again after
  // the back-off (and on, until it works).
  if (active && backoff_timer_ == kInvalidTimerId) {
    backoff_timer_ = loop_->RunAfter(options_.fd_limit_backoff, [this] {
      backoff_timer_ = kInvalidTimerId;
      UpdateInterest();
    });
  }
}

void Acceptor::OnNativeAccept(int fd, int error) {
  if (fd >= 0) {
    ++stats_.accepted;
    HandOnAccepted(shared_->on_accept, fd);
    return;
  }
  // Accepting has stopped.
  switch (ClassifyAcceptError(error)) {
    case AcceptResult::kFdLimit:
      OnFdLimit(error);
      return;
    case AcceptResult::kError:
      OnListenerError(error);
      return;
    default:
      break;
  }
  UpdateInterest();  // go on (on the next iteration)
}

void Acceptor::OnReadable() {
  std::shared_ptr<bool> alive = alive_;  // on_accept may destroy us
  const std::shared_ptr<Shared> shared = shared_;  // and it lives on till it returns
  for (int i = 0; i < options_.max_accepts_per_event && !paused_; ++i) {
    AcceptResult r = listener_.Accept();
    switch (r.outcome) {
      case AcceptResult::kAccepted:
        ++stats_.accepted;
        shared->on_accept(std::move(r.fd), r.peer);
        if (!*alive) return;
        break;
      case AcceptResult::kWouldBlock:
        return;
      case AcceptResult::kRetry:
        break;
      case AcceptResult::kFdLimit:
        // accept4 takes a descriptor before it looks at the queue: once an
        // accept took the last one, the next fails with EMFILE even with
        // no connection waiting. Not a connection left in the backlog, so
        // not counted, told or backed off for (the io_uring acceptor never
        // saw one either); a connection that comes is seen readable.
        if (!ConnectionWaiting()) return;
        OnFdLimit(r.error);
        return;
      case AcceptResult::kError:
        OnListenerError(r.error);
        return;
    }
  }
  // Cap reached: the listener is still readable (level-triggered), the rest
  // are accepted on the next iteration after the other fds had their turn.
}

bool Acceptor::ConnectionWaiting() const {
  pollfd p{.fd = listener_.fd(), .events = POLLIN, .revents = 0};
  return poll(&p, 1, 0) != 0;  // readable, or an error the accept will meet
}

void Acceptor::OnListenerError(int error) {
  ++stats_.errors;
  if (options_.on_accept_error) options_.on_accept_error(error);
  // The listener stays readable (level-triggered) or the multishot accept
  // would be re-armed at once: without a pause a persistent error (EINVAL
  // on a listener shut down under us) spins the loop at 100% CPU. epoll
  // reports a hung-up socket even with interest 0: unwatch it meanwhile.
  if (!native_ && !unwatched_ && loop_->Unwatch(listener_.fd()).ok()) unwatched_ = true;
  BackOff();
}

void Acceptor::BackOff() {
  if (backoff_timer_ == kInvalidTimerId) {
    backoff_timer_ = loop_->RunAfter(options_.fd_limit_backoff, [this] {
      backoff_timer_ = kInvalidTimerId;
      UpdateInterest();
    });
  }
  UpdateInterest();
}

void Acceptor::OnFdLimit(int error) {
  ++stats_.fd_limit_events;
  if (options_.on_fd_limit) options_.on_fd_limit(error);
  if (native_) accept_when_readable_ = true;
  if (reserve_) {
    // libuv's trick: free the spare, accept and close what is pending so the
    // clients see a prompt close instead of a hang, then re-take the spare.
    reserve_.reset();
    for (;;) {
      AcceptResult r = listener_.Accept();
      if (r.outcome == AcceptResult::kAccepted) {
        ++stats_.rejected;
        continue;  // closed by r.fd's destructor
      }
      if (r.outcome != AcceptResult::kRetry) break;
    }
    reserve_.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
  }
  // Stop polling the (still readable) listener until the back-off expires:
  // retrying at once would spin the loop at 100% CPU.
  BackOff();
}

}  // namespace brisk::net
