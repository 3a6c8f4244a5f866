// Throughput of bounded MPMC queues: brisk::BoundedQueue vs
// tbb::concurrent_bounded_queue vs a std::mutex + std::condition_variable
// deque, with P producer and C consumer threads started by the benchmark
// (1/1 and 2/2). Each iteration moves kItems integers through a queue of
// capacity kCapacity with blocking push/pop; items/s is reported.
//
//   tools/bazel run //concurrency:queue_benchmark -- --benchmark_repetitions=3

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "concurrency/bounded_queue.h"
#include "oneapi/tbb/concurrent_queue.h"

namespace brisk {
namespace {

constexpr int64_t kItems = 1 << 17;
constexpr size_t kCapacity = 1024;

struct BriskQueue {
  explicit BriskQueue(size_t capacity) : q(capacity) {}
  void Push(uint64_t v) { q.Push(v); }
  uint64_t Pop() { return *q.Pop(); }
  BoundedQueue<uint64_t> q;
};

struct TbbQueue {
  explicit TbbQueue(size_t capacity) {
    q.set_capacity(static_cast<std::ptrdiff_t>(capacity));
  }
  void Push(uint64_t v) { q.push(v); }
  uint64_t Pop() {
    uint64_t v;
    q.pop(v);
    return v;
  }
  tbb::concurrent_bounded_queue<uint64_t> q;
};

// The textbook queue: one mutex, two condition variables.
class MutexQueue {
 public:
  explicit MutexQueue(size_t capacity) : capacity_(capacity) {}
  void Push(uint64_t v) {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_; });
    items_.push_back(v);
    lock.unlock();
    not_empty_.notify_one();
  }
  uint64_t Pop() {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait(lock, [&] { return !items_.empty(); });
    const uint64_t v = items_.front();
    items_.pop_front();
    lock.unlock();
    not_full_.notify_one();
    return v;
  }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<uint64_t> items_;
};

// Moves kItems through a fresh queue with `producers` + `consumers` threads;
// returns the sum of everything popped.
template <typename Q>
uint64_t RunOnce(benchmark::State* state, int producers, int consumers) {
  Q q(kCapacity);
  std::atomic<bool> go{false};
  std::atomic<uint64_t> sum{0};
  std::vector<std::thread> threads;
  if (state != nullptr) state->PauseTiming();
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (int64_t i = p; i < kItems; i += producers) q.Push(i);
    });
  }
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&, c] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      uint64_t local = 0;
      for (int64_t i = c; i < kItems; i += consumers) local += q.Pop();
      sum.fetch_add(local);
    });
  }
  if (state != nullptr) state->ResumeTiming();
  go.store(true, std::memory_order_release);
  for (std::thread& t : threads) t.join();
  return sum.load();
}

template <typename Q>
void BM_Queue(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  const int consumers = static_cast<int>(state.range(1));
  constexpr uint64_t kExpected = uint64_t{kItems} * (kItems - 1) / 2;
  if (RunOnce<Q>(nullptr, producers, consumers) != kExpected) {
    state.SkipWithError("wrong checksum");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(RunOnce<Q>(&state, producers, consumers));
  }
  state.SetItemsProcessed(state.iterations() * kItems);
}

#define BRISK_QUEUE_BENCHMARK(Q)                                    \
  BENCHMARK_TEMPLATE(BM_Queue, Q)                                   \
      ->ArgNames({"producers", "consumers"})                        \
      ->Args({1, 1})                                                \
      ->Args({2, 2})                                                \
      ->UseRealTime()                                               \
      ->Unit(benchmark::kMillisecond)

BRISK_QUEUE_BENCHMARK(BriskQueue);
#ifndef BRISK_NO_TBB_BASELINES  // see BUILD: TBB is uninstrumented for TSan
BRISK_QUEUE_BENCHMARK(TbbQueue);
#endif
BRISK_QUEUE_BENCHMARK(MutexQueue);

}  // namespace
}  // namespace brisk
