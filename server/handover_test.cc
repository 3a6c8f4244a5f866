// Binary upgrade without a refused connection: a new server takes over the
// listening sockets of a running one through the handover socket, while
// clients keep connecting; the old one stops accepting and drains. Two
// servers in one process stand for the two processes (descriptor passing
// works the same), and a third takes over from the second.
#include <cstdlib>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "testing/temp_dir.h"
#include "server/http_server.h"
#include "server/testing/gate.h"
#include "server/testing/raw_client.h"

namespace brisk {
namespace {

using ::brisk::testing::Eventually;
using ::brisk::testing::Get;
using ::brisk::testing::RawClient;
using std::chrono::milliseconds;

// A short path (sun_path is 108 bytes) in a directory the test removes.
std::string HandoverPath(const ::brisk::testing::TempDir& dir) {
  return dir.path() + "/brisk.sock";
}

std::unique_ptr<HttpServer> Serve(const std::string& name,
                                  const std::string& handover, uint16_t port,
                                  int reactors = 1) {
  auto s = std::make_unique<HttpServer>(
      ServerOptions{.address = "127.0.0.1",
                    .port = port,
                    .reactors = reactors,
                    .drain_grace = milliseconds(200),
                    .handle_signals = false,
                    .handover_socket = handover});
  EXPECT_TRUE(s->AddRoute("GET", "/who", [name](RequestContext&) {
    return http::Response::Text(200, name);
  }, {.run_inline = true}).ok());
  EXPECT_TRUE(s->Start().ok());
  return s;
}

// Connects and asks /who over and over (a new connection each time) until
// stopped; counts answers by server and every failure.
class Prober {
 public:
  explicit Prober(uint16_t port) : port_(port), thread_([this] { Run(); }) {}
  ~Prober() { Stop(); }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  int failures() const { return failures_.load(); }
  int answers(char who) const { return who == 'A' ? a_.load() : (who == 'B' ? b_.load() : c_.load()); }

 private:
  void Run() {
    while (!stop_.load()) {
      RawClient c(port_);
      if (!c.connected() || !c.Send(Get("/who", /*close=*/true))) {
        failures_.fetch_add(1);
        continue;
      }
      auto r = c.Read();
      if (!r.has_value() || r->status != 200) {
        failures_.fetch_add(1);
        continue;
      }
      (r->body == "A" ? a_ : (r->body == "B" ? b_ : c_)).fetch_add(1);
    }
  }
  const uint16_t port_;
  std::atomic<bool> stop_{false};
  std::atomic<int> failures_{0}, a_{0}, b_{0}, c_{0};
  std::thread thread_;
};

TEST(HandoverTest, NewProcessTakesOverWithNoRefusedConnection) {
  const auto dir = ::brisk::testing::TempDir::Short("brisk-handover");
  const std::string path = HandoverPath(dir);
  std::unique_ptr<HttpServer> a = Serve("A", path, 0);
  const uint16_t port = a->port();
  RawClient keep_alive(port);  // an established connection to A
  ASSERT_TRUE(keep_alive.Send(Get("/who")));
  EXPECT_EQ(keep_alive.Read()->body, "A");

  Prober prober(port);
  ASSERT_TRUE(Eventually([&] { return prober.answers('A') >= 20; }));
  // B starts on the same handover socket (no port of its own: it takes
  // A's listening socket) and A drains.
  std::unique_ptr<HttpServer> b = Serve("B", path, 0);
  EXPECT_EQ(b->port(), port);
  ASSERT_TRUE(Eventually([&] { return !a->ready(); }));
  const int b_before = prober.answers('B');
  ASSERT_TRUE(Eventually([&] { return prober.answers('B') >= b_before + 20; }));
  // A's established connection is told to go, then A has drained.
  ASSERT_TRUE(keep_alive.Send(Get("/who")));
  auto r = keep_alive.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "A");
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(a->WaitDrained(std::chrono::seconds(20)));
  a->Stop();
  const int a_total = prober.answers('A');

  // And again: C takes over from B.
  std::unique_ptr<HttpServer> c = Serve("C", path, 0);
  EXPECT_EQ(c->port(), port);
  ASSERT_TRUE(Eventually([&] { return prober.answers('C') >= 20; }));
  EXPECT_TRUE(b->WaitDrained(std::chrono::seconds(20)));
  b->Stop();
  prober.Stop();
  EXPECT_EQ(prober.failures(), 0);
  EXPECT_EQ(prober.answers('A'), a_total);  // A answered nothing after its drain
  c->Stop();
}

// The new process may run another number of reactors. More than the old
// one's listeners: they share them (the start used to fail with
// "getsockopt(SO_ACCEPTCONN): Bad file descriptor", a descriptor read
// after it was moved). Fewer: it still accepts from every listener taken
// over (a surplus one was closed, resetting the connections in its
// backlog).
TEST(HandoverTest, TakesOverFromMoreOrFewerReactors) {
  const auto dir = ::brisk::testing::TempDir::Short("brisk-handover");
  const std::string path = HandoverPath(dir);
  std::unique_ptr<HttpServer> a = Serve("A", path, 0, /*reactors=*/2);
  const uint16_t port = a->port();
  Prober prober(port);
  ASSERT_TRUE(Eventually([&] { return prober.answers('A') >= 20; }));
  std::unique_ptr<HttpServer> b = Serve("B", path, 0, /*reactors=*/1);
  EXPECT_EQ(b->port(), port);
  ASSERT_TRUE(Eventually([&] { return prober.answers('B') >= 200; }));
  EXPECT_TRUE(a->WaitDrained(std::chrono::seconds(20)));
  a->Stop();
  std::unique_ptr<HttpServer> c = Serve("C", path, 0, /*reactors=*/3);
  EXPECT_EQ(c->port(), port);
  ASSERT_TRUE(Eventually([&] { return prober.answers('C') >= 200; }));
  EXPECT_TRUE(b->WaitDrained(std::chrono::seconds(20)));
  b->Stop();
  prober.Stop();
  EXPECT_EQ(prober.failures(), 0);
  c->Stop();
}

TEST(HandoverTest, WithNobodyToTakeOverFromItBindsAsUsual) {
  const auto dir = ::brisk::testing::TempDir::Short("brisk-handover");
  const std::string path = HandoverPath(dir);
  std::unique_ptr<HttpServer> a = Serve("A", path, 0);
  RawClient c(a->port());
  ASSERT_TRUE(c.Send(Get("/who")));
  EXPECT_EQ(c.Read()->body, "A");
  a->Stop();  // its socket file is removed
  std::unique_ptr<HttpServer> b = Serve("B", path, 0);  // binds a new port
  RawClient d(b->port());
  ASSERT_TRUE(d.Send(Get("/who")));
  EXPECT_EQ(d.Read()->body, "B");
}

}  // namespace
}  // namespace brisk
