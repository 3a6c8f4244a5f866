#include "net/event_loop.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "net/loop_base.h"

namespace brisk::net {
namespace {

using internal::ErrnoStatus;

static_assert(EPOLLIN == POLLIN && EPOLLOUT == POLLOUT && EPOLLRDHUP == POLLRDHUP &&
              EPOLLHUP == POLLHUP && EPOLLERR == POLLERR && EPOLLPRI == POLLPRI);
uint32_t ToEpoll(uint32_t interest) { return internal::InterestToPollMask(interest); }
uint32_t FromEpoll(uint32_t events) { return internal::PollMaskToEvents(events); }

// Token reserved for the eventfd; registrations start at 1.
constexpr uint64_t kWakeToken = 0;

class EpollLoop final : public internal::LoopBase {
 public:
  EpollLoop(const Clock* clock, int max_events, int epfd, int wakefd)
      : LoopBase(clock),
        epfd_(epfd),
        wakefd_(wakefd),
        events_(static_cast<size_t>(max_events)) {}

  ~EpollLoop() override {
    close(epfd_);
    close(wakefd_);
  }

  absl::Status Watch(int fd, uint32_t interest, IoCallback cb) override {
    if (fd < 0) return absl::InvalidArgumentError("Watch: negative fd");
    if (fd_to_token_.contains(fd)) {
      return absl::AlreadyExistsError(absl::StrCat("Watch: fd ", fd, " already watched"));
    }
    uint64_t token = next_token_++;
    epoll_event ev{};
    ev.events = ToEpoll(interest);
    ev.data.u64 = token;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      return ErrnoStatus("epoll_ctl(ADD)", errno);
    }
    fd_to_token_.emplace(fd, token);
    registrations_.emplace(
        token, std::make_shared<Registration>(Registration{fd, std::move(cb)}));
    return absl::OkStatus();
  }

  absl::Status Modify(int fd, uint32_t interest) override {
    auto it = fd_to_token_.find(fd);
    if (it == fd_to_token_.end()) {
      return absl::NotFoundError(absl::StrCat("Modify: fd ", fd, " not watched"));
    }
    epoll_event ev{};
    ev.events = ToEpoll(interest);
    ev.data.u64 = it->second;
    if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) != 0) {
      return ErrnoStatus("epoll_ctl(MOD)", errno);
    }
    return absl::OkStatus();
  }

  absl::Status Unwatch(int fd) override {
    auto it = fd_to_token_.find(fd);
    if (it == fd_to_token_.end()) {
      return absl::NotFoundError(absl::StrCat("Unwatch: fd ", fd, " not watched"));
    }
    // The registration goes whatever epoll says (EBADF/ENOENT if the caller
    // already closed the fd); a running callback keeps its shared_ptr alive.
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    registrations_.erase(it->second);
    fd_to_token_.erase(it);
    return absl::OkStatus();
  }

  int RunOnce(Duration max_wait) override {
    const int timeout_ms = TimeoutMs(BeginIteration(max_wait));
    int n = epoll_wait(epfd_, events_.data(), static_cast<int>(events_.size()),
                       timeout_ms);
    int err = errno;
    const int64_t now = ReadClock();
    if (n < 0 && err != EINTR) {
      // Only EBADF/EFAULT/EINVAL are possible: broken invariant of ours.
      std::fprintf(stderr, "brisk::net: epoll_wait: %s\n", std::strerror(err));
      std::abort();
    }
    int callbacks = 0;
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      uint64_t token = events_[i].data.u64;
      if (token == kWakeToken) {
        woken = true;
        continue;
      }
      auto it = registrations_.find(token);
      if (it == registrations_.end()) {  // unwatched earlier in this batch
        CountStaleEvent();
        continue;
      }
      // Keep the callback alive even if it unwatches its own fd.
      std::shared_ptr<Registration> reg = it->second;
      reg->cb(FromEpoll(events_[i].events));
      ++callbacks;
    }
    CountIoEvents(callbacks);
    if (woken) DrainWakeFd();
    return callbacks + FinishIteration(now);
  }

  absl::Status Init() {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeToken;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) != 0) {
      return ErrnoStatus("epoll_ctl(ADD eventfd)", errno);
    }
    return absl::OkStatus();
  }

 private:
  struct Registration {
    int fd;
    IoCallback cb;
  };

  void Wake() override {
    CountWakeup();
    internal::SignalEventFd(wakefd_);
  }

  void DrainWakeFd() {
    uint64_t value;
    while (read(wakefd_, &value, sizeof(value)) < 0 && errno == EINTR) {
    }
  }

  static int TimeoutMs(int64_t wait_ns) {
    if (wait_ns < 0) return -1;
    // Round up so a timer is never woken for early (which would spin).
    int64_t ms = (wait_ns + 999'999) / 1'000'000;
    return static_cast<int>(std::min<int64_t>(ms, 1 << 30));
  }

  const int epfd_;
  const int wakefd_;
  std::vector<epoll_event> events_;

  // IO registrations: fd -> token -> callback. Tokens are never reused.
  uint64_t next_token_ = kWakeToken + 1;
  absl::flat_hash_map<int, uint64_t> fd_to_token_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<Registration>> registrations_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<EventLoop>> CreateEpollLoop(
    EventLoopOptions options) {
  if (options.max_events <= 0) {
    return absl::InvalidArgumentError("max_events must be positive");
  }
  const Clock* clock = options.clock ? options.clock : SystemClock::Get();
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return ErrnoStatus("epoll_create1", errno);
  int wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd < 0) {
    int err = errno;
    close(epfd);
    return ErrnoStatus("eventfd", err);
  }
  auto loop = std::make_unique<EpollLoop>(clock, options.max_events, epfd, wakefd);
  absl::Status s = loop->Init();
  if (!s.ok()) return s;
  return std::unique_ptr<EventLoop>(std::move(loop));
}

}  // namespace brisk::net
