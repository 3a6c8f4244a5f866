#include "net/testing/socket_pair.h"

#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>

namespace brisk::net {

SocketPair::SocketPair(bool non_blocking) {
  int fds[2];
  const int type =
      SOCK_STREAM | SOCK_CLOEXEC | (non_blocking ? SOCK_NONBLOCK : 0);
  if (::socketpair(AF_UNIX, type, 0, fds) != 0) {
    std::perror("SocketPair: socketpair");
    std::abort();
  }
  a.reset(fds[0]);
  b.reset(fds[1]);
}

}  // namespace brisk::net
