#include "net/event_loop.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "net/clock.h"
#include "net/socket.h"
#include "net/testing/loop_factory.h"
#include "net/testing/socket_pair.h"

namespace brisk::net {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
constexpr Duration kPoll{0};

// Every case runs on each implementation (epoll, io_uring).
class EventLoopTest : public ::testing::TestWithParam<LoopKind> {
 protected:
  std::unique_ptr<EventLoop> MakeLoop(const Clock* clock = nullptr) {
    absl::StatusOr<std::unique_ptr<EventLoop>> loop =
        CreateLoop(GetParam(), {.clock = clock});
    EXPECT_TRUE(loop.ok()) << loop.status();
    return *std::move(loop);
  }
};

void WriteAll(int fd, const std::string& s) {
  ASSERT_EQ(write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size()));
}

TEST_P(EventLoopTest, ReadableAfterWriteAndLevelTriggered) {
  auto loop = MakeLoop();
  SocketPair p;
  int calls = 0;
  uint32_t last = 0;
  ASSERT_TRUE(loop->Watch(p.a.get(), kReadable, [&](uint32_t ev) {
                    ++calls;
                    last = ev;
                  }).ok());
  EXPECT_EQ(loop->RunOnce(kPoll), 0);
  EXPECT_EQ(calls, 0);
  WriteAll(p.b.get(), "x");
  EXPECT_EQ(loop->RunOnce(kPoll), 1);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(last, kReadable);
  // Level-triggered: not consumed, reported again.
  loop->RunOnce(kPoll);
  EXPECT_EQ(calls, 2);
  char c;
  ASSERT_EQ(read(p.a.get(), &c, 1), 1);
  loop->RunOnce(kPoll);
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(loop->Unwatch(p.a.get()).ok());
}

