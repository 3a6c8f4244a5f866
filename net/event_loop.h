// EventLoop: one thread's reactor. IO readiness callbacks, timers, and tasks
// posted from other threads, run one at a time on the loop thread.
//
//   absl::StatusOr<std::unique_ptr<EventLoop>> loop = CreateEpollLoop();
//   if (!loop.ok()) return loop.status();
//   (*loop)->Watch(fd, kReadable, [&](uint32_t events) {
//     if (events & (kHangup | kError)) { (*loop)->Unwatch(fd); close(fd); return; }
//     ... read until EAGAIN or a fairness cap ...
//   });
//   TimerId t = (*loop)->RunAfter(std::chrono::seconds(10), [] { ... });
//   std::thread worker([&] { (*loop)->Post([] { /* on the loop thread */ }); });
//   (*loop)->Run();  // until Stop()
//
// Threading: one loop per thread. The "loop thread" is the thread that calls
// Run()/RunOnce() (before the first call, the creating thread). Every method
// is loop-thread only EXCEPT Post(), Stop(), stats() and Now(), which are
// safe from any thread. Callbacks always run on the loop thread, never
// concurrently with each other.
//
// Triggering: the epoll implementation is LEVEL-triggered. A callback may read
// only up to a fairness cap and return; the fd is reported again on the next
// iteration, so no readiness is ever lost and no fd can starve the others.
// The price: a caller must drop kWritable from the interest (Modify) once its
// output is flushed, or it will be called on every iteration.
//
// Re-entrancy and lifetime: from inside any callback it is safe to Unwatch
// (and close) any fd, including one whose event is pending in the same
// epoll_wait batch, and to destroy the object owning that fd's callback.
// Every registration carries a never-reused 64-bit token in the epoll event;
// a pending event whose token no longer maps to a live registration is
// dropped, so an event never reaches a stale registration even when the fd
// number has been reused. A callback object is kept alive until it returns,
// even if it Unwatches itself.
//
// Ordering of one iteration (RunOnce): epoll_wait (bounded by the earliest
// timer), read the clock once, dispatch IO events, fire due timers, run posted
// tasks. The timers due and the tasks queued are taken as a batch: a timer
// added by a timer callback, or a task posted by a task, waits for the next
// iteration (a zero-delay timer re-armed from its own callback cannot starve
// IO). A task posted by an IO or timer callback runs in the same iteration.
//
// Shutdown: destroying the loop drops (never runs) pending tasks and timers,
// destroying their callbacks on the destroying thread. Posting after
// destruction is a use-after-free: the owner must join posting threads first.
#ifndef BRISK_NET_EVENT_LOOP_H_
#define BRISK_NET_EVENT_LOOP_H_

#include <chrono>
#include <cstdint>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "net/clock.h"

namespace brisk::net {

class Stream;
class StreamCallbacks;
struct StreamOptions;
class UniqueFd;

// Interest bits (Watch/Modify) and ready-event bits (IoCallback argument).
inline constexpr uint32_t kReadable = 1u << 0;
inline constexpr uint32_t kWritable = 1u << 1;
// Reported only: peer closed its side or the connection hung up
// (EPOLLRDHUP / EPOLLHUP). Always monitored while a fd is watched with a
// non-zero interest. Level-triggered: keeps firing until Unwatch.
inline constexpr uint32_t kHangup = 1u << 2;
// Reported only: EPOLLERR (e.g. a failed connect, a reset). Read SO_ERROR.
inline constexpr uint32_t kError = 1u << 3;
// Interest modifier (with kReadable and/or kWritable): the peer's
// half-close (EPOLLRDHUP) is not monitored. For an owner that has read the
// end of input already and still writes: level-triggered, the half-close
// would be reported on every iteration until the output drains. A full
// hang-up (EPOLLHUP) and errors are still reported.
inline constexpr uint32_t kNoHalfClose = 1u << 4;

using IoCallback = absl::AnyInvocable<void(uint32_t events)>;
using Task = absl::AnyInvocable<void()>;
// A completion of StartAccept(): `fd` >= 0 is an accepted connection, owned
// by the callee (non-blocking, close-on-exec); `fd` < 0 means an accept
// failed with errno `error`, after which accepting has stopped until the
// next StartAccept().
using AcceptCallback = absl::AnyInvocable<void(int fd, int error)>;

// Identifies a timer for Cancel(). Never reused within one loop; 0 is never
// a valid id.
using TimerId = uint64_t;
inline constexpr TimerId kInvalidTimerId = 0;

// Counters a server can export. Snapshot; fields are monotonic except the
// maxima, which are the maxima since the loop started.
struct LoopStats {
  uint64_t iterations = 0;       // RunOnce iterations (epoll_wait returns).
  uint64_t io_events = 0;        // IO callbacks dispatched.
  uint64_t stale_events = 0;     // Events dropped: registration gone.
  uint64_t timers_fired = 0;     // Timer callbacks run (= timer lag samples).
  uint64_t tasks_run = 0;        // Posted tasks run (= post lag samples).
  uint64_t wakeups = 0;          // eventfd writes (Post coalesces; Stop).
  Duration max_timer_lag{0};     // Max (loop time when fired - due time).
  Duration max_post_lag{0};      // Max (loop time when run - Post() time).
};

struct EventLoopOptions {
  // Not owned; must outlive the loop. nullptr = SystemClock::Get().
  const Clock* clock = nullptr;
  // Maximum events taken from one epoll_wait (io_uring: completions taken
  // from the completion queue per iteration).
  int max_events = 256;
  // io_uring only: submission queue entries (the completion queue is 4x),
  // and the receive buffers shared by every stream of the loop (a provided
  // buffer ring; count a power of two, at most 32768).
  unsigned ring_entries = 512;
  unsigned recv_buffers = 256;
  size_t recv_buffer_size = 16 * 1024;
};

class EventLoop {
 public:
  virtual ~EventLoop() = default;

