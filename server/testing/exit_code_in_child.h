// ExitCodeInChild: runs a test's body in a forked child, for what belongs to
// the whole process (its pending signals, its open-file limit, its
// standard descriptors), so the test binary is left as it was.
//
//   EXPECT_EQ(ExitCodeInChild([] { ...; return ok ? 0 : 3; }), 0);
//
// One test thread; fork before the test starts threads of its own.
//
// Also two steps such a child often takes on a socket it made before
// lowering a limit or closing descriptors: AskForHealthz() and Answered().
#ifndef BRISK_SERVER_TESTING_EXIT_CODE_IN_CHILD_H_
#define BRISK_SERVER_TESTING_EXIT_CODE_IN_CHILD_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string_view>

#include "gtest/gtest.h"

namespace brisk::testing {

// Runs `body` in a forked child and returns the child's exit code: what
// `body` returned. -1, with a test failure, if the child did not exit.
template <typename Body>
int ExitCodeInChild(Body body) {
  const pid_t child = fork();
  if (child < 0) {
    ADD_FAILURE() << "fork: errno " << errno;
    return -1;
  }
  if (child == 0) _exit(body());
  int status = 0;
  if (waitpid(child, &status, 0) != child) {
    ADD_FAILURE() << "waitpid: errno " << errno;
    return -1;
  }
  if (!WIFEXITED(status)) {
    ADD_FAILURE() << "the child did not exit: "
                  << (WIFSIGNALED(status) ? "killed by signal " : "status ")
                  << (WIFSIGNALED(status) ? WTERMSIG(status) : status);
    return -1;
  }
  return WEXITSTATUS(status);
}

// Connects `fd` (a TCP socket) to 127.0.0.1:`port` and sends a whole
// `GET /healthz`; false if either step failed. (A listener with
// TCP_DEFER_ACCEPT accepts only once the request is there.)
inline bool AskForHealthz(int fd, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) return false;
  constexpr std::string_view kGet = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  return write(fd, kGet.data(), kGet.size()) == static_cast<ssize_t>(kGet.size());
}

// Whether the first bytes to come on `fd` within 20 s (a guard against a
// hung test, not a timing assertion) begin "HTTP/1.1 200".
inline bool Answered(int fd) {
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  char buf[64];
  if (poll(&p, 1, 20000) != 1) return false;
  const ssize_t n = read(fd, buf, sizeof(buf));
  return n > 0 && std::string_view(buf, static_cast<size_t>(n)).starts_with("HTTP/1.1 200");
}

}  // namespace brisk::testing

#endif  // BRISK_SERVER_TESTING_EXIT_CODE_IN_CHILD_H_