TEST_P(EventLoopTest, ModifyWritableAndErrors) {
  auto loop = MakeLoop();
  SocketPair p;
  uint32_t seen = 0;
  ASSERT_TRUE(loop->Watch(p.a.get(), 0, [&](uint32_t ev) { seen |= ev; }).ok());
  loop->RunOnce(kPoll);
  EXPECT_EQ(seen, 0u);
  ASSERT_TRUE(loop->Modify(p.a.get(), kWritable).ok());
  loop->RunOnce(kPoll);
  EXPECT_EQ(seen, kWritable);
  EXPECT_EQ(loop->Watch(p.a.get(), kReadable, [](uint32_t) {}).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(loop->Modify(p.b.get(), kReadable).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(loop->Unwatch(p.b.get()).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(loop->Unwatch(p.a.get()).ok());
  EXPECT_FALSE(loop->Watch(-1, kReadable, [](uint32_t) {}).ok());
}

// Several Modify() calls between two iterations leave one registration:
// one callback per iteration while ready, and after Unwatch the descriptor
// is the caller's alone (closing it closes the socket: the peer sees EOF).
// On io_uring each Modify used to replace the poll under the other of two
// tags: after two, a cancelled poll's completion was taken for the live
// one's and both ran on, and Unwatch cancelled only one of them, which kept
// the socket open after close().
TEST_P(EventLoopTest, ModifyTwiceInOneIterationKeepsOneRegistration) {
  auto loop = MakeLoop();
  SocketPair p;
  int calls = 0;
  ASSERT_TRUE(loop->Watch(p.a.get(), kReadable, [&](uint32_t) { ++calls; }).ok());
  loop->RunOnce(kPoll);
  ASSERT_TRUE(loop->Modify(p.a.get(), kReadable | kWritable).ok());
  ASSERT_TRUE(loop->Modify(p.a.get(), kReadable).ok());
  for (int i = 0; i < 3; ++i) loop->RunOnce(kPoll);
  EXPECT_EQ(calls, 0);  // not readable; writable no longer asked for
  WriteAll(p.b.get(), "x");
  for (int i = 1; i <= 3; ++i) {
    loop->RunOnce(kPoll);
    EXPECT_EQ(calls, i);  // level-triggered: once per iteration
  }
  char c;
  ASSERT_EQ(read(p.a.get(), &c, 1), 1);
  ASSERT_TRUE(loop->Unwatch(p.a.get()).ok());
  for (int i = 0; i < 3; ++i) loop->RunOnce(kPoll);
  p.a.reset();
  for (int i = 0; i < 3; ++i) loop->RunOnce(kPoll);
  EXPECT_EQ(read(p.b.get(), &c, 1), 0) << "the socket is still open";
  EXPECT_EQ(calls, 3);
}

TEST_P(EventLoopTest, PeerHangupReported) {
  auto loop = MakeLoop();
  SocketPair p;
  uint32_t seen = 0;
  ASSERT_TRUE(loop->Watch(p.a.get(), kReadable, [&](uint32_t ev) { seen = ev; }).ok());
  p.b.reset();
  loop->RunOnce(kPoll);
  EXPECT_TRUE(seen & kHangup) << seen;
  EXPECT_TRUE(seen & kReadable) << seen;  // read() returns 0 (EOF)
  EXPECT_TRUE(loop->Unwatch(p.a.get()).ok());
}

TEST_P(EventLoopTest, TcpPeerShutdownWriteIsRdHup) {
  auto loop = MakeLoop();
  absl::StatusOr<Listener> listener = Listener::Create("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok()) << listener.status();
  absl::StatusOr<UniqueFd> client = Connect("127.0.0.1", listener->port());
  ASSERT_TRUE(client.ok()) << client.status();
  AcceptResult server;
  for (int i = 0; i < 1000 && server.outcome != AcceptResult::kAccepted; ++i) {
    server = listener->Accept();  // connect() completed: it is queued
  }
  ASSERT_EQ(server.outcome, AcceptResult::kAccepted);
  uint32_t seen = 0;
  ASSERT_TRUE(
      loop->Watch(server.fd.get(), kReadable, [&](uint32_t ev) { seen = ev; }).ok());
  ASSERT_EQ(shutdown(client->get(), SHUT_WR), 0);
  loop->RunOnce(milliseconds(5000));  // returns as soon as the FIN arrives
  EXPECT_TRUE(seen & kHangup) << seen;
  EXPECT_TRUE(loop->Unwatch(server.fd.get()).ok());
}

// Unwatch + close another fd whose event is pending in the same batch, and
// reuse its number for a new registration: the stale event must be dropped.
TEST_P(EventLoopTest, UnwatchAndCloseOtherFdInsideCallback) {
  auto loop = MakeLoop();
  SocketPair p1, p2;
  WriteAll(p1.b.get(), "1");
  WriteAll(p2.b.get(), "2");
  int calls_1 = 0, calls_2 = 0, calls_new = 0;
  std::unique_ptr<SocketPair> replacement;
  auto killer = [&](int victim, UniqueFd& victim_owner) {
    ASSERT_TRUE(loop->Unwatch(victim).ok());
    victim_owner.reset();
    // The next socket likely gets the same fd number.
    replacement = std::make_unique<SocketPair>();
    ASSERT_TRUE(loop->Watch(replacement->a.get(), kReadable | kWritable,
                            [&](uint32_t) { ++calls_new; })
                    .ok());
  };
  const int fd1 = p1.a.get(), fd2 = p2.a.get();
  ASSERT_TRUE(loop->Watch(fd1, kReadable, [&](uint32_t) {
                    ++calls_1;
                    if (calls_1 + calls_2 == 1) killer(fd2, p2.a);
                  }).ok());
  ASSERT_TRUE(loop->Watch(fd2, kReadable, [&](uint32_t) {
                    ++calls_2;
                    if (calls_1 + calls_2 == 1) killer(fd1, p1.a);
                  }).ok());
  EXPECT_EQ(loop->RunOnce(kPoll), 1);
  EXPECT_EQ(calls_1 + calls_2, 1);
  EXPECT_EQ(calls_new, 0);  // registered mid-batch: not in this batch
  EXPECT_EQ(loop->stats().stale_events, 1u);
  loop->RunOnce(kPoll);
  EXPECT_EQ(calls_new, 1);
  EXPECT_EQ(calls_1 + calls_2, 2);  // the survivor is still readable
  EXPECT_TRUE(loop->Unwatch(replacement->a.get()).ok());
  EXPECT_TRUE(loop->Unwatch(calls_1 > 0 ? fd1 : fd2).ok());
}

TEST_P(EventLoopTest, CallbackUnwatchesItselfAndDestroysItsOwner) {
  auto loop = MakeLoop();
  struct Conn {
    SocketPair p;
    std::string captured = std::string(1000, 'c');  // heap memory for ASan
  };
  auto conn = std::make_unique<Conn>();
  WriteAll(conn->p.b.get(), "x");
  int fd = conn->p.a.get();
  bool ran = false;
  ASSERT_TRUE(loop->Watch(fd, kReadable, [&, owner = std::string(500, 'o')](uint32_t) {
                    ran = true;
                    EXPECT_TRUE(loop->Unwatch(fd).ok());  // destroys this lambda's registration
                    conn.reset();       // and the object it refers to
                    EXPECT_EQ(owner.size(), 500u);  // still alive until return
                  }).ok());
  EXPECT_EQ(loop->RunOnce(kPoll), 1);
  EXPECT_TRUE(ran);
  EXPECT_EQ(loop->RunOnce(kPoll), 0);
}

// A callback that closes its own fd and watches a new socket, which gets
// the same fd number, from inside: the new registration keeps its own
// callback, and the running one lives until it returns.
TEST_P(EventLoopTest, CallbackReplacesItsOwnFdWithTheSameNumber) {
  auto loop = MakeLoop();
  auto first = std::make_unique<SocketPair>();
  WriteAll(first->b.get(), "x");
  const int fd = first->a.get();
  std::unique_ptr<SocketPair> second;
  int old_calls = 0, new_calls = 0;
  ASSERT_TRUE(loop->Watch(fd, kReadable, [&, owner = std::string(500, 'o')](uint32_t) {
                    ++old_calls;
                    ASSERT_TRUE(loop->Unwatch(fd).ok());
                    first.reset();
                    second = std::make_unique<SocketPair>();
                    ASSERT_EQ(second->a.get(), fd);  // lowest free number
                    WriteAll(second->b.get(), "y");
                    ASSERT_TRUE(loop->Watch(fd, kReadable, [&](uint32_t) {
                                      ++new_calls;
                                    }).ok());
                    EXPECT_EQ(loop->Watch(fd, kReadable, [](uint32_t) {}).code(),
                              absl::StatusCode::kAlreadyExists);
                    EXPECT_EQ(owner.size(), 500u);  // still alive until return
                  }).ok());
  EXPECT_EQ(loop->RunOnce(kPoll), 1);
  EXPECT_EQ(old_calls, 1);
  loop->RunOnce(kPoll);
  loop->RunOnce(kPoll);
  EXPECT_EQ(old_calls, 1);
  EXPECT_GE(new_calls, 1);
  EXPECT_TRUE(loop->Unwatch(fd).ok());
  EXPECT_EQ(loop->Unwatch(fd).code(), absl::StatusCode::kNotFound);
}

TEST_P(EventLoopTest, TimersFireInOrderWithFakeClock) {
  FakeClock clock;
  auto loop = MakeLoop(&clock);
  std::vector<int> order;
  loop->RunAfter(milliseconds(30), [&] { order.push_back(3); });
  loop->RunAfter(milliseconds(10), [&] { order.push_back(1); });
  loop->RunAfter(milliseconds(20), [&] { order.push_back(2); });
  loop->RunAfter(milliseconds(20), [&] { order.push_back(22); });  // same due: FIFO
  loop->RunAt(loop->Now() + seconds(1), [&] { order.push_back(4); });
  EXPECT_EQ(loop->RunOnce(kPoll), 0);
  clock.Advance(milliseconds(9));
  EXPECT_EQ(loop->RunOnce(kPoll), 0);
  clock.Advance(milliseconds(1));
  EXPECT_EQ(loop->RunOnce(kPoll), 1);
  EXPECT_EQ(order, (std::vector<int>{1}));
  clock.Advance(milliseconds(25));
  EXPECT_EQ(loop->RunOnce(kPoll), 3);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 22, 3}));
  clock.Advance(seconds(2));
  loop->RunOnce(kPoll);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 22, 3, 4}));
  LoopStats s = loop->stats();
  EXPECT_EQ(s.timers_fired, 5u);
  // The 1 s timer was handled at +2035 ms: 1035 ms late.
  EXPECT_EQ(s.max_timer_lag, milliseconds(1035));
}

