// A SIGTERM ends the process within its drain even when a handler never
// returns. Its own binary: the server leaves the stuck worker's thread
// behind by design (the process exits without joining it), which TSan
// reports as a thread leak at the exit; its leak report is off here only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>
#include <thread>

#include "gtest/gtest.h"
#include "server/http_server.h"
#include "server/testing/exit_code_in_child.h"
#include "server/testing/gate.h"

#if defined(__SANITIZE_THREAD__)
extern "C" const char* __tsan_default_options() { return "report_thread_leaks=0"; }
#endif

namespace brisk {
namespace {

using ::brisk::testing::Eventually;
using ::brisk::testing::ExitCodeInChild;

// Connects `fd` to 127.0.0.1:`port` and sends `GET path`.
bool SendGet(int fd, uint16_t port, std::string_view path) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string get = "GET " + std::string(path) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  return connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0 &&
         write(fd, get.data(), get.size()) == static_cast<ssize_t>(get.size());
}

// The first bytes to come on `fd` within 20 s (a guard, not a bound).
std::string FirstBytes(int fd) {
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  char buf[64];
  if (poll(&p, 1, 20000) != 1) return "(nothing)";
  const ssize_t n = read(fd, buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "(closed)";
}

// A handler that ignores its cancellation.
http::Response Stuck(std::atomic<bool>& entered) {
  entered.store(true);
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

// A server on 127.0.0.1 that shuts down with no grace and a drain of
// `drain` (200 ms unless said).
ServerOptions ShortDrain(std::chrono::nanoseconds drain = std::chrono::milliseconds(200)) {
  return ServerOptions{.address = "127.0.0.1",
                       .port = 0,
                       .drain_grace = std::chrono::milliseconds(0),
                       .drain_timeout = drain};
}

// Adds GET /stuck to `server`, whose handler sets `entered` and never
// returns.
bool AddStuckRoute(HttpServer& server, std::atomic<bool>& entered, RouteOptions options = {}) {
  return server
      .AddRoute(
          "GET", "/stuck", [&entered](RequestContext&) { return Stuck(entered); }, options)
      .ok();
}

// A handler that never returns (it ignores its cancellation) held the
// stop's join of the workers, and so the process, forever after a SIGTERM:
// only a second signal or SIGKILL ended it. Its client is answered at the
// drain's end, and a second later the process exits 0 without it. Run in a
// child (the exit is the process's); the client's socket is made here, so
// its answer is read after the child is gone.
TEST(StuckHandlerTest, AHandlerThatNeverReturnsDoesNotHoldTheProcessPastItsDrain) {
  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client, 0);
  EXPECT_EQ(ExitCodeInChild([client] {
    alarm(30);  // without the watchdog: killed by SIGALRM, not a hung test
    HttpServer server(ShortDrain());
    std::atomic<bool> entered{false};
    if (!AddStuckRoute(server, entered)) {
      return 3;
    }
    if (!server.Start().ok()) return 4;
    if (!SendGet(client, server.port(), "/stuck")) return 5;
    if (!Eventually([&] { return entered.load(); })) return 6;
    kill(getpid(), SIGTERM);
    (void)server.Run();  // its stop cannot join the stuck worker
    return 7;            // not reached: the process exits first
  }), 0);
  // The client had its answer before the exit.
  EXPECT_TRUE(FirstBytes(client).starts_with("HTTP/1.1 503"));
  close(client);
}

// The same for a handler run inline on a reactor: the stop's first step
// (closing every connection on its reactor) waited for the stuck reactor
// forever. Its connection cannot be answered (its reactor is the stuck
// thread); the process exits 0 a second after the drain's end all the same.
TEST(StuckHandlerTest, AnInlineHandlerThatNeverReturnsDoesNotHoldTheProcessPastItsDrain) {
  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client, 0);
  EXPECT_EQ(
      ExitCodeInChild([client] {
        alarm(30);  // without the watchdog: killed by SIGALRM, not a hung test
        HttpServer server(ShortDrain());
        std::atomic<bool> entered{false};
        if (!AddStuckRoute(server, entered, {.run_inline = true})) {
          return 3;
        }
        if (!server.Start().ok()) return 4;
        if (!SendGet(client, server.port(), "/stuck")) return 5;
        if (!Eventually([&] { return entered.load(); })) return 6;
        kill(getpid(), SIGTERM);
        (void)server.Run();  // its stop cannot close the stuck reactor's connections
        return 7;            // not reached: the process exits first
      }),
      0);
  close(client);
}

// With two servers in the process, the stuck one's stop does not end the
// process while the other still drains: that one's request, answered after
// the stuck server's limit, gets its 200 (the exit used to come first and
// reset it); then the process exits.
TEST(StuckHandlerTest, TheProcessWaitsForItsOtherServersDrain) {
  const int stuck_client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int slow_client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(stuck_client, 0);
  ASSERT_GE(slow_client, 0);
  EXPECT_EQ(ExitCodeInChild([stuck_client, slow_client] {
              alarm(30);
              HttpServer a(ShortDrain());
              HttpServer b(ShortDrain(std::chrono::seconds(20)));
              std::atomic<bool> entered{false};
              std::atomic<bool> slow_entered{false};
              if (!AddStuckRoute(a, entered)) {
                return 3;
              }
              // Answers 1.5 s after it began: past a's drain (0.2 s) and limit (+1 s).
              if (!b.AddRoute("GET", "/slow", [&slow_entered](RequestContext& ctx) {
                      slow_entered.store(true);
                      const bool slept = ctx.SleepFor(std::chrono::milliseconds(1500));
                      return http::Response::Text(slept ? 200 : 500, "slow\n");
                    }).ok()) {
                return 3;
              }
              if (!a.Start().ok() || !b.Start().ok()) return 4;
              if (!SendGet(stuck_client, a.port(), "/stuck") ||
                  !SendGet(slow_client, b.port(), "/slow")) {
                return 5;
              }
              if (!Eventually([&] { return entered.load() && slow_entered.load(); })) return 6;
              kill(getpid(), SIGTERM);
              std::thread run_a([&a] { (void)a.Run(); });  // stuck in its stop
              (void)b.Run();
              run_a.join();
              return 7;  // not reached: the process exits once b stopped
            }),
            0);
  EXPECT_TRUE(FirstBytes(stuck_client).starts_with("HTTP/1.1 503"));
  const std::string slow = FirstBytes(slow_client);
  EXPECT_TRUE(slow.starts_with("HTTP/1.1 200")) << slow;
  close(stuck_client);
  close(slow_client);
}

// Two servers stuck on handlers that never return: each stop's watchdog
// waited for the other server to stop, forever. A stuck stop now waits
// only for servers still draining; once every server shutting down is
// stuck, the process exits.
TEST(StuckHandlerTest, TwoStuckServersDoNotWaitForEachOther) {
  const int client_a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int client_b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client_a, 0);
  ASSERT_GE(client_b, 0);
  EXPECT_EQ(
      ExitCodeInChild([client_a, client_b] {
        alarm(30);  // without the change: killed by SIGALRM
        const ServerOptions options = ShortDrain();
        HttpServer a(options);
        HttpServer b(options);
        std::atomic<bool> a_entered{false};
        std::atomic<bool> b_entered{false};
        if (!AddStuckRoute(a, a_entered) || !AddStuckRoute(b, b_entered)) {
          return 3;
        }
        if (!a.Start().ok() || !b.Start().ok()) return 4;
        if (!SendGet(client_a, a.port(), "/stuck") || !SendGet(client_b, b.port(), "/stuck")) {
          return 5;
        }
        if (!Eventually([&] { return a_entered.load() && b_entered.load(); })) return 6;
        kill(getpid(), SIGTERM);
        std::thread run_a([&a] { (void)a.Run(); });  // both stuck in their stops
        (void)b.Run();
        run_a.join();
        return 7;  // not reached
      }),
      0);
  EXPECT_TRUE(FirstBytes(client_a).starts_with("HTTP/1.1 503"));
  EXPECT_TRUE(FirstBytes(client_b).starts_with("HTTP/1.1 503"));
  close(client_a);
  close(client_b);
}

