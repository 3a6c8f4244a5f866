#include "server/server_thread.h"

#include <pthread.h>
#include <signal.h>

#include <thread>

#include "gtest/gtest.h"

namespace brisk::internal {
namespace {

bool Blocked(int signo) {
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, signo) == 1;
}

// A server's thread starts with the server signals blocked (whether or not
// its server handles them); the caller's own mask is as it was.
TEST(ServerThreadTest, AServerThreadBlocksTheServerSignalsAndTheCallersMaskStays) {
  // Whatever mask the runner started this test with (it survives exec).
  sigset_t open;
  sigemptyset(&open);
  sigaddset(&open, SIGTERM);
  sigaddset(&open, SIGUSR2);
  pthread_sigmask(SIG_UNBLOCK, &open, nullptr);
  sigset_t caller;
  pthread_sigmask(SIG_BLOCK, nullptr, &caller);
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
  sigset_t after;
  pthread_sigmask(SIG_BLOCK, nullptr, &after);
  for (int signo = 1; signo < NSIG; ++signo) {
    EXPECT_EQ(sigismember(&after, signo), sigismember(&caller, signo)) << signo;
  }
}

}  // namespace
}  // namespace brisk::internal
