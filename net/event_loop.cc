#include "net/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace brisk::net {
namespace {

absl::Status ErrnoStatus(absl::string_view what, int err) {
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat(what, ": ", std::strerror(err)));
}

uint32_t ToEpoll(uint32_t interest) {
  if (interest == 0) return 0;  // registered but quiet, not even hang-ups
  uint32_t events = EPOLLRDHUP;
  if (interest & kReadable) events |= EPOLLIN;
  if (interest & kWritable) events |= EPOLLOUT;
  return events;
}

uint32_t FromEpoll(uint32_t events) {
  uint32_t ready = 0;
  if (events & (EPOLLIN | EPOLLPRI)) ready |= kReadable;
  if (events & EPOLLOUT) ready |= kWritable;
  if (events & (EPOLLRDHUP | EPOLLHUP)) ready |= kHangup;
  if (events & EPOLLERR) ready |= kError;
  return ready;
}

// Lock-free max for the cross-thread stats snapshot.
void UpdateMax(std::atomic<int64_t>& max, int64_t value) {
  int64_t cur = max.load(std::memory_order_relaxed);
  while (value > cur &&
         !max.compare_exchange_weak(cur, value, std::memory_order_relaxed)) {
  }
}

// Token reserved for the eventfd; registrations start at 1.
constexpr uint64_t kWakeToken = 0;

class EpollLoop final : public EventLoop {
 public:
  EpollLoop(const Clock* clock, int max_events, int epfd, int wakefd)
      : clock_(clock),
        epfd_(epfd),
        wakefd_(wakefd),
        events_(static_cast<size_t>(max_events)),
        now_ns_(clock->Now().time_since_epoch().count()),
        loop_thread_(std::this_thread::get_id()) {}

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

  void Post(Task task) override {
    const int64_t posted = clock_->Now().time_since_epoch().count();
    bool was_empty;
    {
      std::lock_guard<std::mutex> lock(post_mu_);
      was_empty = posted_.empty();
      posted_.push_back(PostedTask{posted, std::move(task)});
    }
    // Only the empty -> non-empty transition needs a wake-up: the loop swaps
    // the whole queue out, so later posts ride along with the first one.
    if (was_empty) Wake();
  }

  TimerId RunAt(TimePoint when, Task cb) override {
    TimerId id = next_timer_id_++;
    heap_.push_back(HeapEntry{when.time_since_epoch().count(), id});
    std::push_heap(heap_.begin(), heap_.end(), Later);
    timers_.emplace(id, std::move(cb));
    return id;
  }

  bool Cancel(TimerId id) override {
    // Lazy: the heap entry stays as a tombstone and is skipped when it
    // reaches the top; compact when tombstones outnumber live timers.
    if (timers_.erase(id) == 0) return false;
    if (heap_.size() > 64 && heap_.size() > 2 * timers_.size()) {
      heap_.erase(std::remove_if(heap_.begin(), heap_.end(),
                                 [this](const HeapEntry& e) {
                                   return !timers_.contains(e.id);
                                 }),
                  heap_.end());
      std::make_heap(heap_.begin(), heap_.end(), Later);
    }
    return true;
  }

  void Run() override {
    while (!stop_.load(std::memory_order_acquire)) RunOnce(Duration(-1));
    stop_.store(false, std::memory_order_release);
  }

  void Stop() override {
    stop_.store(true, std::memory_order_release);
    Wake();
  }

