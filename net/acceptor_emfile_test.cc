// EMFILE back-off, in its own test binary because it lowers RLIMIT_NOFILE
// for the whole process (restored at the end of each test).
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <cerrno>
#include <vector>

#include "gtest/gtest.h"
#include "net/acceptor.h"
#include "net/clock.h"
#include "net/event_loop.h"
#include "net/socket.h"
#include "net/testing/loop_factory.h"

namespace brisk::net {
namespace {

using std::chrono::milliseconds;

int HighestOpenFd() {
  int highest = 2;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 1024;
  while (dirent* e = readdir(dir)) {
    int fd = atoi(e->d_name);
    if (fd > highest) highest = fd;
  }
  closedir(dir);
  return highest;
}

class EmfileTest : public ::testing::TestWithParam<LoopKind> {
 protected:
  void SetUp() override {
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved_), 0);
    absl::StatusOr<std::unique_ptr<EventLoop>> loop =
        CreateLoop(GetParam(), {.clock = &clock_});
    ASSERT_TRUE(loop.ok());
    loop_ = *std::move(loop);
  }
  void TearDown() override {
    filler_.clear();
    setrlimit(RLIMIT_NOFILE, &saved_);
  }

  // Lowers the soft limit a little above what is open, then opens
  // descriptors until EMFILE.
  void FillFdTable() {
    rlimit low = saved_;
    low.rlim_cur = static_cast<rlim_t>(HighestOpenFd() + 16);
    ASSERT_LE(low.rlim_cur, saved_.rlim_max);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    for (;;) {
      int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        ASSERT_EQ(errno, EMFILE);
        break;
      }
      filler_.emplace_back(fd);
    }
    ASSERT_FALSE(filler_.empty());
  }

  FakeClock clock_;
  std::unique_ptr<EventLoop> loop_;
  rlimit saved_{};
  std::vector<UniqueFd> filler_;
};