// A delay past the clock's range is "never": Now() + nanoseconds::max()
// once overflowed into the past and fired at the next iteration.
TEST_P(EventLoopTest, ForeverTimerNeverFires) {
  FakeClock clock;
  auto loop = MakeLoop(&clock);
  int fired = 0;
  loop->RunAfter(std::chrono::nanoseconds::max(), [&] { ++fired; });
  loop->RunAfter(std::chrono::hours::max(), [&] { ++fired; });
  loop->RunAfter(seconds(1), [&] { fired += 10; });
  clock.Advance(seconds(1));
  EXPECT_EQ(loop->RunOnce(kPoll), 1);
  clock.Advance(std::chrono::hours(24 * 365 * 100));
  EXPECT_EQ(loop->RunOnce(kPoll), 0);
  EXPECT_EQ(fired, 10);
}

TEST_P(EventLoopTest, CancelTimers) {
  FakeClock clock;
  auto loop = MakeLoop(&clock);
  int fired = 0;
  TimerId a = loop->RunAfter(milliseconds(5), [&] { ++fired; });
  TimerId b = loop->RunAfter(milliseconds(5), [&] { fired += 10; });
  EXPECT_NE(a, b);
  EXPECT_TRUE(loop->Cancel(a));
  EXPECT_FALSE(loop->Cancel(a));
  EXPECT_FALSE(loop->Cancel(kInvalidTimerId));
  EXPECT_FALSE(loop->Cancel(12345));
  clock.Advance(milliseconds(5));
  loop->RunOnce(kPoll);
  EXPECT_EQ(fired, 10);
  EXPECT_FALSE(loop->Cancel(b));  // already fired
}