// A server that owns no signals and is not shutting down (an admin port
// its host would stop once the stuck Run() returned) does not hold the
// stuck server's exit: it waited for it, and the host for the Run().
TEST(StuckHandlerTest, AStuckStopDoesNotWaitForAServerThatIsNotShuttingDown) {
  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client, 0);
  EXPECT_EQ(
      ExitCodeInChild([client] {
        alarm(30);  // without the change: killed by SIGALRM
        HttpServer admin(ServerOptions{.address = "127.0.0.1", .port = 0, .handle_signals = false});
        HttpServer server(ShortDrain());
        std::atomic<bool> entered{false};
        if (!AddStuckRoute(server, entered)) {
          return 3;
        }
        if (!admin.Start().ok() || !server.Start().ok()) return 4;
        if (!SendGet(client, server.port(), "/stuck")) return 5;
        if (!Eventually([&] { return entered.load(); })) return 6;
        kill(getpid(), SIGTERM);
        (void)server.Run();  // stuck in its stop
        admin.Stop();        // not reached: the host would stop it here
        return 7;
      }),
      0);
  EXPECT_TRUE(FirstBytes(client).starts_with("HTTP/1.1 503"));
  close(client);
}

// A stop the host began (no watchdog: the host asked for the wait), stuck
// on a handler: SIGTERMs that came once the stop had begun were read and
// dropped (the server had left the signal list), so only SIGKILL ended the
// process. The first now says the process is stopping already, the second
// ends it at once (128 + SIGTERM).
TEST(StuckHandlerTest, StopSignalsDuringAStuckStopEndTheProcess) {
  EXPECT_EQ(
      ExitCodeInChild([] {
        alarm(30);  // without the change: killed by SIGALRM
        HttpServer server(ServerOptions{.address = "127.0.0.1", .port = 0});
        std::atomic<bool> entered{false};
        if (!AddStuckRoute(server, entered)) {
          return 3;
        }
        if (!server.Start().ok()) return 4;
        const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (client < 0 || !SendGet(client, server.port(), "/stuck")) return 5;
        if (!Eventually([&] { return entered.load(); })) return 6;
        std::atomic<bool> stopping{false};
        std::thread signaller([&stopping] {
          while (!stopping.load()) std::this_thread::yield();
          // Signals until the process ends (each is one stop signal; the
          // first ones may still reach the server before its stop began).
          for (int i = 0; i < 400; ++i) {
            kill(getpid(), SIGTERM);
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
        });
        stopping.store(true);
        server.Stop();  // stuck: its worker never returns
        signaller.join();
        return 7;
      }),
      128 + SIGTERM);
}

// A host that runs its servers one after the other (a.Run(); b.Run();):
// b drained with a, but is stopped only once a.Run() returns. A stuck a
// waited for b to stop, forever; a server that drained does not hold it
// (b's drain has no time limit: it ended when b had no connection left).
TEST(StuckHandlerTest, AStuckStopDoesNotWaitForAServerThatDrained) {
  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client, 0);
  EXPECT_EQ(ExitCodeInChild([client] {
              alarm(30);  // without the change: killed by SIGALRM
              HttpServer a(ShortDrain());
              HttpServer b(ShortDrain(std::chrono::hours(24 * 365 * 10)));
              std::atomic<bool> entered{false};
              if (!AddStuckRoute(a, entered)) {
                return 3;
              }
              if (!a.Start().ok() || !b.Start().ok()) return 4;
              if (!SendGet(client, a.port(), "/stuck")) return 5;
              if (!Eventually([&] { return entered.load(); })) return 6;
              kill(getpid(), SIGTERM);
              (void)a.Run();  // stuck in its stop
              (void)b.Run();  // not reached
              return 7;
            }),
            0);
  EXPECT_TRUE(FirstBytes(client).starts_with("HTTP/1.1 503"));
  close(client);
}