  int RunOnce(Duration max_wait) override {
    loop_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
    int timeout_ms = TimeoutMs(max_wait);
    int n = epoll_wait(epfd_, events_.data(), static_cast<int>(events_.size()),
                       timeout_ms);
    int err = errno;
    const int64_t now = clock_->Now().time_since_epoch().count();
    now_ns_.store(now, std::memory_order_relaxed);
    iterations_.fetch_add(1, std::memory_order_relaxed);
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
        stale_events_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      // Keep the callback alive even if it unwatches its own fd.
      std::shared_ptr<Registration> reg = it->second;
      reg->cb(FromEpoll(events_[i].events));
      ++callbacks;
    }
    io_events_.fetch_add(callbacks, std::memory_order_relaxed);
    if (woken) DrainWakeFd();
    callbacks += RunTimers(now);
    callbacks += RunPosted(now);
    return callbacks;
  }

  TimePoint Now() const override {
    return TimePoint(Duration(now_ns_.load(std::memory_order_relaxed)));
  }
  const Clock& clock() const override { return *clock_; }

  void SetLagObserver(absl::AnyInvocable<void(Duration)> observer) override {
    lag_observer_ = std::move(observer);
  }

  LoopStats stats() const override {
    LoopStats s;
    s.iterations = iterations_.load(std::memory_order_relaxed);
    s.io_events = io_events_.load(std::memory_order_relaxed);
    s.stale_events = stale_events_.load(std::memory_order_relaxed);
    s.timers_fired = timers_fired_.load(std::memory_order_relaxed);
    s.tasks_run = tasks_run_.load(std::memory_order_relaxed);
    s.wakeups = wakeups_.load(std::memory_order_relaxed);
    s.max_timer_lag = Duration(max_timer_lag_.load(std::memory_order_relaxed));
    s.max_post_lag = Duration(max_post_lag_.load(std::memory_order_relaxed));
    return s;
  }

  bool IsInLoopThread() const override {
    return std::this_thread::get_id() ==
           loop_thread_.load(std::memory_order_relaxed);
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
  struct HeapEntry {
    int64_t due_ns;
    TimerId id;
  };
  struct PostedTask {
    int64_t posted_ns;
    Task task;
  };
  // std::push_heap builds a max-heap; "later" puts the earliest on top, ties
  // broken by creation order.
  static bool Later(const HeapEntry& a, const HeapEntry& b) {
    return a.due_ns != b.due_ns ? a.due_ns > b.due_ns : a.id > b.id;
  }

  void Wake() {
    wakeups_.fetch_add(1, std::memory_order_relaxed);
    uint64_t one = 1;
    // EAGAIN means the counter is saturated: the loop is awake anyway.
    while (write(wakefd_, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
  }

  void DrainWakeFd() {
    uint64_t value;
    while (read(wakefd_, &value, sizeof(value)) < 0 && errno == EINTR) {
    }
  }

  int TimeoutMs(Duration max_wait) {
    // Work already queued: don't sleep.
    {
      std::lock_guard<std::mutex> lock(post_mu_);
      if (!posted_.empty()) return 0;
    }
    int64_t wait_ns = max_wait.count();  // negative = infinite
    while (!heap_.empty() && !timers_.contains(heap_.front().id)) {
      std::pop_heap(heap_.begin(), heap_.end(), Later);
      heap_.pop_back();
    }
    if (!heap_.empty()) {
      int64_t until = heap_.front().due_ns - clock_->Now().time_since_epoch().count();
      if (until < 0) until = 0;
      if (wait_ns < 0 || until < wait_ns) wait_ns = until;
    }
    if (wait_ns < 0) return -1;
    // Round up so a timer is never woken for early (which would spin).
    int64_t ms = (wait_ns + 999'999) / 1'000'000;
    return static_cast<int>(std::min<int64_t>(ms, 1 << 30));
  }

  void ReportLag(int64_t lag_ns, std::atomic<int64_t>& max) {
    UpdateMax(max, lag_ns);
    if (lag_observer_) lag_observer_(Duration(lag_ns));
  }

  int RunTimers(int64_t now) {
    // Take every due entry first: timers added by these callbacks (even with
    // zero delay) wait for the next iteration.
    due_.clear();
    while (!heap_.empty() && heap_.front().due_ns <= now) {
      due_.push_back(heap_.front());
      std::pop_heap(heap_.begin(), heap_.end(), Later);
      heap_.pop_back();
    }
    int fired = 0;
    for (const HeapEntry& e : due_) {
      auto it = timers_.find(e.id);
      if (it == timers_.end()) continue;  // cancelled (maybe by a sibling)
      Task cb = std::move(it->second);
      timers_.erase(it);
      ReportLag(now - e.due_ns, max_timer_lag_);
      cb();
      ++fired;
    }
    timers_fired_.fetch_add(fired, std::memory_order_relaxed);
    return fired;
  }

  int RunPosted(int64_t now) {
    {
      std::lock_guard<std::mutex> lock(post_mu_);
      running_.swap(posted_);
    }
    int ran = 0;
    for (PostedTask& t : running_) {
      ReportLag(std::max<int64_t>(0, now - t.posted_ns), max_post_lag_);
      t.task();
      ++ran;
    }
    running_.clear();
    tasks_run_.fetch_add(ran, std::memory_order_relaxed);
    return ran;
  }

  const Clock* clock_;
  const int epfd_;
  const int wakefd_;
  std::vector<epoll_event> events_;

  // IO registrations: fd -> token -> callback. Tokens are never reused.
  uint64_t next_token_ = kWakeToken + 1;
  absl::flat_hash_map<int, uint64_t> fd_to_token_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<Registration>> registrations_;

  // Timers: a binary min-heap of (due, id) plus the live callbacks by id.
  TimerId next_timer_id_ = kInvalidTimerId + 1;
  std::vector<HeapEntry> heap_;
  std::vector<HeapEntry> due_;
  absl::flat_hash_map<TimerId, Task> timers_;

  std::mutex post_mu_;
  std::vector<PostedTask> posted_;  // guarded by post_mu_
  std::vector<PostedTask> running_;

  std::atomic<bool> stop_{false};
  std::atomic<int64_t> now_ns_;
  std::atomic<std::thread::id> loop_thread_;
  absl::AnyInvocable<void(Duration)> lag_observer_;

  std::atomic<uint64_t> iterations_{0};
  std::atomic<uint64_t> io_events_{0};
  std::atomic<uint64_t> stale_events_{0};
  std::atomic<uint64_t> timers_fired_{0};
  std::atomic<uint64_t> tasks_run_{0};
  std::atomic<uint64_t> wakeups_{0};
  std::atomic<int64_t> max_timer_lag_{0};
  std::atomic<int64_t> max_post_lag_{0};
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