TEST_P(EmfileTest, BacksOffWithoutSpinningThenAcceptsWhenAFdIsFree) {
  absl::StatusOr<Listener> listener = Listener::Create("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok());
  std::vector<UniqueFd> accepted;
  std::vector<int> told;  // on_fd_limit's errors: the owner's metric and log
  absl::StatusOr<std::unique_ptr<Acceptor>> acceptor = Acceptor::Create(
      loop_.get(), *std::move(listener),
      [&](UniqueFd fd, const SocketAddress&) { accepted.push_back(std::move(fd)); },
      {.fd_limit_backoff = milliseconds(100),
       .on_fd_limit = [&](int error) { told.push_back(error); }});
  ASSERT_TRUE(acceptor.ok());
  Acceptor& a = **acceptor;
  absl::StatusOr<UniqueFd> client = Connect("127.0.0.1", a.listener().port());
  ASSERT_TRUE(client.ok());
  FillFdTable();

  // The first iteration sees the listener readable and hits EMFILE.
  for (int i = 0; i < 100 && a.stats().fd_limit_events == 0; ++i) {
    loop_->RunOnce(milliseconds(5000));
  }
  ASSERT_EQ(a.stats().fd_limit_events, 1u);
  EXPECT_EQ(told, std::vector<int>{EMFILE});
  EXPECT_TRUE(a.backing_off());
  // No spinning: during the back-off the listener is not reported again,
  // however many iterations run.
  const uint64_t io_before = loop_->stats().io_events;
  for (int i = 0; i < 200; ++i) EXPECT_EQ(loop_->RunOnce(Duration(0)), 0);
  EXPECT_EQ(loop_->stats().io_events, io_before);
  EXPECT_EQ(a.stats().fd_limit_events, 1u);
  EXPECT_TRUE(accepted.empty());

  // Still out of fds when the back-off ends: one more attempt, back off again.
  clock_.Advance(milliseconds(100));
  loop_->RunOnce(Duration(0));  // timer re-enables the listener
  // A connection waits: accept -> EMFILE again (io_uring: once the listener
  // is seen readable, an iteration later).
  for (int i = 0; i < 10 && a.stats().fd_limit_events < 2; ++i) {
    loop_->RunOnce(milliseconds(5000));
  }
  EXPECT_EQ(a.stats().fd_limit_events, 2u);
  EXPECT_EQ(told.size(), 2u);
  EXPECT_TRUE(accepted.empty());

  // Free two descriptors (accept4 reports EMFILE rather than EAGAIN when no
  // fd is free, so the one after the accepted connection needs room too): the
  // pending connection is accepted after the back-off, and the listener was
  // never dropped.
  filler_.pop_back();
  filler_.pop_back();
  clock_.Advance(milliseconds(100));
  for (int i = 0; i < 100 && accepted.empty(); ++i) {
    loop_->RunOnce(milliseconds(5000));
  }
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_FALSE(a.backing_off());
  EXPECT_EQ(a.stats().accepted, 1u);
  EXPECT_EQ(a.stats().fd_limit_events, 2u);
  ASSERT_EQ(write(client->get(), "x", 1), 1);
  char c;
  for (int i = 0; i < 100000; ++i) {
    if (read(accepted[0].get(), &c, 1) == 1) break;
  }
  EXPECT_EQ(c, 'x');
}

TEST_P(EmfileTest, ReserveFdRejectsPendingConnectionsPromptly) {
  absl::StatusOr<Listener> listener = Listener::Create("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok());
  int accepted = 0;
  absl::StatusOr<std::unique_ptr<Acceptor>> acceptor = Acceptor::Create(
      loop_.get(), *std::move(listener),
      [&](UniqueFd, const SocketAddress&) { ++accepted; },
      {.fd_limit_backoff = milliseconds(100), .reserve_fd = true});
  ASSERT_TRUE(acceptor.ok());
  Acceptor& a = **acceptor;
  absl::StatusOr<UniqueFd> client = Connect("127.0.0.1", a.listener().port(),
                                            /*non_blocking=*/false);
  ASSERT_TRUE(client.ok());
  FillFdTable();
  for (int i = 0; i < 100 && a.stats().fd_limit_events == 0; ++i) {
    loop_->RunOnce(milliseconds(5000));
  }
  EXPECT_EQ(a.stats().fd_limit_events, 1u);
  EXPECT_EQ(a.stats().rejected, 1u);
  EXPECT_EQ(accepted, 0);
  // The client sees a clean close instead of hanging in the backlog.
  char c;
  EXPECT_EQ(read(client->get(), &c, 1), 0);

  // Still out of descriptors, nobody waiting: the ends of the back-offs try
  // nothing (each attempt is counted, told to the owner, logged as a
  // connection left waiting). On io_uring the multishot accept, re-armed
  // after every back-off, failed at once with EMFILE even with an empty
  // backlog: once per back-off, for as long as the table stayed full.
  for (int k = 0; k < 5; ++k) {
    clock_.Advance(milliseconds(100));
    for (int i = 0; i < 5; ++i) loop_->RunOnce(Duration(0));
  }
  EXPECT_EQ(a.stats().fd_limit_events, 1u);
  EXPECT_FALSE(a.backing_off());
  // A client comes (in the descriptor freed for it): one attempt, and the
  // reserve rejects it at once.
  filler_.pop_back();
  absl::StatusOr<UniqueFd> second = Connect("127.0.0.1", a.listener().port(),
                                            /*non_blocking=*/false);
  ASSERT_TRUE(second.ok());
  for (int i = 0; i < 10 && a.stats().fd_limit_events == 1; ++i) {
    loop_->RunOnce(milliseconds(5000));
  }
  EXPECT_EQ(a.stats().fd_limit_events, 2u);
  EXPECT_EQ(a.stats().rejected, 2u);
  EXPECT_EQ(accepted, 0);
  EXPECT_EQ(read(second->get(), &c, 1), 0);
}

// The accept that takes the last free descriptor is no alarm: accept4
// fails with EMFILE on the next try even with no connection waiting (it
// takes a descriptor before it looks at the queue). The epoll acceptor
// counted that, told its owner (the server's metric and its "new
// connections wait in the listen backlog" line) and backed off, with no
// one waiting (outside review).
TEST_P(EmfileTest, TheAcceptThatTakesTheLastDescriptorRaisesNoAlarm) {
  absl::StatusOr<Listener> listener = Listener::Create("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok());
  std::vector<UniqueFd> accepted;
  std::vector<int> told;
  absl::StatusOr<std::unique_ptr<Acceptor>> acceptor = Acceptor::Create(
      loop_.get(), *std::move(listener),
      [&](UniqueFd fd, const SocketAddress&) { accepted.push_back(std::move(fd)); },
      {.fd_limit_backoff = std::chrono::hours(1),
       .on_fd_limit = [&](int error) { told.push_back(error); }});
  ASSERT_TRUE(acceptor.ok());
  Acceptor& a = **acceptor;
  FillFdTable();
  filler_.pop_back();  // for the client's socket
  filler_.pop_back();  // for the accepted connection: the last one
  absl::StatusOr<UniqueFd> client = Connect("127.0.0.1", a.listener().port());
  ASSERT_TRUE(client.ok());
  for (int i = 0; i < 100 && accepted.empty(); ++i) loop_->RunOnce(milliseconds(5000));
  ASSERT_EQ(accepted.size(), 1u);
  for (int i = 0; i < 5; ++i) loop_->RunOnce(Duration(0));
  EXPECT_EQ(a.stats().fd_limit_events, 0u);
  EXPECT_TRUE(told.empty());
  EXPECT_FALSE(a.backing_off());
  // A connection that then comes, with no descriptor for it, is one.
  filler_.pop_back();  // for the second client's socket only
  absl::StatusOr<UniqueFd> second = Connect("127.0.0.1", a.listener().port());
  ASSERT_TRUE(second.ok());
  for (int i = 0; i < 100 && a.stats().fd_limit_events == 0; ++i) {
    loop_->RunOnce(milliseconds(5000));
  }
  EXPECT_EQ(a.stats().fd_limit_events, 1u);
  EXPECT_EQ(told, std::vector<int>{EMFILE});
  EXPECT_EQ(accepted.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Loops, EmfileTest, ::testing::ValuesIn(AllLoopKinds()),
                         LoopKindParamName<::testing::TestParamInfo<LoopKind>>);

}  // namespace
}  // namespace brisk::net
