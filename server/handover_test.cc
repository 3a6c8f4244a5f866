// Binary upgrade without a refused connection: a new server takes over the
// listening sockets of a running one through the handover socket, while
// clients keep connecting; the old one stops accepting and drains. Two
// servers in one process stand for the two processes (descriptor passing
// works the same), and a third takes over from the second.
#include "server/handover.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/socket.h"
#include "net/testing/other_user.h"
#include "net/unix_socket.h"
#include "server/http_server.h"
#include "server/testing/gate.h"
#include "server/testing/raw_client.h"
#include "testing/temp_dir.h"
#include "tls/testing/test_certs.h"

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

std::unique_ptr<HttpServer> Serve(const std::string& name, const std::string& handover,
                                  uint16_t port, int reactors = 1,
                                  std::chrono::nanoseconds grace = milliseconds(200)) {
  auto s = std::make_unique<HttpServer>(ServerOptions{.address = "127.0.0.1",
                                                      .port = port,
                                                      .reactors = reactors,
                                                      .drain_grace = grace,
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
  // A's grace outlasts the wait for B's answers below, which its idle
  // keep-alive connection must survive (200 ms was not enough for a slow
  // machine's 20 connections).
  std::unique_ptr<HttpServer> a = Serve("A", path, 0, 1, std::chrono::seconds(3));
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

// A takeover confirmed, the path is the new process's: it replaces the file
// as it starts, while the old one closes its service about then. The old
// one used to remove "its" file if the inode still matched, a check and an
// unlink in two steps: the new file made between them went, and the next
// upgrade found no one to take over from (bind: address in use).
TEST(HandoverTest, AfterAHandoverTheOldServiceLeavesThePathToTheNewOne) {
  const auto dir = ::brisk::testing::TempDir::Short("brisk-handover");
  const std::string path = HandoverPath(dir);
  absl::StatusOr<net::Listener> tcp = net::Listener::Create("127.0.0.1", 0);
  ASSERT_TRUE(tcp.ok());
  std::atomic<bool> confirmed{false};
  auto old_service = internal::HandoverService::Start(
      path, {tcp->fd()}, [&confirmed] { confirmed.store(true); });
  ASSERT_TRUE(old_service.ok()) << old_service.status();
  absl::StatusOr<internal::Takeover> t = internal::Takeover::Request(path);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_TRUE(t->Confirm().ok());
  ASSERT_TRUE(Eventually([&] { return confirmed.load(); }));
  (*old_service)->Close();
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << "the old service removed the path";
  // The new process's service replaces the file and serves the next one.
  auto new_service = internal::HandoverService::Start(path, {tcp->fd()}, [] {});
  ASSERT_TRUE(new_service.ok()) << new_service.status();
  absl::StatusOr<internal::Takeover> next = internal::Takeover::Request(path);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->listeners().size(), 1u);
  // Asked and never confirmed: Close() does not wait for the exchange's
  // 10 s timeout (on the control thread it would hold the drain timers).
  const auto close_start = std::chrono::steady_clock::now();
  (*new_service)->Close();
  EXPECT_LT(std::chrono::steady_clock::now() - close_start, std::chrono::seconds(5));
  // Closed without a handover: its own file goes.
  EXPECT_NE(stat(path.c_str(), &st), 0);
}

// A server asked for one address and port takes over only a server
// listening there: a handover path shared by mistake must not move another
// instance's port, and the running one goes on serving.
TEST(HandoverTest, RefusesToTakeOverAnotherAddressOrPort) {
  const auto dir = ::brisk::testing::TempDir::Short("brisk-handover");
  const std::string path = HandoverPath(dir);
  std::unique_ptr<HttpServer> a = Serve("A", path, 0);
  const uint16_t port = a->port();
  const uint16_t other_port = port == 65535 ? port - 1 : port + 1;
  for (const auto& [address, p] :
       {std::pair<std::string, uint16_t>{"127.0.0.1", other_port},
        std::pair<std::string, uint16_t>{"0.0.0.0", port},
        std::pair<std::string, uint16_t>{"0.0.0.0", 0}}) {
    HttpServer b(ServerOptions{.address = address,
                               .port = p,
                               .handle_signals = false,
                               .handover_socket = path});
    absl::Status s = b.Start();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << address << ":" << p << " " << s;
    EXPECT_TRUE(a->ready());
    RawClient c(port);
    ASSERT_TRUE(c.Send(Get("/who")));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, "A");
  }
  // Its own port, given explicitly, is taken over.
  std::unique_ptr<HttpServer> b = Serve("B", path, port);
  EXPECT_EQ(b->port(), port);
  EXPECT_TRUE(a->WaitDrained(std::chrono::seconds(20)));
  a->Stop();
  b->Stop();
}

// What the port speaks must not change under its clients: a server that
// would serve an HTTPS port in cleartext, or read a balancer's PROXY
// headers as requests (or expect them where none come), refuses the
// takeover, and the running one goes on. It took the port silently.
TEST(HandoverTest, RefusesToTakeOverAPortThatSpeaksAnotherProtocol) {
  const auto dir = ::brisk::testing::TempDir::Short("brisk-handover");
  const std::string path = HandoverPath(dir);
  const tls::testing::TestPki& pki = tls::testing::SharedTestPki();
  ServerOptions https{
      .address = "127.0.0.1", .port = 0, .handle_signals = false, .handover_socket = path};
  https.tls.cert_chain_file = dir.Write("chain.pem", pki.server_ecdsa.chain_pem);
  https.tls.key_file = dir.Write("key.pem", pki.server_ecdsa.key_pem);
  // A plain server (no TLS, no PROXY protocol) asked to take over `port`
  // through `handover` is refused, the message naming `trait`.
  auto expect_plain_one_refused = [](const std::string& handover, uint16_t port,
                                     const std::string& trait) {
    HttpServer b(ServerOptions{.address = "127.0.0.1",
                               .port = port,
                               .handle_signals = false,
                               .handover_socket = handover});
    const absl::Status s = b.Start();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr(trait));
  };
  HttpServer a(https);
  ASSERT_TRUE(a.Start().ok());
  expect_plain_one_refused(path, a.port(), "scheme=https");
  EXPECT_TRUE(a.ready());
  a.Stop();

  const auto dir2 = ::brisk::testing::TempDir::Short("brisk-handover");
  const std::string path2 = HandoverPath(dir2);
  HttpServer proxied(ServerOptions{.address = "127.0.0.1",
                                   .port = 0,
                                   .proxy_protocol = true,
                                   .handle_signals = false,
                                   .handover_socket = path2});
  ASSERT_TRUE(proxied.Start().ok());
  expect_plain_one_refused(path2, proxied.port(), "proxy_protocol=on");
  EXPECT_TRUE(proxied.ready());
  // The same protocol is taken over.
  HttpServer b(ServerOptions{.address = "127.0.0.1",
                             .port = proxied.port(),
                             .proxy_protocol = true,
                             .handle_signals = false,
                             .handover_socket = path2});
  ASSERT_TRUE(b.Start().ok());
  EXPECT_TRUE(proxied.WaitDrained(std::chrono::seconds(20)));
  proxied.Stop();
  b.Stop();
}