// A stop the host began waits for its handlers (no exit), but once past
// its watchdog's limit it counts as stuck: it no longer holds the exit of
// another server's stuck stop in a shutdown of the process.
TEST(StuckHandlerTest, AStuckStopTheHostBeganDoesNotHoldAnotherServersExit) {
  const int client_a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int client_b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client_a, 0);
  ASSERT_GE(client_b, 0);
  EXPECT_EQ(
      ExitCodeInChild([client_a, client_b] {
        alarm(30);  // without the change: killed by SIGALRM
        HttpServer a(ShortDrain());
        HttpServer b(ServerOptions{.address = "127.0.0.1", .port = 0, .handle_signals = false});
        std::atomic<bool> a_entered{false};
        std::atomic<bool> b_entered{false};
        if (!AddStuckRoute(a, a_entered) || !AddStuckRoute(b, b_entered)) {
          return 3;
        }
        if (!a.Start().ok() || !b.Start().ok()) return 4;
        if (!SendGet(client_a, a.port(), "/stuck") || !SendGet(client_b, b.port(), "/stuck")) {
          return 5;
        }
        if (!Eventually([&] { return a_entered.load() && b_entered.load(); })) return 6;
        std::thread stop_b([&b] { b.Stop(); });  // the host's: stuck, waits
        kill(getpid(), SIGTERM);
        (void)a.Run();  // stuck in its stop
        stop_b.join();
        return 7;  // not reached
      }),
      0);
  EXPECT_TRUE(FirstBytes(client_a).starts_with("HTTP/1.1 503"));
  close(client_a);
  close(client_b);
}

}  // namespace
}  // namespace brisk
