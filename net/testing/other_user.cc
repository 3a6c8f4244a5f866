#include "net/testing/other_user.h"

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
  const pid_t child = fork();
  if (child < 0) return child;
  if (child == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(kCannotBecomeNobody);
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(fd, 1) != 0) {
      _exit(kCannotConnect);
    }
    const int conn = accept(fd, nullptr, nullptr);
    if (conn < 0) _exit(kCannotConnect);
    _exit(then(conn));
  }
  for (int i = 0; i < 1000 && access(path.c_str(), F_OK) != 0; ++i) usleep(10'000);
  return child;
}

}  // namespace brisk::net
