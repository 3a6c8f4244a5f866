#include "net/testing/other_user.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace brisk::net {

pid_t ConnectAsNobody(const std::string& path, int (*then)(int fd)) {
  sockaddr_un addr{};  // made before the fork: the child only calls the kernel
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(),
              path.size() < sizeof(addr.sun_path) ? path.size() : sizeof(addr.sun_path) - 1);
  const pid_t child = fork();
  if (child != 0) return child;
  if (setgid(65534) != 0 || setuid(65534) != 0) _exit(kCannotBecomeNobody);
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    _exit(kCannotConnect);
  }
  _exit(then(fd));
}

pid_t ServeAsNobody(const std::string& path, int (*then)(int fd)) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(),
              path.size() < sizeof(addr.sun_path) ? path.size() : sizeof(addr.sun_path) - 1);
  // The child says on this pipe when it listens: the socket file appears
  // at bind(), before listen(), and a connect in between is refused (the
  // parent's caller then waited forever for a child still in accept()).
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return -1;
  const pid_t child = fork();
  if (child < 0) {
    close(ready[0]);
    close(ready[1]);
    return child;
  }
  if (child == 0) {
    close(ready[0]);
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(kCannotBecomeNobody);
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(fd, 1) != 0) {
      _exit(kCannotConnect);
    }
    const char one = 1;
    if (write(ready[1], &one, 1) != 1) _exit(kCannotConnect);
    close(ready[1]);
    const int conn = accept(fd, nullptr, nullptr);
    if (conn < 0) _exit(kCannotConnect);
    _exit(then(conn));
  }
  close(ready[1]);
  // Until it listens, or exits (EOF: it could not), at most 10 s.
  pollfd p{ready[0], POLLIN, 0};
  char byte;
  if (poll(&p, 1, 10'000) == 1) (void)!read(ready[0], &byte, 1);
  close(ready[0]);
  return child;
}

}  // namespace brisk::net
