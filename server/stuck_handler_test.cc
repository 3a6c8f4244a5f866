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
    HttpServer server(ServerOptions{.address = "127.0.0.1",
                                    .port = 0,
                                    .drain_grace = std::chrono::milliseconds(0),
                                    .drain_timeout = std::chrono::milliseconds(200)});
    std::atomic<bool> entered{false};
    if (!server.AddRoute("GET", "/stuck", [&entered](RequestContext&) {
          entered.store(true);
          for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
          return http::Response::Text(200, "never\n");
        }).ok()) {
      return 3;
    }
    if (!server.Start().ok()) return 4;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server.port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    constexpr std::string_view kGet = "GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n";
    if (connect(client, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0 ||
        write(client, kGet.data(), kGet.size()) != static_cast<ssize_t>(kGet.size())) {
      return 5;
    }
    if (!Eventually([&] { return entered.load(); })) return 6;
    kill(getpid(), SIGTERM);
    (void)server.Run();  // its stop cannot join the stuck worker
    return 7;            // not reached: the process exits first
  }), 0);
  // The client had its answer before the exit.
  pollfd p{.fd = client, .events = POLLIN, .revents = 0};
  char buf[64];
  ASSERT_EQ(poll(&p, 1, 20000), 1);
  const ssize_t n = read(client, buf, sizeof(buf));
  EXPECT_TRUE(n > 0 && std::string_view(buf, static_cast<size_t>(n)).starts_with("HTTP/1.1 503"))
      << std::string_view(buf, n > 0 ? static_cast<size_t>(n) : 0);
  close(client);
}

}  // namespace
}  // namespace brisk
