// Event loop microbenchmarks: Post throughput, cross-thread wake-up round
// trip, timer insert/cancel with 100k timers, socketpair ping-pong through
// the loop (Watch, and the Stream each loop makes) against blocking
// read/write in two threads. Benchmarks with an "io_uring" argument run on
// epoll (0) and on io_uring (1).
//
//   tools/bazel run //net:event_loop_benchmark -- --benchmark_repetitions=3
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "benchmark/benchmark.h"
#include "net/event_loop.h"
#include "net/io_uring_loop.h"
#include "net/socket.h"
#include "net/stream.h"
#include "net/testing/socket_pair.h"

namespace brisk::net {
namespace {

// io_uring = 0: epoll; 1: io_uring.
std::unique_ptr<EventLoop> MakeLoop(int64_t io_uring = 0) {
  absl::StatusOr<std::unique_ptr<EventLoop>> loop =
      io_uring != 0 ? CreateIoUringLoop() : CreateEpollLoop();
  if (!loop.ok()) std::abort();
  return *std::move(loop);
}

// A loop running on its own thread until destruction.
class LoopThread {
 public:
  explicit LoopThread(int64_t io_uring = 0)
      : loop_(MakeLoop(io_uring)), thread_([this] { loop_->Run(); }) {}
  ~LoopThread() {
    loop_->Stop();
    thread_.join();
  }
  EventLoop* loop() { return loop_.get(); }

