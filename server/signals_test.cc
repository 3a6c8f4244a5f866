// Signals reach every server of the process: each HttpServer with
// handle_signals (the default) promises that SIGTERM shuts it down, but the
// kernel gives a process signal to one signalfd only. A real SIGTERM is
// sent to this test process, so this test has a binary of its own (its
// servers block the signal in the main thread before any thread exists).
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>
#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "server/http_server.h"
#include "server/testing/exit_code_in_child.h"
#include "server/testing/gate.h"

namespace brisk {
namespace {

using ::brisk::testing::Answered;
using ::brisk::testing::AskForHealthz;
using ::brisk::testing::Eventually;
using ::brisk::testing::ExitCodeInChild;

// A SIGHUP (reload) sent while a binary starts, before Start() reads
// signals: with PrepareServerProcess() first in main() it waits, and the
// server takes it as a reload once started; without, SIGHUP's default
// action killed the process (and systemd, counting that a clean exit, did
// not restart it). Run in a child, forked before this binary starts any
// thread (the first test), which the signal would otherwise kill.
TEST(ServerSignalsTest, ASighupWhileTheProcessStartsWaitsForTheServer) {
  EXPECT_EQ(ExitCodeInChild([] {
    PrepareServerProcess();
    kill(getpid(), SIGHUP);  // as systemctl reload: pending, not fatal
    HttpServer server(ServerOptions{.address = "127.0.0.1", .port = 0});
    if (!server.Start().ok()) return 3;
    // The server's signalfd takes the pending signal (a reload).
    const bool taken = Eventually([] {
      sigset_t pending;
      sigpending(&pending);
      return sigismember(&pending, SIGHUP) == 0;
    });
    const bool serving = server.ready();
    server.Stop();
    return taken && serving ? 0 : 4;
  }), 0);
}

// PrepareServerProcess() raises the soft limit on open files to the hard
// one (the default 1024 is below --max_connections' default).
TEST(ServerSignalsTest, PrepareServerProcessRaisesTheOpenFileLimit) {
  EXPECT_EQ(ExitCodeInChild([] {
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) != 0) return 3;
    if (files.rlim_max > 64) {
      files.rlim_cur = 64;
      if (setrlimit(RLIMIT_NOFILE, &files) != 0) return 3;
    }
    PrepareServerProcess();
    rlimit after{};
    getrlimit(RLIMIT_NOFILE, &after);
    return after.rlim_cur == files.rlim_max ? 0 : 4;
  }), 0);
}

// Counts this process's open descriptors.
int OpenDescriptors() {
  int n = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (readdir(dir) != nullptr) ++n;
  closedir(dir);
  return n - 3;  // ".", ".." and the DIR's own
}

// Whether `fd` is open on /dev/null.
bool OnDevNull(int fd) {
  struct stat null_st {};
  struct stat st {};
  return stat("/dev/null", &null_st) == 0 && fstat(fd, &st) == 0 &&
         S_ISCHR(st.st_mode) && st.st_rdev == null_st.st_rdev;
}

// Descriptors 0, 1 and 2 left closed by whoever started the process are
// opened on /dev/null, and an open one is left as it was. Otherwise the
// next descriptor opened takes the number, and stdout or stderr writes go
// into it: with `<&- 2>&-`, after a log rotation freed the access log's
// number, a diagnostic on stderr went into a client's connection (outside
// review).
TEST(ServerSignalsTest, PrepareServerProcessOpensClosedStandardDescriptors) {
  EXPECT_EQ(ExitCodeInChild([] {
    const int out = dup(STDOUT_FILENO);  // a marker: 1 must stay this file
    struct stat before {};
    if (out < 0 || fstat(out, &before) != 0) return 3;
    close(STDIN_FILENO);
    close(STDERR_FILENO);
    PrepareServerProcess();
    struct stat after {};
    if (fstat(STDOUT_FILENO, &after) != 0 || after.st_ino != before.st_ino ||
        after.st_dev != before.st_dev) {
      return 4;  // stdout was open: left alone
    }
    return OnDevNull(STDIN_FILENO) && OnDevNull(STDERR_FILENO) ? 0 : 5;
  }), 0);
}

// An embedding program that does not call PrepareServerProcess(): the
// server's constructor does it, before its first descriptor, so none of
// the server's descriptors (the shutdown eventfd, where a stray write
// began the shutdown; the access log; a listener; a client) takes 0, 1 or
// 2, through a start, a served request and a log rotation.
TEST(ServerSignalsTest, AServerNeverTakesAClosedStandardDescriptor) {
  const std::string log = ::testing::TempDir() + "/stdfd_access.log";
  std::remove(log.c_str());
  std::remove((log + ".1").c_str());
  EXPECT_EQ(ExitCodeInChild([&log] {
    close(STDIN_FILENO);
    close(STDOUT_FILENO);
    close(STDERR_FILENO);
    HttpServer server(ServerOptions{.address = "127.0.0.1",
                                    .port = 0,
                                    .access_log = log,
                                    .handle_signals = false,
                                    .health_path = "/healthz"});
    if (!server.Start().ok()) return 3;
    const int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0 || !AskForHealthz(c, server.port()) || !Answered(c)) return 4;
    if (std::rename(log.c_str(), (log + ".1").c_str()) != 0) return 5;
    if (!server.ReopenAccessLog().ok()) return 6;
    const int d = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (d < 0 || !AskForHealthz(d, server.port()) || !Answered(d)) return 7;
    const bool clean = OnDevNull(STDIN_FILENO) && OnDevNull(STDOUT_FILENO) &&
                       OnDevNull(STDERR_FILENO);
    close(c);
    close(d);
    server.Stop();
    return clean ? 0 : 8;
  }), 0);
}

