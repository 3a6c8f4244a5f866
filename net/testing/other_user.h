// brisk::net::ConnectAsNobody / ServeAsNobody: a forked child that connects
// to (or listens on) a Unix socket as another user ("nobody"), for tests of
// code that checks who its peer is (SO_PEERCRED). Needs root, and a sandbox that maps other users
// (Bazel's linux-sandbox does not: such tests are tagged "no-sandbox").
//
//   pid_t child = brisk::net::ConnectAsNobody(path, [](int fd) {
//     return read(fd, buf, 1) == 0 ? 0 : 5;    // system calls only
//   });
//   int status; waitpid(child, &status, 0);
//   if (WEXITSTATUS(status) == brisk::net::kCannotBecomeNobody) GTEST_SKIP();
//
// The child runs only system calls before `then` (it is forked from a
// threaded process), and `then` must do the same. Thread-safety: call from
// the test's thread.
#ifndef BRISK_NET_TESTING_OTHER_USER_H_
#define BRISK_NET_TESTING_OTHER_USER_H_

#include <sys/types.h>

#include <string>

namespace brisk::net {

// The child's exit status when it cannot become nobody, or cannot connect.
inline constexpr int kCannotBecomeNobody = 2;
inline constexpr int kCannotConnect = 3;

// Forks; the child becomes uid/gid 65534, connects to `path` and exits with
// then(fd). Returns the child's pid (negative if fork failed).
pid_t ConnectAsNobody(const std::string& path, int (*then)(int fd));

// Forks; the child becomes uid/gid 65534, listens on `path` (its directory
// must let nobody create it), accepts one connection and exits with
// then(fd) of it (kCannotConnect if it cannot listen or accept). The
// parent waits until the child listens, or has exited (up to 10 s),
// before it returns the child's pid.
pid_t ServeAsNobody(const std::string& path, int (*then)(int fd));

}  // namespace brisk::net

#endif  // BRISK_NET_TESTING_OTHER_USER_H_
