// brisk::ThreadPool vs oneTBB (tbb::task_arena + tbb::task_group) on the same
// work:
//   - RoundTrip: submit one trivial task and wait for its completion
//     (submit-to-completion latency; the reported time is per round trip);
//   - Throughput: kTasks small tasks submitted back to back, then wait for
//     all (tasks/s).
// Both pools get 2 threads of their own (the machine has 2 cores). TBB's
// task_group::wait() lets the waiting thread run tasks itself, which our pool
// never does; the "Enqueue" TBB variants hand the task to an arena worker
// and wait on a std::promise, like our Submit().
//
// The *Alloc* variants measure whether tbb::scalable_allocator (tbbmalloc)
// for the future's shared state helps Submit() compared with std::allocator.
//
//   tools/bazel run //concurrency:thread_pool_benchmark -- --benchmark_repetitions=3

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "concurrency/thread_pool.h"
#include "oneapi/tbb/scalable_allocator.h"
#include "oneapi/tbb/task_arena.h"
#include "oneapi/tbb/task_group.h"

namespace brisk {
namespace {

constexpr int kThreads = 2;
constexpr size_t kCapacity = 1024;
constexpr int kTasks = 10000;

// Tiny CPU work so the task is not empty.
int Work(int x) {
  benchmark::DoNotOptimize(x);
  return x + 1;
}

// What ThreadPool::Submit does, with the promise's shared state allocated by
// `Alloc`.
template <typename Alloc>
std::future<int> SubmitWith(ThreadPool& pool, int x) {
  std::promise<int> promise(std::allocator_arg, Alloc());
  std::future<int> future = promise.get_future();
  pool.Post([p = std::move(promise), x]() mutable { p.set_value(Work(x)); });
  return future;
}

void BM_PoolRoundTrip(benchmark::State& state) {
  ThreadPool pool(kThreads, kCapacity);
  if (pool.Submit([] { return Work(1); }).get() != 2) {
    state.SkipWithError("wrong result");
  }
  int i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(pool.Submit([&] { return Work(i); }).get());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PoolRoundTrip)->UseRealTime();

// Per iteration, kTasks fire-and-forget tasks handed to `post`; the last one
// to finish releases the waiter.
template <typename PostFn>
void RunPostThroughput(benchmark::State& state, PostFn post) {
  for (auto _ : state) {
    std::atomic<int> left{kTasks};
    std::promise<void> done;
    for (int i = 0; i < kTasks; ++i) {
      post([&, i] {
        benchmark::DoNotOptimize(Work(i));
        if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) done.set_value();
      });
    }
    done.get_future().wait();
  }
  state.SetItemsProcessed(state.iterations() * kTasks);
}

void BM_PoolPostThroughput(benchmark::State& state) {
  ThreadPool pool(kThreads, kCapacity);
  RunPostThroughput(state, [&](auto task) { pool.Post(std::move(task)); });
}
BENCHMARK(BM_PoolPostThroughput)->UseRealTime();

template <typename Alloc>
void BM_PoolSubmitThroughput(benchmark::State& state) {
  ThreadPool pool(kThreads, kCapacity);
  std::vector<std::future<int>> futures;
  futures.reserve(kTasks);
  if (SubmitWith<Alloc>(pool, 1).get() != 2) state.SkipWithError("wrong");
  for (auto _ : state) {
    futures.clear();
    for (int i = 0; i < kTasks; ++i) {
      futures.push_back(SubmitWith<Alloc>(pool, i));
    }
    for (auto& f : futures) benchmark::DoNotOptimize(f.get());
  }
  state.SetItemsProcessed(state.iterations() * kTasks);
}
BENCHMARK_TEMPLATE(BM_PoolSubmitThroughput, std::allocator<int>)->UseRealTime();
#ifndef BRISK_NO_TBB_BASELINES
BENCHMARK_TEMPLATE(BM_PoolSubmitThroughput, tbb::scalable_allocator<int>)
    ->UseRealTime();
#endif

#ifndef BRISK_NO_TBB_BASELINES  // see BUILD: TBB is uninstrumented for TSan

void BM_TbbTaskGroupRoundTrip(benchmark::State& state) {
  tbb::task_arena arena(kThreads);
  tbb::task_group group;
  int out = 0;
  for (auto _ : state) {
    arena.execute([&] {
      group.run([&] { out = Work(out); });
      group.wait();
    });
  }
  benchmark::DoNotOptimize(out);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TbbTaskGroupRoundTrip)->UseRealTime();

void BM_TbbEnqueueRoundTrip(benchmark::State& state) {
  tbb::task_arena arena(kThreads, /*reserved_for_masters=*/0);
  for (auto _ : state) {
    std::promise<int> promise;
    std::future<int> future = promise.get_future();
    arena.enqueue([&promise] { promise.set_value(Work(1)); });
    benchmark::DoNotOptimize(future.get());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TbbEnqueueRoundTrip)->UseRealTime();

void BM_TbbTaskGroupThroughput(benchmark::State& state) {
  tbb::task_arena arena(kThreads);
  tbb::task_group group;
  for (auto _ : state) {
    arena.execute([&] {
      for (int i = 0; i < kTasks; ++i) {
        group.run([i] { benchmark::DoNotOptimize(Work(i)); });
      }
      group.wait();
    });
  }
  state.SetItemsProcessed(state.iterations() * kTasks);
}
BENCHMARK(BM_TbbTaskGroupThroughput)->UseRealTime();

void BM_TbbEnqueueThroughput(benchmark::State& state) {
  tbb::task_arena arena(kThreads, /*reserved_for_masters=*/0);
  RunPostThroughput(state,
                    [&](auto task) { arena.enqueue(std::move(task)); });
}
BENCHMARK(BM_TbbEnqueueThroughput)->UseRealTime();

#endif  // BRISK_NO_TBB_BASELINES

}  // namespace
}  // namespace brisk
