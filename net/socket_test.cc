#include "net/socket.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace brisk::net {
namespace {

// The connect() has completed, so the connection is in the backlog; a few
// EAGAINs are tolerated for the kernel to finish the handshake on loopback.
AcceptResult AcceptOne(Listener& l) {
  AcceptResult r;
  for (int i = 0; i < 100000; ++i) {
    r = l.Accept();
    if (r.outcome != AcceptResult::kWouldBlock) break;
  }
  return r;
}

TEST(UniqueFdTest, ClosesAndMoves) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  UniqueFd a(fds[0]);
  {
    UniqueFd b(fds[1]);
    UniqueFd c = std::move(b);
    EXPECT_FALSE(b.valid());
    EXPECT_EQ(c.get(), fds[1]);
  }
  EXPECT_EQ(write(fds[1], "x", 1), -1);  // closed
  EXPECT_EQ(errno, EBADF);
  int raw = a.release();
  EXPECT_FALSE(a);
  close(raw);
}

TEST(SocketAddressTest, ParseAndFormat) {
  auto v4 = SocketAddress::Parse("127.0.0.1", 80);
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->family(), AF_INET);
  EXPECT_EQ(v4->ToString(), "127.0.0.1:80");
  auto v6 = SocketAddress::Parse("[::1]", 8080);
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->family(), AF_INET6);
  EXPECT_EQ(v6->ToString(), "[::1]:8080");
  EXPECT_EQ(SocketAddress::Parse("localhost", 1)->ToString(), "127.0.0.1:1");
  EXPECT_FALSE(SocketAddress::Parse("example.com", 1).ok());
  EXPECT_FALSE(SocketAddress::Parse("", 1).ok());
  EXPECT_FALSE(SocketAddress::Parse("1.2.3.4.5", 1).ok());
  EXPECT_EQ(SocketAddress().ToString(), "unknown:0");
}

