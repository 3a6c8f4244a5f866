// brisk::net::SocketPair: a connected AF_UNIX stream socket pair for tests
// and benchmarks of code that reads and writes descriptors (the event loop,
// IoBuffer), without the network.
//
//   brisk::net::SocketPair p;                      // non-blocking ends
//   ASSERT_EQ(write(p.b.get(), "x", 1), 1);
//   ... a watcher on p.a.get() sees it readable ...
//   brisk::net::SocketPair blocking(/*non_blocking=*/false);
//
// Ownership: each end is a UniqueFd, closed when the pair is destroyed (or
// reset/released by the test). Creating a pair aborts with a message if
// socketpair() fails (descriptor exhaustion: the environment is broken, not
// the code under test). Thread-safety: a value; one owner.
#ifndef BRISK_NET_TESTING_SOCKET_PAIR_H_
#define BRISK_NET_TESTING_SOCKET_PAIR_H_

#include "net/socket.h"

namespace brisk::net {

struct SocketPair {
  // Both ends SOCK_CLOEXEC; SOCK_NONBLOCK unless `non_blocking` is false.
  explicit SocketPair(bool non_blocking = true);

  UniqueFd a;
  UniqueFd b;
};

}  // namespace brisk::net

#endif  // BRISK_NET_TESTING_SOCKET_PAIR_H_
