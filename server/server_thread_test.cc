#include "server/server_thread.h"

#include <pthread.h>
#include <signal.h>

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace brisk::internal {
namespace {

bool Blocked(int signo) {
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, signo) == 1;
}

// Opens SIGTERM and SIGUSR2 in this thread (whatever mask the runner
// started the test with: it survives exec) and returns the mask then.
sigset_t OpenTermAndUsr2() {
  sigset_t open;
  sigemptyset(&open);
  sigaddset(&open, SIGTERM);
  sigaddset(&open, SIGUSR2);
  pthread_sigmask(SIG_UNBLOCK, &open, nullptr);
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return mask;
}

void ExpectThisThreadsMaskIs(const sigset_t& expected) {
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, nullptr, &now);
  for (int signo = 1; signo < NSIG; ++signo) {
    EXPECT_EQ(sigismember(&now, signo), sigismember(&expected, signo)) << signo;
  }
}

// A server's thread starts with the server signals blocked (whether or not
// its server handles them); the caller's own mask is as it was.
TEST(ServerThreadTest, AServerThreadBlocksTheServerSignalsAndTheCallersMaskStays) {
  const sigset_t caller = OpenTermAndUsr2();
  ASSERT_FALSE(Blocked(SIGTERM));
  bool term = false, intr = false, hup = false, usr1 = false, usr2 = true;
  absl::StatusOr<std::thread> t = StartServerThread("a test thread", [&] {
    term = Blocked(SIGTERM);
    intr = Blocked(SIGINT);
    hup = Blocked(SIGHUP);
    usr1 = Blocked(SIGUSR1);
    usr2 = Blocked(SIGUSR2);
  });
  ASSERT_TRUE(t.ok()) << t.status();
  t->join();
  EXPECT_TRUE(term);
  EXPECT_TRUE(intr);
  EXPECT_TRUE(hup);
  EXPECT_TRUE(usr1);
  EXPECT_FALSE(usr2);  // only those
  ExpectThisThreadsMaskIs(caller);
}

// A signal-free thread (the log writers) starts with every signal blocked;
// the caller's own mask is as it was.
TEST(ServerThreadTest, ASignalFreeThreadBlocksEverySignalAndTheCallersMaskStays) {
  const sigset_t caller = OpenTermAndUsr2();
  std::vector<int> open_in_thread;
  absl::StatusOr<std::thread> t = StartSignalFreeThread("a test thread", [&] {
    for (int signo = 1; signo < NSIG; ++signo) {
      // SIGKILL and SIGSTOP cannot be blocked; glibc keeps its own two
      // real-time signals (32, 33) out of every mask.
      if (signo == SIGKILL || signo == SIGSTOP || (signo >= 32 && signo < SIGRTMIN)) continue;
      if (!Blocked(signo)) open_in_thread.push_back(signo);
    }
  });
  ASSERT_TRUE(t.ok()) << t.status();
  t->join();
  EXPECT_EQ(open_in_thread, std::vector<int>{});
  ExpectThisThreadsMaskIs(caller);
}

}  // namespace
}  // namespace brisk::internal