TEST_P(EventLoopTest, ManyTimersWithMostCancelled) {
  FakeClock clock;
  auto loop = MakeLoop(&clock);
  std::vector<TimerId> ids;
  int fired = 0;
  for (int i = 0; i < 10000; ++i) {
    ids.push_back(loop->RunAfter(milliseconds(1 + i % 100), [&] { ++fired; }));
  }
  for (int i = 0; i < 10000; ++i) {
    if (i % 10 != 0) {
      EXPECT_TRUE(loop->Cancel(ids[i]));
    }
  }
  clock.Advance(milliseconds(100));
  EXPECT_EQ(loop->RunOnce(kPoll), 1000);
  EXPECT_EQ(fired, 1000);
}

TEST_P(EventLoopTest, TimerCallbacksAddAndCancelTimers) {
  FakeClock clock;
  auto loop = MakeLoop(&clock);
  std::vector<std::string> log;
  TimerId victim = kInvalidTimerId;
  loop->RunAfter(milliseconds(1), [&] {
    log.push_back("first");
    EXPECT_TRUE(loop->Cancel(victim));  // due in the same batch
    // Zero delay: runs next iteration, not in this one.
    loop->RunAfter(Duration(0), [&] { log.push_back("rearmed"); });
  });
  victim = loop->RunAfter(milliseconds(1), [&] { log.push_back("victim"); });
  clock.Advance(milliseconds(1));
  EXPECT_EQ(loop->RunOnce(kPoll), 1);
  EXPECT_EQ(log, (std::vector<std::string>{"first"}));
  EXPECT_EQ(loop->RunOnce(kPoll), 1);
  EXPECT_EQ(log, (std::vector<std::string>{"first", "rearmed"}));
}