// The traits go with the sockets; a service that sends none (an older
// brisk) leaves them unknown, and its reply is still read.
TEST(HandoverTest, TraitsTravelWithTheSockets) {
  const auto dir = ::brisk::testing::TempDir::Short("brisk-handover");
  const std::string path = HandoverPath(dir);
  absl::StatusOr<net::Listener> listener = net::Listener::Create("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok()) << listener.status();
  for (const std::string traits : {"scheme=https proxy_protocol=off", ""}) {
    auto service = internal::HandoverService::Start(
        path, {listener->fd()}, [] {}, internal::kHandoverExchangeTimeout, traits);
    ASSERT_TRUE(service.ok()) << service.status();
    absl::StatusOr<internal::Takeover> t = internal::Takeover::Request(path);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->listeners().size(), 1u);
    if (traits.empty()) {
      EXPECT_FALSE(t->trait("scheme").has_value());
    } else {
      EXPECT_EQ(t->trait("scheme"), "https");
      EXPECT_EQ(t->trait("proxy_protocol"), "off");
    }
    EXPECT_FALSE(t->trait("nope").has_value());
    (*service)->Close();
  }
}

// A new process stopped while the running one is slow to answer (paused,
// swapping) gives up at once and takes nothing: its cancel descriptor (a
// signalfd of SIGTERM and SIGINT in the server) ends the wait. It waited
// the whole exchange timeout, and took the port if the answer came
// meanwhile, then shut down: no one was left accepting.
TEST(HandoverTest, ATakeoverRequestIsCancelledWhileItWaits) {
  const auto dir = ::brisk::testing::TempDir::Short("brisk-handover");
  const std::string path = HandoverPath(dir);
  // A socket that takes the connection (its backlog) and never answers.
  absl::StatusOr<net::UniqueFd> silent = net::ListenUnix(path);
  ASSERT_TRUE(silent.ok()) << silent.status();
  net::UniqueFd cancel(eventfd(0, EFD_CLOEXEC));
  ASSERT_TRUE(cancel);
  std::thread stop([&] {
    const uint64_t one = 1;
    EXPECT_EQ(write(cancel.get(), &one, sizeof(one)), 8);
  });
  absl::StatusOr<internal::Takeover> t = internal::Takeover::Request(path, cancel.get());
  stop.join();
  EXPECT_EQ(t.status().code(), absl::StatusCode::kCancelled) << t.status();
}

