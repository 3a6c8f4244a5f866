#include "concurrency/thread_pool.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "concurrency/start_thread.h"

namespace brisk {

ThreadPool::ThreadPool(int num_threads, size_t queue_capacity,
                       std::chrono::nanoseconds worker_spin,
                       std::function<void()> thread_start, ThreadSpawner spawn)
    : thread_start_(std::move(thread_start)),
      queue_(queue_capacity, worker_spin) {
  const int n = num_threads < 1 ? 1 : num_threads;
  workers_.reserve(n);  // push_back below never reallocates
  for (int i = 0; i < n; ++i) {
    const std::string what = absl::StrCat("worker thread ", i + 1, " of ", n);
    std::function<void()> body = [this] { WorkerLoop(); };
    absl::StatusOr<std::thread> t =
        spawn ? spawn(what, std::move(body)) : TryStartThread(what, std::move(body));
    if (!t.ok()) {
      status_ = t.status();
      Shutdown();  // joins the ones started
      return;
    }
    workers_.push_back(*std::move(t));
  }
}

ThreadPool::~ThreadPool() { Shutdown(); }

bool ThreadPool::Post(Task task) { return queue_.Push(std::move(task)); }

bool ThreadPool::TryPost(Task task) { return queue_.TryPush(std::move(task)); }

void ThreadPool::Shutdown() {
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  if (joined_) return;
  queue_.Close();  // workers drain what is queued, then Pop() ends
  for (std::thread& t : workers_) t.join();
  joined_ = true;
}

void ThreadPool::WorkerLoop() {
  if (thread_start_) thread_start_();
  while (std::optional<Task> task = queue_.Pop()) {
    try {
      (*task)();
    } catch (...) {
      failed_tasks_.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

}  // namespace brisk
