#include "net/loop_base.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace brisk::net::internal {
namespace {

// Lock-free max for the cross-thread stats snapshot.
void UpdateMax(std::atomic<int64_t>& max, int64_t value) {
  int64_t cur = max.load(std::memory_order_relaxed);
  while (value > cur &&
         !max.compare_exchange_weak(cur, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

absl::Status ErrnoStatus(absl::string_view what, int err) {
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat(what, ": ", std::strerror(err)));
}

uint32_t InterestToPollMask(uint32_t interest) {
  if (interest == 0) return 0;
  uint32_t mask = (interest & kNoHalfClose) != 0 ? 0 : POLLRDHUP;
  if (interest & kReadable) mask |= POLLIN;
  if (interest & kWritable) mask |= POLLOUT;
  return mask;
}

uint32_t PollMaskToEvents(uint32_t revents) {
  uint32_t ready = 0;
  if (revents & (POLLIN | POLLPRI)) ready |= kReadable;
  if (revents & POLLOUT) ready |= kWritable;
  if (revents & (POLLRDHUP | POLLHUP)) ready |= kHangup;
  if (revents & (POLLERR | POLLNVAL)) ready |= kError;
  return ready;
}

void SignalEventFd(int fd) {
  uint64_t one = 1;
  while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

LoopBase::LoopBase(const Clock* clock)
    : clock_(clock),
      now_ns_(clock->Now().time_since_epoch().count()),
      loop_thread_(std::this_thread::get_id()) {}

void LoopBase::Post(Task task) {
  const int64_t posted = clock_->Now().time_since_epoch().count();
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(post_mu_);
    was_empty = posted_.empty();
    posted_.push_back(PostedTask{posted, std::move(task)});
  }
  // Only the empty -> non-empty transition needs a wake-up: the loop swaps
  // the whole queue out, so later posts ride along with the first one. A
  // post from the loop thread itself needs none: the loop runs or checks
  // the queue before it next sleeps (BeginIteration polls when it is not
  // empty).
  if (was_empty && !IsInLoopThread()) Wake();
}

TimerId LoopBase::RunAt(TimePoint when, Task cb) {
  TimerId id = next_timer_id_++;
  heap_.push_back(HeapEntry{when.time_since_epoch().count(), id});
  std::push_heap(heap_.begin(), heap_.end(), Later);
  timers_.emplace(id, std::move(cb));
  return id;
}

bool LoopBase::Cancel(TimerId id) {
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

void LoopBase::Run() {
  while (!stop_.load(std::memory_order_acquire)) RunOnce(Duration(-1));
  stop_.store(false, std::memory_order_release);
}

void LoopBase::Stop() {
  stop_.store(true, std::memory_order_release);
  Wake();
}

LoopStats LoopBase::stats() const {
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

int64_t LoopBase::BeginIteration(Duration max_wait, bool extra_work) {
  loop_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  if (extra_work) return 0;
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
    int64_t until =
        heap_.front().due_ns - clock_->Now().time_since_epoch().count();
    if (until < 0) until = 0;
    if (wait_ns < 0 || until < wait_ns) wait_ns = until;
  }
  return wait_ns < 0 ? -1 : wait_ns;
}

int64_t LoopBase::ReadClock() {
  const int64_t now = clock_->Now().time_since_epoch().count();
  now_ns_.store(now, std::memory_order_relaxed);
  iterations_.fetch_add(1, std::memory_order_relaxed);
  return now;
}

int LoopBase::FinishIteration(int64_t now) {
  return RunTimers(now) + RunPosted(now);
}

void LoopBase::ReportLag(int64_t lag_ns, std::atomic<int64_t>& max) {
  UpdateMax(max, lag_ns);
  if (lag_observer_) lag_observer_(Duration(lag_ns));
}

int LoopBase::RunTimers(int64_t now) {
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
    AfterCallback();
    ++fired;
  }
  timers_fired_.fetch_add(fired, std::memory_order_relaxed);
  return fired;
}

int LoopBase::RunPosted(int64_t now) {
  {
    std::lock_guard<std::mutex> lock(post_mu_);
    running_.swap(posted_);
  }
  int ran = 0;
  for (PostedTask& t : running_) {
    ReportLag(std::max<int64_t>(0, now - t.posted_ns), max_post_lag_);
    t.task();
    AfterCallback();
    ++ran;
  }
  running_.clear();
  tasks_run_.fetch_add(ran, std::memory_order_relaxed);
  return ran;
}

}  // namespace brisk::net::internal
