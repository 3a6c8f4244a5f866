// ThreadPool: a fixed set of worker threads fed by a BoundedQueue of tasks.
//
//   brisk::ThreadPool pool(/*num_threads=*/4, /*queue_capacity=*/1024);
//   std::future<int> f = pool.Submit([] { return 6 * 7; });   // blocks if full
//   int v = f.get();                                           // 42
//   if (!pool.TryPost([] { Work(); })) { /* full: answer 503 */ }
//   pool.Shutdown();   // finish queued work, join (also done by ~ThreadPool)
//
// Tasks run in FIFO order of acceptance (with several workers they may finish
// in any order). A task may block; it occupies one worker while it does.
//
// Errors. An exception thrown by a Submit'ed callable is stored in its future
// and rethrown by get(). An exception escaping a Post'ed task is caught by the
// worker, counted in failed_tasks(), and otherwise ignored: it never kills the
// worker or the process.
//
// Shutdown semantics. Shutdown() closes the queue (every later submission is
// refused), lets the workers run every task accepted before it, then joins
// them. It is idempotent, may be called concurrently from several threads
// (all return once the workers are joined), and ~ThreadPool calls it. It must
// not be called from inside a pool task (the worker would join itself).
// After (or during) Shutdown():
//   - Post / TryPost return false and destroy the task without running it;
//   - TrySubmit returns std::nullopt;
//   - Submit returns a future whose get() throws std::future_error with code
//     std::future_errc::broken_promise (the task was destroyed unrun).
// A Submit/Post blocked on a full queue when Shutdown() starts is woken and
// refused the same way.
//
// Thread-safety: every member function may be called from any thread,
// including from pool tasks (except Shutdown, see above, and a blocking
// Submit/Post from a task into a full pool, which can deadlock like any
// bounded pool). The pool owns its threads and every queued task.

#ifndef BRISK_CONCURRENCY_THREAD_POOL_H_
#define BRISK_CONCURRENCY_THREAD_POOL_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "concurrency/bounded_queue.h"

namespace brisk {

class ThreadPool {
 public:
  using Task = absl::AnyInvocable<void()>;

  // How long an idle worker spins re-checking the queue before it sleeps on
  // a futex. A sleeping worker costs a wake-up (several microseconds) on the
  // next task; spinning costs CPU time while the pool is idle.
  static constexpr std::chrono::nanoseconds kDefaultWorkerSpin{50000};

  // Makes the thread `what` that runs `body`: TryStartThread unless the
  // owner passes its own (a server's starts its threads with its signals
  // blocked; a test's may fail), failing as it does (ResourceExhausted)
  // when the system has no thread to give (a limit on processes or
  // threads, memory).
  using ThreadSpawner = std::function<absl::StatusOr<std::thread>(
      absl::string_view what, std::function<void()> body)>;

  // Starts max(num_threads, 1) workers; the queue holds up to
  // max(queue_capacity, 1) tasks waiting for a worker. `thread_start`, if
  // set, runs first on each worker thread (concurrently on several), before
  // it takes any task: the place to name the thread or set its priority.
  // If a worker cannot be started, the pool is shut down at once (the
  // workers already started are joined; Post() refuses) and status() says
  // why: the constructor never throws for it.
  ThreadPool(int num_threads, size_t queue_capacity,
             std::chrono::nanoseconds worker_spin = kDefaultWorkerSpin,
             std::function<void()> thread_start = nullptr,
             ThreadSpawner spawn = nullptr);
  ~ThreadPool();  // Shutdown()

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `f` (blocking while the queue is full) and returns a future of its
  // result; an exception thrown by `f` travels through the future. After
  // shutdown the future holds std::future_error(broken_promise).
  template <typename F, typename R = std::invoke_result_t<std::decay_t<F>&>>
  std::future<R> Submit(F&& f);

  // Like Submit but never blocks: std::nullopt if the queue is full or the
  // pool is shut down (`f` is then destroyed unrun).
  template <typename F, typename R = std::invoke_result_t<std::decay_t<F>&>>
  std::optional<std::future<R>> TrySubmit(F&& f);

  // Fire and forget. Blocks while the queue is full. Returns false if the
  // pool is shut down (the task is destroyed unrun).
  bool Post(Task task);

  // Never blocks: false if the queue is full or the pool is shut down (the
  // task is destroyed unrun). The building block of admission control.
  bool TryPost(Task task);

  // Refuse new work, run everything already queued, join the workers.
  void Shutdown();

  // OK, or ResourceExhausted if not every worker could be started (the
  // pool then runs no task).
  const absl::Status& status() const { return status_; }

  int num_threads() const { return static_cast<int>(workers_.size()); }
  size_t queue_capacity() const { return queue_.capacity(); }
  // Tasks accepted but not yet picked up by a worker (approximate while busy).
  size_t queue_size() const { return queue_.size(); }
  // Number of Post'ed tasks that threw (exceptions caught by the workers).
  uint64_t failed_tasks() const {
    return failed_tasks_.load(std::memory_order_relaxed);
  }

 private:
  // Wraps `f` into a Task that fulfils a promise, and returns both.
  template <typename F, typename R>
  static std::pair<Task, std::future<R>> Package(F&& f);

  void WorkerLoop();

  const std::function<void()> thread_start_;
  BoundedQueue<Task> queue_;
  std::atomic<uint64_t> failed_tasks_{0};
  std::vector<std::thread> workers_;
  absl::Status status_;  // set by the constructor only
  std::mutex shutdown_mu_;  // serialises Shutdown(); guards joined_
  bool joined_ = false;
};

template <typename F, typename R>
std::pair<ThreadPool::Task, std::future<R>> ThreadPool::Package(F&& f) {
  std::promise<R> promise;
  std::future<R> future = promise.get_future();
  Task task = [promise = std::move(promise),
               fn = std::forward<F>(f)]() mutable {
    try {
      if constexpr (std::is_void_v<R>) {
        std::invoke(fn);
        promise.set_value();
      } else {
        promise.set_value(std::invoke(fn));
      }
    } catch (...) {
      promise.set_exception(std::current_exception());
    }
  };
  return {std::move(task), std::move(future)};
}

template <typename F, typename R>
std::future<R> ThreadPool::Submit(F&& f) {
  auto [task, future] = Package<F, R>(std::forward<F>(f));
  // If refused, `task` is destroyed here and its promise breaks.
  Post(std::move(task));
  return std::move(future);
}

template <typename F, typename R>
std::optional<std::future<R>> ThreadPool::TrySubmit(F&& f) {
  auto [task, future] = Package<F, R>(std::forward<F>(f));
  if (!TryPost(std::move(task))) return std::nullopt;
  return std::move(future);
}

}  // namespace brisk

#endif  // BRISK_CONCURRENCY_THREAD_POOL_H_