TEST_P(EventLoopTest, SelfRearmingZeroTimerDoesNotStarveIo) {
  FakeClock clock;
  auto loop = MakeLoop(&clock);
  int ticks = 0;
  std::function<void()> tick = [&] {
    ++ticks;
    loop->RunAfter(Duration(0), tick);
  };
  loop->RunAfter(Duration(0), tick);
  SocketPair p;
  WriteAll(p.b.get(), "x");
  int io = 0;
  ASSERT_TRUE(loop->Watch(p.a.get(), kReadable, [&](uint32_t) { ++io; }).ok());
  for (int i = 0; i < 3; ++i) loop->RunOnce(kPoll);
  EXPECT_EQ(ticks, 3);
  EXPECT_EQ(io, 3);
  EXPECT_TRUE(loop->Unwatch(p.a.get()).ok());
}

TEST_P(EventLoopTest, RunOnceWaitsForTheNextTimerWithSystemClock) {
  auto loop = MakeLoop();
  bool fired = false;
  loop->RunAfter(milliseconds(2), [&] { fired = true; });
  // An unbounded wait ends because of the timer (not a hang), and without
  // spinning: the wait is rounded up, so the timer is due when it ends. A
  // signal may end a wait early (EINTR: sanitizers deliver their own), so
  // allow a few iterations; a wait rounded down to 1 ms and then 0 would
  // spin through many more before the 2 ms are up.
  constexpr uint64_t kFewIterations = 8;
  while (!fired && loop->stats().iterations < kFewIterations) loop->RunOnce(Duration(-1));
  EXPECT_TRUE(fired);
  EXPECT_LT(loop->stats().iterations, kFewIterations);
}

TEST_P(EventLoopTest, PostFromManyThreadsRunsEverythingInOrderPerThread) {
  auto loop = MakeLoop();
  constexpr int kThreads = 8, kPerThread = 2000;
  std::vector<int> next(kThreads, 0);
  int total = 0;
  bool in_order = true;
  std::atomic<int> done_threads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        loop->Post([&, t, i] {
          EXPECT_TRUE(loop->IsInLoopThread());
          if (next[t] != i) in_order = false;
          next[t] = i + 1;
          ++total;
        });
      }
      done_threads.fetch_add(1);
    });
  }
  while (total < kThreads * kPerThread) loop->RunOnce(Duration(-1));
  for (auto& t : threads) t.join();
  EXPECT_EQ(total, kThreads * kPerThread);
  EXPECT_TRUE(in_order);
  LoopStats s = loop->stats();
  EXPECT_EQ(s.tasks_run, static_cast<uint64_t>(kThreads * kPerThread));
  // Coalescing: at most one wake-up per post, normally far fewer.
  EXPECT_LE(s.wakeups, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_GE(s.wakeups, 1u);
}

TEST_P(EventLoopTest, PostsCoalesceIntoOneWakeup) {
  auto loop = MakeLoop();
  int ran = 0;
  // From another thread: the first post wakes the loop, the rest ride along.
  std::thread([&] {
    for (int i = 0; i < 100; ++i) loop->Post([&] { ++ran; });
  }).join();
  EXPECT_EQ(loop->stats().wakeups, 1u);
  EXPECT_EQ(loop->RunOnce(kPoll), 100);
  EXPECT_EQ(ran, 100);
  std::thread([&] { loop->Post([&] { ++ran; }); }).join();
  EXPECT_EQ(loop->stats().wakeups, 2u);
  loop->RunOnce(kPoll);
  EXPECT_EQ(ran, 101);
}

TEST_P(EventLoopTest, PostFromLoopThreadNeedsNoWakeupAndDoesNotSleep) {
  auto loop = MakeLoop();
  int ran = 0;
  loop->Post([&] { ++ran; });  // the creating thread is the loop thread
  EXPECT_EQ(loop->stats().wakeups, 0u);
  // An unbounded wait must not sleep with a task queued (it would hang).
  EXPECT_EQ(loop->RunOnce(Duration(-1)), 1);
  EXPECT_EQ(ran, 1);
}