TEST(ListenerTest, Ipv4PortZeroAcceptsWithNoDelayAndNonBlocking) {
  absl::StatusOr<Listener> l = Listener::Create("127.0.0.1", 0);
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_NE(l->port(), 0);
  EXPECT_EQ(l->Accept().outcome, AcceptResult::kWouldBlock);
  absl::StatusOr<UniqueFd> c = Connect("127.0.0.1", l->port());
  ASSERT_TRUE(c.ok()) << c.status();
  AcceptResult r = AcceptOne(*l);
  ASSERT_EQ(r.outcome, AcceptResult::kAccepted) << r.error;
  EXPECT_EQ(r.peer.HostString(), "127.0.0.1");
  EXPECT_EQ(r.peer.port(), SocketAddress::LocalOf(c->get())->port());
  int nodelay = 0;
  socklen_t len = sizeof(nodelay);
  ASSERT_EQ(getsockopt(r.fd.get(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
  EXPECT_NE(nodelay, 0);
  char buf[4];
  EXPECT_EQ(read(r.fd.get(), buf, sizeof(buf)), -1);  // non-blocking
  EXPECT_EQ(errno, EAGAIN);
  ASSERT_EQ(write(c->get(), "ping", 4), 4);
  EXPECT_EQ(l->Accept().outcome, AcceptResult::kWouldBlock);
}

TEST(ListenerTest, DeferAcceptHandsOverConnectionsWithTheirFirstData) {
  absl::StatusOr<Listener> l =
      Listener::Create("127.0.0.1", 0, {.defer_accept_seconds = 30});
  ASSERT_TRUE(l.ok()) << l.status();
  absl::StatusOr<UniqueFd> c = Connect("127.0.0.1", l->port());
  ASSERT_TRUE(c.ok()) << c.status();
  // Connected, but nothing sent: not ready to be accepted (30 s is far
  // beyond this short look).
  pollfd pfd{l->fd(), POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 50), 0);
  EXPECT_EQ(l->Accept().outcome, AcceptResult::kWouldBlock);
  ASSERT_EQ(write(c->get(), "ping", 4), 4);
  ASSERT_EQ(poll(&pfd, 1, 5000), 1);
  AcceptResult r = AcceptOne(*l);
  ASSERT_EQ(r.outcome, AcceptResult::kAccepted) << r.error;
  char buf[4];
  EXPECT_EQ(read(r.fd.get(), buf, sizeof(buf)), 4);  // already there
}

TEST(ListenerTest, Ipv6Loopback) {
  absl::StatusOr<Listener> l = Listener::Create("::1", 0);
  if (!l.ok()) {
    GTEST_SKIP() << "no IPv6 loopback here: " << l.status();
  }
  absl::StatusOr<UniqueFd> c = Connect("[::1]", l->port());
  ASSERT_TRUE(c.ok()) << c.status();
  AcceptResult r = AcceptOne(*l);
  ASSERT_EQ(r.outcome, AcceptResult::kAccepted) << r.error;
  EXPECT_EQ(r.peer.family(), AF_INET6);
  EXPECT_EQ(r.peer.HostString(), "::1");
  EXPECT_EQ(l->local_address().ToString(), "[::1]:" + std::to_string(l->port()));
}

// bind(2) refuses an IPv4-mapped address on an IPv6-only socket with a
// bare EINVAL; the listener says why and what to write instead.
TEST(ListenerTest, AnIpv4MappedAddressIsRefusedWithTheIpv4Form) {
  absl::StatusOr<Listener> l = Listener::Create("::ffff:127.0.0.1", 0, {});
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(l.status().message().find("give it as IPv4 (127.0.0.1)"), std::string::npos)
      << l.status();
  // The same from the probe a server with several listeners makes first.
  absl::StatusOr<uint16_t> probed = ProbeFreePort("::ffff:127.0.0.1", 0, true);
  ASSERT_FALSE(probed.ok());
  EXPECT_NE(probed.status().message().find("give it as IPv4 (127.0.0.1)"), std::string::npos)
      << probed.status();
}

TEST(ListenerTest, PortInUseWithoutReusePort) {
  absl::StatusOr<Listener> a = Listener::Create("127.0.0.1", 0);
  ASSERT_TRUE(a.ok());
  absl::StatusOr<Listener> b = Listener::Create("127.0.0.1", a->port());
  EXPECT_FALSE(b.ok());
  EXPECT_FALSE(Listener::Create("not-an-address", 0).ok());
}

TEST(ListenerTest, ReusePortTwoListenersShareAPort) {
  ListenerOptions opts{.reuse_port = true};
  absl::StatusOr<Listener> a = Listener::Create("127.0.0.1", 0, opts);
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<Listener> b = Listener::Create("127.0.0.1", a->port(), opts);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->port(), b->port());
  // Every connection lands on exactly one of them.
  constexpr int kConns = 32;
  std::vector<UniqueFd> clients;
  for (int i = 0; i < kConns; ++i) {
    absl::StatusOr<UniqueFd> c = Connect("127.0.0.1", a->port());
    ASSERT_TRUE(c.ok()) << c.status();
    clients.push_back(*std::move(c));
  }
  int accepted = 0;
  for (int spins = 0; accepted < kConns && spins < 1000000; ++spins) {
    for (Listener* l : {&*a, &*b}) {
      if (l->Accept().outcome == AcceptResult::kAccepted) ++accepted;
    }
  }
  EXPECT_EQ(accepted, kConns);
}

// SO_REUSEPORT joins a port another socket listens on with it; the probe
// says the port is taken, so a new group of listeners is not started there.
TEST(ListenerTest, ProbeFreePortSeesAReusePortListener) {
  ListenerOptions opts{.reuse_port = true};
  absl::StatusOr<Listener> other = Listener::Create("127.0.0.1", 0, opts);
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<uint16_t> taken = ProbeFreePort("127.0.0.1", other->port());
  ASSERT_FALSE(taken.ok());
  EXPECT_NE(taken.status().message().find("Address already in use"),
            std::string_view::npos) << taken.status();
  // A free port: the kernel's choice, which a group can then bind.
  absl::StatusOr<uint16_t> free = ProbeFreePort("127.0.0.1", 0);
  ASSERT_TRUE(free.ok()) << free.status();
  ASSERT_NE(*free, 0);
  absl::StatusOr<Listener> a = Listener::Create("127.0.0.1", *free, opts);
  absl::StatusOr<Listener> b = Listener::Create("127.0.0.1", *free, opts);
  EXPECT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(ProbeFreePort("::1", 0).ok(), Listener::Create("::1", 0).ok());
}

TEST(ConnectTest, RefusedIsAnError) {
  absl::StatusOr<Listener> l = Listener::Create("127.0.0.1", 0);
  ASSERT_TRUE(l.ok());
  uint16_t port = l->port();
  *l = *Listener::Create("127.0.0.1", 0);  // closes the first one
  EXPECT_FALSE(Connect("127.0.0.1", port).ok());
}

}  // namespace
}  // namespace brisk::net
