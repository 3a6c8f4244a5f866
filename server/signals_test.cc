// Signals reach every server of the process: each HttpServer with
// handle_signals (the default) promises that SIGTERM shuts it down, but the
// kernel gives a process signal to one signalfd only. A real SIGTERM is
// sent to this test process, so this test has a binary of its own (its
// servers block the signal in the main thread before any thread exists).
#include <dirent.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>

#include "gtest/gtest.h"
#include "server/http_server.h"
#include "server/testing/gate.h"

namespace brisk {
namespace {

using ::brisk::testing::Eventually;

TEST(ServerSignalsTest, OneSigtermShutsDownEveryServerOfTheProcess) {
  const ServerOptions options{.address = "127.0.0.1", .port = 0};
  HttpServer a(options);
  HttpServer b(options);
  HttpServer quiet(ServerOptions{.address = "127.0.0.1", .port = 0,
                                 .handle_signals = false});
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  ASSERT_TRUE(quiet.Start().ok());
  ASSERT_EQ(kill(getpid(), SIGTERM), 0);
  EXPECT_TRUE(Eventually([&] { return !a.ready(); }));
  EXPECT_TRUE(Eventually([&] { return !b.ready(); }));
  // The one that owns no signals is left alone.
  EXPECT_TRUE(quiet.ready());
  a.Stop();
  b.Stop();
  quiet.Stop();
}

HttpServer* g_host_server = nullptr;
void OnHostSignal(int) { g_host_server->Shutdown(); }

// Sends `signo` to every thread of this process (the servers' included).
void SignalEveryThread(int signo) {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return;
  while (dirent* e = readdir(dir)) {
    const int tid = std::atoi(e->d_name);
    if (tid > 0) syscall(SYS_tgkill, getpid(), tid, signo);
  }
  closedir(dir);
}

// A host that owns its signals (handle_signals = false) may call Shutdown()
// from its own handler, which interrupts whatever thread the kernel picked,
// a server thread holding one of the server's locks included. Shutdown()
// took that lock (and Post() another), so the handler could deadlock the
// thread it interrupted; now it only stores atomics and writes an eventfd.
// The handler runs here on every thread, many times, while Run() serves.
TEST(ServerSignalsTest, AHostSignalHandlerMayCallShutdown) {
  HttpServer server(ServerOptions{.address = "127.0.0.1",
                                  .port = 0,
                                  .drain_grace = std::chrono::nanoseconds(0),
                                  .handle_signals = false});
  g_host_server = &server;
  struct sigaction action {};
  action.sa_handler = OnHostSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  struct sigaction previous {};
  ASSERT_EQ(sigaction(SIGUSR1, &action, &previous), 0);
  ASSERT_TRUE(server.Start().ok());
  for (int round = 0; round < 200; ++round) SignalEveryThread(SIGUSR1);
  EXPECT_FALSE(server.ready());
  EXPECT_TRUE(server.Run().ok());  // returns: the shutdown went through
  ASSERT_EQ(sigaction(SIGUSR1, &previous, nullptr), 0);
  g_host_server = nullptr;
}

}  // namespace
}  // namespace brisk
