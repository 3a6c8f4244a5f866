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

#include "absl/strings/str_cat.h"
#include "net/loop_base.h"

namespace brisk::net {
namespace {

using internal::ErrnoStatus;

static_assert(EPOLLIN == POLLIN && EPOLLOUT == POLLOUT && EPOLLRDHUP == POLLRDHUP &&
              EPOLLHUP == POLLHUP && EPOLLERR == POLLERR && EPOLLPRI == POLLPRI);
uint32_t ToEpoll(uint32_t interest) { return internal::InterestToPollMask(interest); }
uint32_t FromEpoll(uint32_t events) { return internal::PollMaskToEvents(events); }

// An event's token: the fd and the generation of its registration (every
// Watch of an fd makes a new one), so events of an fd unwatched, or
// unwatched and watched again, earlier in the same batch are recognised
// (a generation wrapping around is harmless: it would take 2^32 Watches of
// one fd within one batch). All ones is the eventfd's token: no fd is
// 0xffffffff, so no registration's token can equal it.
constexpr uint64_t kWakeToken = ~uint64_t{0};
uint64_t Token(int fd, uint32_t generation) {
  return (uint64_t{generation} << 32) | static_cast<uint32_t>(fd);
}

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
    if (static_cast<size_t>(fd) < registrations_.size() &&
        registrations_[fd].live) {
      return absl::AlreadyExistsError(absl::StrCat("Watch: fd ", fd, " already watched"));
    }
    if (static_cast<size_t>(fd) >= registrations_.size()) {
      registrations_.resize(static_cast<size_t>(fd) + 1);
    }
    Registration& reg = registrations_[fd];
    const uint32_t generation = reg.generation + 1;
    epoll_event ev{};
    ev.events = ToEpoll(interest);
    ev.data.u64 = Token(fd, generation);
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      return ErrnoStatus("epoll_ctl(ADD)", errno);
    }
    reg.generation = generation;
    reg.live = true;
    reg.cb = std::move(cb);
    return absl::OkStatus();
  }

  absl::Status Modify(int fd, uint32_t interest) override {
    const Registration* reg = Find(fd);
    if (reg == nullptr) {
      return absl::NotFoundError(absl::StrCat("Modify: fd ", fd, " not watched"));
    }
    epoll_event ev{};
    ev.events = ToEpoll(interest);
    ev.data.u64 = Token(fd, reg->generation);
    if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) != 0) {
      return ErrnoStatus("epoll_ctl(MOD)", errno);
    }
    return absl::OkStatus();
  }

  absl::Status Unwatch(int fd) override {
    Registration* reg = Find(fd);
    if (reg == nullptr) {
      return absl::NotFoundError(absl::StrCat("Unwatch: fd ", fd, " not watched"));
    }
    // The registration goes whatever epoll says (EBADF/ENOENT if the caller
    // already closed the fd). A running callback was moved out of its slot
    // (RunOnce) and is destroyed when it returns.
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    reg->live = false;
    reg->cb = nullptr;
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
      const uint64_t token = events_[i].data.u64;
      if (token == kWakeToken) {
        woken = true;
        continue;
      }
      const int fd = static_cast<int>(token & 0xffffffffu);
      const uint32_t generation = static_cast<uint32_t>(token >> 32);
      Registration* reg = Find(fd);
      if (reg == nullptr || reg->generation != generation) {
        CountStaleEvent();  // unwatched (and maybe watched again) earlier
        continue;
      }
      // The callback runs outside its slot: it may unwatch its own fd (its
      // slot is cleared, it lives on until it returns), watch it again, or
      // watch new fds (the slots may move).
      IoCallback cb = std::move(reg->cb);
      cb(FromEpoll(events_[i].events));
      ++callbacks;
      Registration& after = registrations_[fd];
      if (after.live && after.generation == generation) after.cb = std::move(cb);
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
  // One per fd number, indexed by it (fds are small and dense): a
  // registration costs no allocation and no hash-map slot.
  struct Registration {
    uint32_t generation = 0;
    bool live = false;
    IoCallback cb;
  };

  Registration* Find(int fd) {
    if (fd < 0 || static_cast<size_t>(fd) >= registrations_.size()) return nullptr;
    Registration& reg = registrations_[fd];
    return reg.live ? &reg : nullptr;
  }

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

  std::vector<Registration> registrations_;
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