  // Starts watching `fd` (not owned; the caller must Unwatch before close)
  // for `interest` (kReadable | kWritable). Interest 0 parks the fd: only
  // what epoll always reports (EPOLLHUP -> kHangup, EPOLLERR -> kError) can
  // still arrive, and the callback must then close or Unwatch it.
  // AlreadyExists if `fd` is already watched by this loop.
  virtual absl::Status Watch(int fd, uint32_t interest, IoCallback cb) = 0;
  // Changes the interest of a watched fd. NotFound if not watched.
  virtual absl::Status Modify(int fd, uint32_t interest) = 0;
  // Stops watching; the callback is destroyed (after it returns, if it is
  // running). Pending events for `fd` in the current batch are dropped.
  // NotFound if not watched. Safe from inside any callback.
  virtual absl::Status Unwatch(int fd) = 0;

  // Runs `task` on the loop thread in a later iteration, in FIFO order.
  // Any thread. Wakes the loop (one eventfd write per empty->non-empty
  // transition of the queue, so bursts of posts cost one wake-up).
  virtual void Post(Task task) = 0;

  // Timers: `cb` runs once on the loop thread at the first iteration whose
  // Now() >= `when`. Timers due at the same time fire in creation order.
  // Loop thread only; callbacks may add and cancel timers.
  virtual TimerId RunAt(TimePoint when, Task cb) = 0;
  // A delay the clock cannot count to (nanoseconds::max(), hours::max():
  // "never") is due at TimePoint::max() instead of overflowing into the past.
  template <typename Rep, typename Period>
  TimerId RunAfter(std::chrono::duration<Rep, Period> delay, Task cb) {
    const TimePoint now = Now();
    if (std::chrono::duration<double>(delay) >=
        std::chrono::duration<double>(TimePoint::max() - now)) {
      return RunAt(TimePoint::max(), std::move(cb));
    }
    return RunAt(now + std::chrono::ceil<Duration>(delay), std::move(cb));
  }
  // True if the timer was pending and is now cancelled (its callback is
  // destroyed); false if it already fired, was cancelled or never existed.
  virtual bool Cancel(TimerId id) = 0;

  // Runs iterations until Stop(). Stop() called before Run() makes Run()
  // return at once; the stop request is cleared when Run() returns.
  virtual void Run() = 0;
  // Asks Run() to return after the current iteration. Any thread.
  virtual void Stop() = 0;
  // One iteration waiting at most `max_wait` (0 = poll; negative = until an
  // event, timer or post). Returns the number of callbacks run (IO + timers +
  // tasks). For tests and embedding.
  virtual int RunOnce(Duration max_wait) = 0;

  // The time read at the start of the current iteration (between iterations:
  // of the last one; before any: the clock's time at creation). Any thread.
  virtual TimePoint Now() const = 0;
  // The injected clock.
  virtual const Clock& clock() const = 0;

  // `observer(lag)` is called on the loop thread for every timer fired
  // (lag = now - due) and every posted task run (lag = now - post time).
  // Keep it cheap (e.g. a histogram add). Loop thread only.
  virtual void SetLagObserver(absl::AnyInvocable<void(Duration)> observer) = 0;
  // Any thread.
  virtual LoopStats stats() const = 0;
  // True on the loop thread.
  virtual bool IsInLoopThread() const = 0;

  // A Stream (stream.h) over the connected socket `fd`, delivering to
  // `callbacks` on this loop. The default drives it by readiness (Watch plus
  // read/send); a completion-based loop returns its own kind. Loop thread
  // only; call Start() on the result.
  virtual std::unique_ptr<Stream> CreateStream(UniqueFd fd,
                                               StreamCallbacks* callbacks,
                                               const StreamOptions& options);

  // Accepting by completion (io_uring's multishot accept): `cb` is called on
  // the loop thread for every connection accepted from the listening socket
  // `listen_fd` (not owned), or once with an error, after which accepting
  // has stopped (call StartAccept again, e.g. after a back-off). Loops
  // without it (epoll) return Unimplemented: use Watch and accept4 instead
  // (the Acceptor does either). AlreadyExists if `listen_fd` is accepting.
  // Loop thread only.
  virtual absl::Status StartAccept(int listen_fd, AcceptCallback cb);
  // Stops accepting from `listen_fd`; `cb` is not called again. Safe from
  // inside `cb`. No-op if not accepting. A completion-based loop may still
  // take connections the stop has not reached (io_uring's multishot accept
  // runs until its cancellation completes, an iteration later): they go to
  // `late` on the loop thread, with error 0, whenever they come while the
  // loop lives (so what it uses must live as long as the loop), or are
  // closed when `late` is null. Either way none is left half-accepted.
  // Once none can come any more, `late` is called a last time with fd -1
  // and error 0 (also when `listen_fd` was not accepting, or on a loop
  // that takes none after a stop): on the loop thread, never from within
  // StopAccept itself, and not at all if the loop is destroyed first. A
  // drain waits for it before it counts its connections as all there.
  void StopAccept(int listen_fd) { StopAccept(listen_fd, nullptr); }
  virtual void StopAccept(int listen_fd, AcceptCallback late);
};

// The epoll implementation (epoll + eventfd + a timer heap; see README.md).
absl::StatusOr<std::unique_ptr<EventLoop>> CreateEpollLoop(
    EventLoopOptions options = {});

}  // namespace brisk::net

#endif  // BRISK_NET_EVENT_LOOP_H_
