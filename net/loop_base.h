// LoopBase: what every EventLoop implementation shares, whatever waits for
// IO: the timer heap, the cross-thread task queue, the clock read once per
// iteration, the lag observer and the stats counters. A backend (epoll,
// io_uring) derives from it and supplies the IO half: Watch/Modify/Unwatch,
// RunOnce (wait, then DispatchIo, then FinishIteration) and Wake().
//
//   int MyLoop::RunOnce(Duration max_wait) {
//     const int64_t wait_ns = BeginIteration(max_wait);  // -1 = no limit
//     ... wait for IO at most wait_ns ...
//     const int64_t now = ReadClock();
//     int callbacks = ... dispatch IO ...;
//     return callbacks + FinishIteration(now);  // timers, then posted tasks
//   }
//
// Internal to net/ (not a public target). Thread-safety as EventLoop's:
// Post(), Stop(), stats(), Now() and IsInLoopThread() from any thread, the
// rest on the loop thread; Wake() is called from any thread.
#ifndef BRISK_NET_LOOP_BASE_H_
#define BRISK_NET_LOOP_BASE_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "net/event_loop.h"

namespace brisk::net::internal {

// An errno as a Status ("what: strerror").
absl::Status ErrnoStatus(absl::string_view what, int err);

// Interest bits -> poll(2) event mask, and a ready mask -> event bits. The
// epoll constants have the poll values (EPOLLIN == POLLIN, ...), so both
// loops use these. Interest 0 parks: only ERR/HUP can still be reported.
uint32_t InterestToPollMask(uint32_t interest);
uint32_t PollMaskToEvents(uint32_t revents);

// Adds 1 to an eventfd's counter (a cross-thread wake-up). EAGAIN means the
// counter is saturated: the loop is awake anyway.
void SignalEventFd(int fd);

class LoopBase : public EventLoop {
 public:
  explicit LoopBase(const Clock* clock);

  void Post(Task task) override;
  TimerId RunAt(TimePoint when, Task cb) override;
  bool Cancel(TimerId id) override;
  void Run() override;
  void Stop() override;
  TimePoint Now() const override {
    return TimePoint(Duration(now_ns_.load(std::memory_order_relaxed)));
  }
  const Clock& clock() const override { return *clock_; }
  void SetLagObserver(absl::AnyInvocable<void(Duration)> observer) override {
    lag_observer_ = std::move(observer);
  }
  LoopStats stats() const override;
  bool IsInLoopThread() const override {
    return std::this_thread::get_id() ==
           loop_thread_.load(std::memory_order_relaxed);
  }

 protected:
  // Wakes a waiting RunOnce from any thread (eventfd write or equivalent).
  // Implementations call CountWakeup().
  virtual void Wake() = 0;

  // Marks the calling thread as the loop thread and returns how long the
  // wait may last, in nanoseconds: `max_wait` shortened to the earliest
  // timer, 0 if tasks are queued or `extra_work` is set; -1 = no limit.
  int64_t BeginIteration(Duration max_wait, bool extra_work = false);
  // Reads the clock (once per iteration) and counts the iteration.
  int64_t ReadClock();
  // Fires due timers, then runs the posted tasks; returns how many ran.
  int FinishIteration(int64_t now);

  // Called after each timer callback and posted task FinishIteration runs
  // (io_uring submits a send that has waited long meanwhile).
  virtual void AfterCallback() {}

  void CountWakeup() { wakeups_.fetch_add(1, std::memory_order_relaxed); }
  void CountIoEvents(int n) { io_events_.fetch_add(n, std::memory_order_relaxed); }
  void CountStaleEvent() { stale_events_.fetch_add(1, std::memory_order_relaxed); }
  const Clock* clock_ptr() const { return clock_; }

 private:
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
  void ReportLag(int64_t lag_ns, std::atomic<int64_t>& max);
  int RunTimers(int64_t now);
  int RunPosted(int64_t now);

  const Clock* const clock_;

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

}  // namespace brisk::net::internal

#endif  // BRISK_NET_LOOP_BASE_H_