// The listening sockets go only to a process of the same user (or root),
// whatever the socket file's mode: a directory or umask someone else chose
// must not hand the port to them.
// A new process slower to confirm than the exchange timeout (its rings,
// its threads) still takes over: the old one waits for the confirmation as
// long as the connection lasts. It stopped waiting at the timeout and went
// on serving for good beside the new one, neither saying so.
TEST(HandoverTest, AConfirmationAfterTheExchangeTimeoutStillHandsOver) {
  const auto dir = ::brisk::testing::TempDir::Short("brisk-handover");
  const std::string path = HandoverPath(dir);
  absl::StatusOr<net::Listener> listener = net::Listener::Create("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok()) << listener.status();
  std::atomic<bool> confirmed{false};
  absl::StatusOr<std::unique_ptr<internal::HandoverService>> service =
      internal::HandoverService::Start(
          path, {listener->fd()}, [&] { confirmed.store(true); }, milliseconds(100));
  ASSERT_TRUE(service.ok()) << service.status();
  absl::StatusOr<internal::Takeover> takeover = internal::Takeover::Request(path);
  ASSERT_TRUE(takeover.ok()) << takeover.status();
  ASSERT_EQ(takeover->listeners().size(), 1u);
  // Three exchange timeouts pass before the new process is ready.
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_FALSE(confirmed.load());
  EXPECT_TRUE(takeover->Confirm().ok());
  EXPECT_TRUE(Eventually([&] { return confirmed.load(); }));
  (*service)->Close();
}

// A socket at the path served by another user is not taken over from:
// the new process would adopt that user's listening socket (which it keeps
// a copy of) instead of failing to bind.
TEST(HandoverTest, AnotherUsersSocketAtThePathIsNotTakenOver) {
  if (geteuid() != 0) GTEST_SKIP() << "serving as another user needs root";
  const auto dir = ::brisk::testing::TempDir::Short("brisk-handover");
  ASSERT_EQ(chmod(dir.path().c_str(), 0777), 0);
  const std::string path = HandoverPath(dir);
  const pid_t child = net::ServeAsNobody(path, [](int fd) {
    // Holds the connection until the other side closes it: 0 if it never
    // asked (a question: 5).
    char buf[64];
    return read(fd, buf, sizeof(buf)) > 0 ? 5 : 0;
  });
  ASSERT_GE(child, 0);
  absl::StatusOr<internal::Takeover> takeover = internal::Takeover::Request(path);
  const bool was_there = access(path.c_str(), F_OK) == 0;
  int status = 0;
  if (takeover.status().code() == absl::StatusCode::kPermissionDenied) {
    ASSERT_EQ(waitpid(child, &status, 0), child);  // it closed: the child ends
  } else {
    // Taken over, or not connected at all: the child may still wait.
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == net::kCannotBecomeNobody) {
    GTEST_SKIP() << "cannot become another user here";
  }
  ASSERT_TRUE(was_there);
  EXPECT_EQ(takeover.status().code(), absl::StatusCode::kPermissionDenied) << takeover.status();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the other user was asked for its sockets";
}

// One listening socket per reactor goes in one message, which Linux caps
// at 253 descriptors: more reactors with a handover socket are refused at
// start (every upgrade failed, the old process saying nothing).
TEST(HandoverTest, MoreReactorsThanOneMessageCarriesAreRefused) {
  ServerOptions o{.reactors = 254, .handover_socket = "/tmp/brisk-unused.sock"};
  const absl::Status s = ValidateServerOptions(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("at most 253 reactors"), std::string::npos) << s;
  o.reactors = 253;
  EXPECT_TRUE(ValidateServerOptions(o).ok());
  o.reactors = 254;
  o.handover_socket.clear();
  EXPECT_TRUE(ValidateServerOptions(o).ok());
}

TEST(HandoverTest, ProcessesOfAnotherUserGetNothing) {
  if (geteuid() != 0) GTEST_SKIP() << "connecting as another user needs root";
  const auto dir = ::brisk::testing::TempDir::Short("brisk-handover");
  const std::string path = HandoverPath(dir);
  std::unique_ptr<HttpServer> a = Serve("A", path, 0);
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  ASSERT_EQ(chmod(path.c_str(), 0666), 0);  // as a careless umask would
  const pid_t child = net::ConnectAsNobody(path, [](int fd) {
    // Closed without a word (before or after the question): 0. Any reply
    // (the listeners): 5.
    static const char kAsk[] = "BRISK-HANDOVER 1\n";
    if (send(fd, kAsk, sizeof(kAsk) - 1, MSG_NOSIGNAL) < 0) return 0;
    char buf[256];
    return read(fd, buf, sizeof(buf)) <= 0 ? 0 : 5;
  });
  ASSERT_GE(child, 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  if (WEXITSTATUS(status) == net::kCannotBecomeNobody) GTEST_SKIP() << "cannot become another user here";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the other user was answered";
  EXPECT_TRUE(a->ready());
  // The same user still can.
  std::unique_ptr<HttpServer> b = Serve("B", path, 0);
  EXPECT_EQ(b->port(), a->port());
  EXPECT_TRUE(a->WaitDrained(std::chrono::seconds(20)));
  a->Stop();
  b->Stop();
}

// A connection io_uring's multishot accept took just before the handover's
// stop took effect is served by the old process, whatever the grace: with
// none, the drain began at once and refused it (and could have ended
// before it came). The old reactor is held in an inline handler while the
// handover happens, so the stop's tasks run before the accept's completion
// is read, as on a busy reactor. (Found by an outside review.)
void LateAcceptDuringHandoverIsServed(std::chrono::nanoseconds grace) {
  const auto dir = ::brisk::testing::TempDir::Short("brisk-handover");
  const std::string path = HandoverPath(dir);
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
  auto a = std::make_unique<HttpServer>(ServerOptions{
      .address = "127.0.0.1", .port = 0, .reactors = 1,
      .io = IoBackend::kIoUring, .drain_grace = grace,
      .handle_signals = false, .handover_socket = path});
  ASSERT_TRUE(a->AddRoute("GET", "/who", [](RequestContext&) {
    return http::Response::Text(200, "A");
  }, {.run_inline = true}).ok());
  ASSERT_TRUE(a->AddRoute("GET", "/block", [&](RequestContext&) {
    entered.store(true);
    while (!release.load()) std::this_thread::sleep_for(milliseconds(1));
    return http::Response::Text(200, "A");
  }, {.run_inline = true}).ok());
  ASSERT_TRUE(a->Start().ok());
  const uint16_t port = a->port();
  RawClient x(port);
  ASSERT_TRUE(x.Send(Get("/block")));
  ASSERT_TRUE(Eventually([&] { return entered.load(); }));
  // Y connects while A's reactor is held: A's armed accept takes it (its
  // task work runs at the handler's next system call).
  RawClient y(port);
  ASSERT_TRUE(y.Send(Get("/who", /*close=*/true)));
  std::this_thread::sleep_for(milliseconds(100));
  std::unique_ptr<HttpServer> b = Serve("B", path, 0);
  ASSERT_TRUE(Eventually([&] { return !a->ready(); }));
  std::this_thread::sleep_for(milliseconds(100));  // the control thread's tasks
  release.store(true);
  auto r = y.Read();
  ASSERT_TRUE(r.has_value()) << "Y got no answer (rejected by A: "
                             << a->metrics().rejected_connections.load() << ")";
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "A");
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_EQ(a->metrics().rejected_connections.load(), 0u);
  a->Stop();
  b->Stop();
}

// A drain closes a silent connection io_uring's accept took just before the
// stop (its completion read after the drain's close-idle pass): it was told
// to go but left open while idle, and held the drain until its header
// timeout.
TEST(HandoverTest, ADrainClosesASilentConnectionTakenLate) {
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
  HttpServer a(ServerOptions{.address = "127.0.0.1",
                             .port = 0,
                             .reactors = 1,
                             .io = IoBackend::kIoUring,
                             // A silent client is accepted at once (with
                             // TCP_DEFER_ACCEPT, after a second or more).
                             .defer_accept = false,
                             .header_timeout = std::chrono::seconds(600),
                             .idle_timeout = std::chrono::seconds(600),
                             .drain_grace = std::chrono::nanoseconds(0),
                             .drain_timeout = std::chrono::seconds(600),
                             .handle_signals = false});
  ASSERT_TRUE(a.AddRoute("GET", "/block",
                         [&](RequestContext&) {
                           entered.store(true);
                           while (!release.load()) std::this_thread::sleep_for(milliseconds(1));
                           return http::Response::Text(200, "A");
                         },
                         {.run_inline = true})
                  .ok());
  ASSERT_TRUE(a.Start().ok());
  RawClient x(a.port());
  ASSERT_TRUE(x.Send(Get("/block")));
  ASSERT_TRUE(Eventually([&] { return entered.load(); }));
  RawClient y(a.port());  // says nothing
  std::this_thread::sleep_for(milliseconds(100));
  a.Shutdown();
  ASSERT_TRUE(Eventually([&] { return !a.ready(); }));
  std::this_thread::sleep_for(milliseconds(100));  // the control thread's tasks
  release.store(true);
  auto r = x.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(y.WaitClosed());
  EXPECT_TRUE(a.WaitDrained(std::chrono::seconds(20)));
  a.Stop();
}

TEST(HandoverTest, AConnectionTakenLateIsServedWithAGrace) {
  LateAcceptDuringHandoverIsServed(milliseconds(200));
}

TEST(HandoverTest, AConnectionTakenLateIsServedWithNoGrace) {
  LateAcceptDuringHandoverIsServed(std::chrono::nanoseconds(0));
}

}  // namespace
}  // namespace brisk