TEST_P(EventLoopTest, PostedTaskPostingRunsNextIteration) {
  auto loop = MakeLoop();
  int stage = 0;
  loop->Post([&] {
    stage = 1;
    loop->Post([&] { stage = 2; });
  });
  EXPECT_EQ(loop->RunOnce(kPoll), 1);
  EXPECT_EQ(stage, 1);
  EXPECT_EQ(loop->RunOnce(kPoll), 1);
  EXPECT_EQ(stage, 2);
}

TEST_P(EventLoopTest, TaskPostedByIoCallbackRunsInTheSameIteration) {
  auto loop = MakeLoop();
  SocketPair p;
  WriteAll(p.b.get(), "x");
  std::vector<std::string> log;
  ASSERT_TRUE(loop->Watch(p.a.get(), kReadable, [&](uint32_t) {
                    log.push_back("io");
                    loop->Post([&] { log.push_back("task"); });
                    ASSERT_TRUE(loop->Unwatch(p.a.get()).ok());
                  }).ok());
  EXPECT_EQ(loop->RunOnce(kPoll), 2);
  EXPECT_EQ(log, (std::vector<std::string>{"io", "task"}));
}

TEST_P(EventLoopTest, LagObserverSeesTimerAndPostLag) {
  FakeClock clock;
  auto loop = MakeLoop(&clock);
  std::vector<Duration> lags;
  loop->SetLagObserver([&](Duration d) { lags.push_back(d); });
  loop->RunAfter(milliseconds(10), [] {});
  loop->Post([] {});  // posted at t0
  clock.Advance(milliseconds(13));
  loop->RunOnce(kPoll);
  ASSERT_EQ(lags.size(), 2u);
  EXPECT_EQ(lags[0], milliseconds(3));   // timer first
  EXPECT_EQ(lags[1], milliseconds(13));  // then the post
  EXPECT_EQ(loop->stats().max_post_lag, milliseconds(13));
}

TEST_P(EventLoopTest, StopFromAnotherThread) {
  auto loop = MakeLoop();
  std::atomic<bool> running{false};
  loop->Post([&] { running = true; });
  std::thread stopper([&] {
    while (!running.load()) std::this_thread::yield();
    loop->Stop();
  });
  loop->Run();  // returns only because of Stop()
  stopper.join();
  EXPECT_TRUE(running.load());
}

TEST_P(EventLoopTest, StopBeforeRunReturnsAtOnceAndIsCleared) {
  auto loop = MakeLoop();
  loop->Stop();
  loop->Run();
  int ran = 0;
  loop->Post([&] {
    ++ran;
    loop->Stop();
  });
  loop->Run();
  EXPECT_EQ(ran, 1);
}

TEST_P(EventLoopTest, DestroyWithPendingWorkDropsIt) {
  auto counter = std::make_shared<int>(0);
  {
    auto loop = MakeLoop();
    loop->Post([counter] { ++*counter; });
    loop->RunAfter(seconds(10), [counter] { ++*counter; });
  }
  EXPECT_EQ(*counter, 0);
  EXPECT_EQ(counter.use_count(), 1);  // callbacks destroyed, not leaked
}

TEST_P(EventLoopTest, NowIsReadOncePerIteration) {
  FakeClock clock;
  auto loop = MakeLoop(&clock);
  TimePoint t0 = loop->Now();
  clock.Advance(seconds(1));
  EXPECT_EQ(loop->Now(), t0);  // not re-read between iterations
  loop->RunOnce(kPoll);
  EXPECT_EQ(loop->Now(), t0 + seconds(1));
}

TEST_P(EventLoopTest, RejectsBadOptions) {
  EXPECT_FALSE(CreateLoop(GetParam(), {.max_events = 0}).ok());
}

INSTANTIATE_TEST_SUITE_P(Loops, EventLoopTest, ::testing::ValuesIn(AllLoopKinds()),
                         LoopKindParamName<::testing::TestParamInfo<LoopKind>>);

}  // namespace
}  // namespace brisk::net