 private:
  std::unique_ptr<EventLoop> loop_;
  std::thread thread_;
};

// Runs `task` on the loop thread of `lt` and waits until it ran.
void RunOnLoop(LoopThread& lt, absl::AnyInvocable<void()> task) {
  std::atomic<bool> done{false};
  lt.loop()->Post([&] {
    task();
    done = true;
  });
  while (!done) std::this_thread::yield();
}

// The timed part of the echo benchmarks: 1 byte out on the blocking `fd`,
// the echo back.
void TimeEchoRoundTrips(benchmark::State& state, int fd) {
  char c = 'p';
  for (auto _ : state) {
    if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1) {
      state.SkipWithError("io failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// Posts from the benchmark thread to a loop running on another thread;
// items/s counts tasks run (the wait for the last one is timed).
void BM_PostThroughput(benchmark::State& state) {
  LoopThread lt(state.range(0));
  std::atomic<int64_t> ran{0};
  int64_t posted = 0;
  for (auto _ : state) {
    lt.loop()->Post([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
    ++posted;
  }
  while (ran.load(std::memory_order_acquire) != posted) std::this_thread::yield();
  state.SetItemsProcessed(posted);
  state.counters["wakeups_per_post"] =
      static_cast<double>(lt.loop()->stats().wakeups) / std::max<int64_t>(posted, 1);
}
BENCHMARK(BM_PostThroughput)->ArgName("io_uring")->Arg(0)->Arg(1)->UseRealTime();

// Round trip: the benchmark thread's loop posts to the other loop, which
// posts back; both sides sleep in epoll_wait and are woken by eventfd.
void BM_CrossThreadWakeupRoundTrip(benchmark::State& state) {
  // `remote` is declared last so it is joined first: its last Post to
  // `local` (the eventfd write may come after `answered` is seen) must be
  // over before `local` is destroyed.
  std::unique_ptr<EventLoop> local = MakeLoop(state.range(0));
  LoopThread remote(state.range(0));
  bool answered = false;
  auto round_trip = [&] {
    answered = false;
    remote.loop()->Post([&] { local->Post([&] { answered = true; }); });
    while (!answered) local->RunOnce(Duration(-1));
  };
  round_trip();
  if (!answered) state.SkipWithError("no answer");
  for (auto _ : state) round_trip();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CrossThreadWakeupRoundTrip)->ArgName("io_uring")->Arg(0)->Arg(1)->UseRealTime();

// With `range(0)` live timers (random deadlines within 60 s), the cost of one
// RunAfter + Cancel pair (a connection re-arming its idle timer).
void BM_TimerInsertCancelWithLiveTimers(benchmark::State& state) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> ms(1, 60000);
  for (int64_t i = 0; i < state.range(0); ++i) {
    loop->RunAfter(std::chrono::milliseconds(ms(rng)), [] {});
  }
  for (auto _ : state) {
    TimerId id = loop->RunAfter(std::chrono::milliseconds(ms(rng)), [] {});
    if (!loop->Cancel(id)) state.SkipWithError("cancel failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimerInsertCancelWithLiveTimers)->Arg(100000);

// Insert `range(0)` timers, then cancel them all; items = inserts + cancels.
void BM_TimerInsertThenCancelAll(benchmark::State& state) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> ms(1, 60000);
  std::vector<TimerId> ids(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    for (TimerId& id : ids) {
      id = loop->RunAfter(std::chrono::milliseconds(ms(rng)), [] {});
    }
    for (TimerId id : ids) {
      if (!loop->Cancel(id)) state.SkipWithError("cancel failed");
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0) * 2);
}
BENCHMARK(BM_TimerInsertThenCancelAll)->Arg(100000)->Unit(benchmark::kMillisecond);

// 100k timers all expiring: cost per fired timer.
void BM_TimerFire(benchmark::State& state) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  const int64_t n = state.range(0);
  int64_t fired = 0;
  for (auto _ : state) {
    for (int64_t i = 0; i < n; ++i) loop->RunAfter(Duration(i % 1000), [&] { ++fired; });
    // All due within 1 µs of the loop's time; the system clock moves on.
    const int64_t target = fired + n;
    while (fired < target) loop->RunOnce(Duration(0));
  }
  state.SetItemsProcessed(fired);
}
BENCHMARK(BM_TimerFire)->Arg(100000)->Unit(benchmark::kMillisecond);

// Both ends on one loop, one thread: a 1-byte ping goes a -> b, b's callback
// echoes it, a's callback sees the pong. Pure loop + syscall cost.
void BM_PingPongEventLoopOneThread(benchmark::State& state) {
  std::unique_ptr<EventLoop> loop = MakeLoop(state.range(0));
  SocketPair p(/*non_blocking=*/true);
  bool pong = false;
  char c = 'p';
  (void)loop->Watch(p.b.get(), kReadable, [&](uint32_t) {
    char x;
    if (read(p.b.get(), &x, 1) == 1 && write(p.b.get(), &x, 1) != 1) std::abort();
  });
  (void)loop->Watch(p.a.get(), kReadable, [&](uint32_t) {
    char x;
    if (read(p.a.get(), &x, 1) == 1) pong = true;
  });
  auto round_trip = [&] {
    pong = false;
    if (write(p.a.get(), &c, 1) != 1) std::abort();
    while (!pong) loop->RunOnce(Duration(-1));
  };
  round_trip();
  for (auto _ : state) round_trip();
  state.SetItemsProcessed(state.iterations());
  (void)loop->Unwatch(p.a.get());
  (void)loop->Unwatch(p.b.get());
}
BENCHMARK(BM_PingPongEventLoopOneThread)->ArgName("io_uring")->Arg(0)->Arg(1)->UseRealTime();

// Echo end on a loop thread, the benchmark thread writes and blocks in read:
// the cross-thread shape a server has (one wake-up per direction).
void BM_PingPongEventLoopEchoThread(benchmark::State& state) {
  SocketPair p(/*non_blocking=*/false);
  if (!SetNonBlocking(p.b.get()).ok()) std::abort();
  LoopThread lt(state.range(0));
  RunOnLoop(lt, [&] {
    (void)lt.loop()->Watch(p.b.get(), kReadable, [&](uint32_t) {
      char x;
      if (read(p.b.get(), &x, 1) == 1 && write(p.b.get(), &x, 1) != 1) std::abort();
    });
  });
  TimeEchoRoundTrips(state, p.a.get());
  RunOnLoop(lt, [&] { (void)lt.loop()->Unwatch(p.b.get()); });
}
BENCHMARK(BM_PingPongEventLoopEchoThread)->ArgName("io_uring")->Arg(0)->Arg(1)->UseRealTime();

// The same echo through the loop's Stream (epoll: readiness stream, read +
// send; io_uring: multishot receive and a send submitted with the next
// io_uring_enter): what a server connection costs per round trip.
class Echo : public StreamCallbacks {
 public:
  void OnStreamData(std::string_view data) override {
    stream->output().append(data);
    if (!stream->Flush()) stream->Close();
  }
  void OnStreamEof() override { stream->Close(); }
  void OnStreamDrained() override {}
  void OnStreamError(int) override { stream->Close(); }
  std::unique_ptr<Stream> stream;
};

void BM_PingPongStreamEchoThread(benchmark::State& state) {
  SocketPair p(/*non_blocking=*/false);
  if (!SetNonBlocking(p.b.get()).ok()) std::abort();
  LoopThread lt(state.range(0));
  Echo echo;
  RunOnLoop(lt, [&] {
    echo.stream = lt.loop()->CreateStream(std::move(p.b), &echo, {});
    echo.stream->Start();
  });
  TimeEchoRoundTrips(state, p.a.get());
  RunOnLoop(lt, [&] { echo.stream.reset(); });
}
BENCHMARK(BM_PingPongStreamEchoThread)->ArgName("io_uring")->Arg(0)->Arg(1)->UseRealTime();

// Baseline: the same echo with a thread blocked in read() instead of a loop.
void BM_PingPongBlockingTwoThreads(benchmark::State& state) {
  SocketPair p(/*non_blocking=*/false);
  std::thread echo([&] {
    char x;
    while (read(p.b.get(), &x, 1) == 1) {
      if (write(p.b.get(), &x, 1) != 1) break;
    }
  });
  char c = 'p';
  for (auto _ : state) {
    if (write(p.a.get(), &c, 1) != 1 || read(p.a.get(), &c, 1) != 1) {
      state.SkipWithError("io failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  shutdown(p.a.get(), SHUT_WR);  // echo thread sees EOF
  echo.join();
}
BENCHMARK(BM_PingPongBlockingTwoThreads)->UseRealTime();

}  // namespace
}  // namespace brisk::net

BENCHMARK_MAIN();
