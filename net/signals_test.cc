#include "net/signals.h"

#include <csignal>
#include <chrono>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "net/event_loop.h"
#include "net/testing/loop_factory.h"

namespace brisk::net {
namespace {

using std::chrono::milliseconds;

// Signals are a Watch()ed signalfd: every case runs on each loop.
class SignalWatcherTest : public ::testing::TestWithParam<LoopKind> {};

TEST_P(SignalWatcherTest, RaisedSignalsBecomeLoopCallbacks) {
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = CreateLoop(GetParam());
  ASSERT_TRUE(loop.ok());
  std::vector<int> got;
  absl::StatusOr<std::unique_ptr<SignalWatcher>> watcher = SignalWatcher::Create(
      loop->get(), {SIGUSR1, SIGTERM}, [&](int signo) { got.push_back(signo); });
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  // Blocked in this thread, so raise() leaves them pending for the signalfd
  // (without the mask SIGTERM would kill the test).
  ASSERT_EQ(raise(SIGUSR1), 0);
  ASSERT_EQ(raise(SIGTERM), 0);
  for (int i = 0; i < 100 && got.size() < 2; ++i) (*loop)->RunOnce(milliseconds(5000));
  ASSERT_EQ(got.size(), 2u);
  // Pending signals are delivered lowest number first.
  EXPECT_EQ(got[0], SIGUSR1);
  EXPECT_EQ(got[1], SIGTERM);
  (*loop)->RunOnce(Duration(0));
  EXPECT_EQ(got.size(), 2u);
}

TEST_P(SignalWatcherTest, DestroyFromItsCallback) {
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = CreateLoop(GetParam());
  ASSERT_TRUE(loop.ok());
  std::unique_ptr<SignalWatcher> watcher;
  int calls = 0;
  absl::StatusOr<std::unique_ptr<SignalWatcher>> w =
      SignalWatcher::Create(loop->get(), {SIGUSR2}, [&](int) {
        ++calls;
        watcher.reset();
      });
  ASSERT_TRUE(w.ok());
  watcher = *std::move(w);
  ASSERT_EQ(raise(SIGUSR2), 0);
  for (int i = 0; i < 100 && calls == 0; ++i) (*loop)->RunOnce(milliseconds(5000));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(watcher, nullptr);
}

TEST_P(SignalWatcherTest, RejectsBadInput) {
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = CreateLoop(GetParam());
  ASSERT_TRUE(loop.ok());
  EXPECT_FALSE(SignalWatcher::Create(loop->get(), {}, [](int) {}).ok());
  EXPECT_FALSE(SignalWatcher::Create(loop->get(), {1000}, [](int) {}).ok());
}

INSTANTIATE_TEST_SUITE_P(Loops, SignalWatcherTest, ::testing::ValuesIn(AllLoopKinds()),
                         LoopKindParamName<::testing::TestParamInfo<LoopKind>>);

}  // namespace
}  // namespace brisk::net
