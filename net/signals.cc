#include "net/signals.h"

#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace brisk::net {

absl::StatusOr<std::unique_ptr<SignalWatcher>> SignalWatcher::Create(
    EventLoop* loop, const std::vector<int>& signals, Callback cb) {
  if (signals.empty()) return absl::InvalidArgumentError("no signals given");
  sigset_t mask;
  sigemptyset(&mask);
  for (int signo : signals) {
    if (sigaddset(&mask, signo) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad signal ", signo));
    }
  }
  int err = pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  if (err != 0) {
    return absl::InternalError(absl::StrCat("pthread_sigmask: ", std::strerror(err)));
  }
  UniqueFd fd(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd) {
    return absl::InternalError(absl::StrCat("signalfd: ", std::strerror(errno)));
  }
  std::unique_ptr<SignalWatcher> watcher(
      new SignalWatcher(loop, std::move(fd), std::move(cb)));
  SignalWatcher* self = watcher.get();
  absl::Status s = loop->Watch(self->fd_.get(), kReadable,
                               [self](uint32_t) { self->OnReadable(); });
  if (!s.ok()) return s;
  return watcher;
}

SignalWatcher::~SignalWatcher() { (void)loop_->Unwatch(fd_.get()); }

void SignalWatcher::OnReadable() {
  // One signal per callback turn; level-triggered, so the rest come next
  // iteration (and the callback may destroy this watcher safely).
  signalfd_siginfo info;
  ssize_t n = read(fd_.get(), &info, sizeof(info));
  if (n != static_cast<ssize_t>(sizeof(info))) return;  // EAGAIN/EINTR
  cb_(static_cast<int>(info.ssi_signo));
}

}  // namespace brisk::net