// A start that leaves no descriptor for a connection fails, with the
// reason, instead of printing "listening" and then accepting nothing (every
// client waits in the backlog). Swept over the open-file limits around
// what the server's own descriptors take: each start either fails or
// answers. Run in a child: the limit is the process's.
TEST(ServerSignalsTest, AStartThatLeavesNoDescriptorForAConnectionFails) {
#ifdef BRISK_UBSAN
  GTEST_SKIP() << "fills the fd table: UBSan's vptr check then reports false errors";
#endif
  const int code = ExitCodeInChild([] {
    rlimit saved{};
    if (getrlimit(RLIMIT_NOFILE, &saved) != 0) return 3;
    bool refused_once = false;
    for (int extra = 0; extra < 64; ++extra) {
      const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (client < 0) return 3;
      rlimit low = saved;
      low.rlim_cur = static_cast<rlim_t>(OpenDescriptors() + extra);
      if (setrlimit(RLIMIT_NOFILE, &low) != 0) return 3;
      bool served = false;
      {
        HttpServer server(ServerOptions{.address = "127.0.0.1",
                                        .port = 0,
                                        .reactors = 2,
                                        .handle_signals = false,
                                        .health_path = "/healthz"});
        const absl::Status started = server.Start();
        if (started.ok()) {
          if (!AskForHealthz(client, server.port()) || !Answered(client))
            return 4;  // started, serves no one
          served = true;
        } else if (started.code() == absl::StatusCode::kResourceExhausted &&
                   started.message().find("leaves none for a connection") !=
                       std::string_view::npos) {
          refused_once = true;
        }
        server.Stop();
      }
      close(client);
      if (setrlimit(RLIMIT_NOFILE, &saved) != 0) return 3;
      if (served) return refused_once ? 0 : 5;
    }
    return 6;  // never served
  });
  EXPECT_NE(code, 4) << "a server started that could take no connection";
  EXPECT_EQ(code, 0);
}

// A Start() that fails after the server would have taken signals (here its
// Shutdown() eventfd, made with no descriptor left) must leave nothing
// behind: it left the server in the process's list of signal receivers,
// and the next SIGTERM was passed to the freed server (ASan:
// heap-use-after-free in BroadcastSignal; in an optimised build the next
// server, reusing the memory, took it twice: the second counted as a
// second signal and the process exited at once with 143, undrained). Its
// reactors also kept serving the port. Run in a child: the open-file limit
// is the process's.
TEST(ServerSignalsTest, AFailedStartLeavesNoServerBehind) {
#ifdef BRISK_UBSAN
  GTEST_SKIP() << "fills the fd table: UBSan's vptr check then reports false errors";
#endif
  EXPECT_EQ(ExitCodeInChild([] {
    rlimit saved{};
    if (getrlimit(RLIMIT_NOFILE, &saved) != 0) return 3;
    rlimit low = saved;
    low.rlim_cur = 256;
    if (setrlimit(RLIMIT_NOFILE, &low) != 0) return 3;
    std::vector<int> filler;
    for (int fd; (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) filler.push_back(fd);
    auto failed = std::make_unique<HttpServer>(
        ServerOptions{.address = "127.0.0.1", .port = 0});  // no eventfd
    for (int fd : filler) close(fd);
    if (setrlimit(RLIMIT_NOFILE, &saved) != 0) return 3;
    if (failed->Start().ok()) return 4;
    if (failed->port() != 0) return 5;  // its reactors serve a port
    failed.reset();
    HttpServer server(ServerOptions{.address = "127.0.0.1", .port = 0});
    if (!server.Start().ok()) return 6;
    kill(getpid(), SIGTERM);  // one signal: a drain, not an exit
    if (!Eventually([&] { return !server.ready(); })) return 7;
    server.Stop();
    return 0;
  }), 0);
}

// A server that handles no signals, started before one that does: its
// threads were made before the other blocked the signals, so the kernel
// could give them a SIGTERM, whose default action ended the process at
// once, with no drain. brisk's threads now start with the stop signals
// blocked: the signal server gets it and drains. In a child forked before
// this binary runs a server of its own (TSan cannot start threads after a
// multi-threaded fork): defined before the tests that do.
TEST(ServerSignalsTest, ASigtermReachesTheSignalServerPastAnOlderServersThreads) {
  EXPECT_EQ(ExitCodeInChild([] {
              alarm(30);  // a guard: a lost signal fails by SIGALRM, not a hung test
              HttpServer quiet(ServerOptions{
                  .address = "127.0.0.1", .port = 0, .workers = 4, .handle_signals = false});
              if (!quiet.Start().ok()) return 3;
              HttpServer server(ServerOptions{
                  .address = "127.0.0.1", .port = 0, .drain_grace = std::chrono::nanoseconds(0)});
              if (!server.Start().ok()) return 4;
              if (kill(getpid(), SIGTERM) != 0) return 5;
              if (!server.Run().ok()) return 6;  // drained and stopped
              quiet.Stop();
              return 0;
            }),
            0);
}

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
  ASSERT_EQ(sigaction(SIGUSR2, &action, &previous), 0);
  ASSERT_TRUE(server.Start().ok());
  for (int round = 0; round < 200; ++round) SignalEveryThread(SIGUSR2);
  EXPECT_FALSE(server.ready());
  EXPECT_TRUE(server.Run().ok());  // returns: the shutdown went through
  ASSERT_EQ(sigaction(SIGUSR2, &previous, nullptr), 0);
  g_host_server = nullptr;
}

}  // namespace
}  // namespace brisk
