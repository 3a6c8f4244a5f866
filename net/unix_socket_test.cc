#include "net/unix_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "net/socket.h"
#include "net/testing/other_user.h"
#include "testing/temp_dir.h"

namespace brisk::net {
namespace {

// A short path (sun_path holds 107 bytes; Bazel's TEST_TMPDIR is longer),
// in a directory removed when the test binary exits.
std::string TempPath(const std::string& name) {
  static testing::TempDir* const dir = [] {
    static testing::TempDir d = testing::TempDir::Short("brisk-uds");
    return &d;
  }();
  return dir->path() + "/" + name;
}

TEST(UnixSocketTest, PassesListeningSocketsToAnotherEnd) {
  const std::string path = TempPath("handover.sock");
  absl::StatusOr<UniqueFd> server = ListenUnix(path);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<Listener> tcp = Listener::Create("127.0.0.1", 0);
  ASSERT_TRUE(tcp.ok());
  const uint16_t port = tcp->port();

  std::thread sender([&] {
    UniqueFd c(accept4(server->get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(c.valid());
    ASSERT_TRUE(SendWithFds(c.get(), "LISTENERS 1\n", {tcp->fd()}).ok());
  });
  absl::StatusOr<UniqueFd> client = ConnectUnix(path, std::chrono::seconds(5));
  ASSERT_TRUE(client.ok()) << client.status();
  std::string payload;
  std::vector<UniqueFd> fds;
  ASSERT_TRUE(ReceiveWithFds(client->get(), &payload, &fds, 8).ok());
  sender.join();
  EXPECT_EQ(payload, "LISTENERS 1\n");
  ASSERT_EQ(fds.size(), 1u);
  // The received descriptor is the same listening socket: a connection
  // made to it is accepted through the copy.
  absl::StatusOr<Listener> adopted = Listener::Adopt(std::move(fds[0]));
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(adopted->port(), port);
  absl::StatusOr<UniqueFd> conn = Connect("127.0.0.1", port);
  ASSERT_TRUE(conn.ok());
  AcceptResult r;
  for (int i = 0; i < 1000 && r.outcome != AcceptResult::kAccepted; ++i) {
    r = adopted->Accept();
    if (r.outcome != AcceptResult::kAccepted) usleep(1000);
  }
  EXPECT_EQ(r.outcome, AcceptResult::kAccepted);
}

TEST(UnixSocketTest, NothingListeningIsNotFound) {
  absl::StatusOr<UniqueFd> c =
      ConnectUnix(TempPath("nobody.sock"), std::chrono::milliseconds(100));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  // A stale socket file (its process gone) is NotFound too, and ListenUnix
  // replaces it.
  const std::string stale = TempPath("stale.sock");
  { ASSERT_TRUE(ListenUnix(stale).ok()); }  // closed: the file stays
  c = ConnectUnix(stale, std::chrono::milliseconds(100));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(ListenUnix(stale).ok());
}

TEST(UnixSocketTest, RefusesToReplaceARegularFile) {
  const std::string path = TempPath("regular");
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  EXPECT_FALSE(ListenUnix(path).ok());
}

TEST(UnixSocketTest, TheSocketFileIsOwnerOnlyWhateverTheUmask) {
  const mode_t old_umask = umask(0);
  const std::string path = TempPath("private.sock");
  absl::StatusOr<UniqueFd> server = ListenUnix(path);
  umask(old_umask);
  ASSERT_TRUE(server.ok()) << server.status();
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(UnixSocketTest, TellsAPeerOfAnotherUserFromOneOfItsOwn) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  EXPECT_TRUE(PeerIsOwnUserOrRoot(a.get()));
  if (geteuid() != 0) GTEST_SKIP() << "connecting as another user needs root";
  // A child that becomes "nobody" before it connects: the credentials are
  // the connecting process's at connect time.
  const std::string path = TempPath("peer.sock");
  absl::StatusOr<UniqueFd> server = ListenUnix(path);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_EQ(chmod(path.c_str(), 0666), 0);
  ASSERT_EQ(chmod(path.substr(0, path.rfind('/')).c_str(), 0755), 0);
  const pid_t child = ConnectAsNobody(path, [](int fd) {
    char c;
    (void)!read(fd, &c, 1);  // until the test closes its end
    return 0;
  });
  ASSERT_GE(child, 0);
  pollfd pfd{server->get(), POLLIN, 0};
  if (poll(&pfd, 1, 10000) != 1) {  // the child never connected
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    // A sandbox whose user namespace maps no other user (Bazel's
    // linux-sandbox): BUILD runs this test unsandboxed for that reason.
    if (WIFEXITED(status) && WEXITSTATUS(status) == kCannotBecomeNobody) {
      GTEST_SKIP() << "cannot become another user here";
    }
    FAIL() << "the child did not connect: " << status;
  }
  UniqueFd conn(accept4(server->get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn.valid());
  EXPECT_FALSE(PeerIsOwnUserOrRoot(conn.get()));
  conn.reset();
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(UnixSocketTest, ReceiveTimesOut) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  ASSERT_TRUE(SetIoTimeout(a.get(), std::chrono::milliseconds(50)).ok());
  std::string payload;
  std::vector<UniqueFd> fds;
  EXPECT_EQ(ReceiveWithFds(a.get(), &payload, &fds, 4).code(),
            absl::StatusCode::kDeadlineExceeded);
  b.reset();
  EXPECT_EQ(ReceiveWithFds(a.get(), &payload, &fds, 4).code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace brisk::net
