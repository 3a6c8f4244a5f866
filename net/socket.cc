#include "net/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace brisk::net {
namespace {

absl::Status ErrnoStatus(absl::string_view what, int err) {
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat(what, ": ", std::strerror(err)));
}

absl::Status SetIntOption(int fd, int level, int name, int value,
                          absl::string_view what) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) != 0) {
    return ErrnoStatus(what, errno);
  }
  return absl::OkStatus();
}

}  // namespace

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);  // Linux: the fd is gone even on EINTR.
  fd_ = fd;
}

absl::Status SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0) return ErrnoStatus("fcntl(F_GETFL)", errno);
  if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return ErrnoStatus("fcntl(F_SETFL)", errno);
  }
  return absl::OkStatus();
}

absl::Status SetNoDelay(int fd) {
  return SetIntOption(fd, IPPROTO_TCP, TCP_NODELAY, 1, "setsockopt(TCP_NODELAY)");
}

absl::Status EnableReceiveTimestamps(int fd) {
  return SetIntOption(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1, "setsockopt(SO_TIMESTAMPNS)");
}

SocketAddress::SocketAddress(const sockaddr* addr, socklen_t len) {
  if (len > sizeof(storage_)) len = sizeof(storage_);
  std::memcpy(&storage_, addr, len);
  len_ = len;
}

absl::StatusOr<SocketAddress> SocketAddress::Parse(std::string_view host,
                                                   uint16_t port) {
  if (host == "localhost") host = "127.0.0.1";
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string h(host);  // inet_pton needs a NUL-terminated string
  sockaddr_in v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    return SocketAddress(reinterpret_cast<sockaddr*>(&v4), sizeof(v4));
  }
  sockaddr_in6 v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    return SocketAddress(reinterpret_cast<sockaddr*>(&v6), sizeof(v6));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("not a numeric IPv4/IPv6 address: \"", h, "\""));
}

absl::StatusOr<SocketAddress> SocketAddress::LocalOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return ErrnoStatus("getsockname", errno);
  }
  return SocketAddress(reinterpret_cast<sockaddr*>(&ss), len);
}

absl::StatusOr<SocketAddress> SocketAddress::PeerOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return ErrnoStatus("getpeername", errno);
  }
  return SocketAddress(reinterpret_cast<sockaddr*>(&ss), len);
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  }
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return 0;
}

std::string SocketAddress::HostString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr,
              buf, sizeof(buf));
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6,
              &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
              sizeof(buf));
  } else {
    return "unknown";
  }
  return buf;
}

std::string SocketAddress::ToString() const {
  if (family() == AF_INET6) return absl::StrCat("[", HostString(), "]:", port());
  return absl::StrCat(HostString(), ":", port());
}

namespace {

// A TCP socket bound to `addr` as a listener binds: SO_REUSEADDR (a
// connection in TIME_WAIT is no owner), SO_REUSEPORT if asked, IPV6_V6ONLY
// as asked on an IPv6 address. `type_flags`: SOCK_NONBLOCK or 0.
absl::StatusOr<UniqueFd> BoundTcpSocket(const SocketAddress& addr, int type_flags,
                                        bool reuse_port, bool v6_only) {
  if (const auto* v6 = reinterpret_cast<const sockaddr_in6*>(addr.addr());
      addr.family() == AF_INET6 && v6_only && IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
    // bind(2) would say only EINVAL: an IPv6-only socket takes no IPv4.
    char v4[INET_ADDRSTRLEN] = "";
    inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], v4, sizeof(v4));
    return absl::InvalidArgumentError(absl::StrCat(
        "address ", addr.HostString(), " is an IPv4-mapped IPv6 address, which an IPv6-only "
        "listener cannot take: give it as IPv4 (", static_cast<const char*>(v4), ")"));
  }
  UniqueFd fd(socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC | type_flags,
                     IPPROTO_TCP));
  if (!fd) return ErrnoStatus("socket", errno);
  absl::Status s = SetIntOption(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1,
                                "setsockopt(SO_REUSEADDR)");
  if (s.ok() && reuse_port) {
    s = SetIntOption(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1,
                     "setsockopt(SO_REUSEPORT)");
  }
  if (s.ok() && addr.family() == AF_INET6) {
    s = SetIntOption(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, v6_only ? 1 : 0,
                     "setsockopt(IPV6_V6ONLY)");
  }
  if (!s.ok()) return s;
  if (bind(fd.get(), addr.addr(), addr.len()) != 0) {
    return ErrnoStatus(absl::StrCat("bind ", addr.ToString()), errno);
  }
  return fd;
}

}  // namespace

absl::StatusOr<Listener> Listener::Create(std::string_view address,
                                          uint16_t port,
                                          ListenerOptions options) {
  absl::StatusOr<SocketAddress> addr = SocketAddress::Parse(address, port);
  if (!addr.ok()) return addr.status();
  absl::StatusOr<UniqueFd> fd =
      BoundTcpSocket(*addr, SOCK_NONBLOCK, options.reuse_port, options.v6_only);
  if (!fd.ok()) return fd.status();
  // Inherited by every accepted connection (no setsockopt per accept).
  absl::Status s = SetIntOption(fd->get(), IPPROTO_TCP, TCP_NODELAY, 1,
                                "setsockopt(TCP_NODELAY)");
  if (s.ok() && options.defer_accept_seconds > 0) {
    s = SetIntOption(fd->get(), IPPROTO_TCP, TCP_DEFER_ACCEPT,
                     options.defer_accept_seconds, "setsockopt(TCP_DEFER_ACCEPT)");
  }
  if (!s.ok()) return s;
  if (listen(fd->get(), options.backlog) != 0) return ErrnoStatus("listen", errno);
  absl::StatusOr<SocketAddress> local = SocketAddress::LocalOf(fd->get());
  if (!local.ok()) return local.status();
  return Listener(*std::move(fd), *local);
}

absl::StatusOr<uint16_t> ProbeFreePort(std::string_view address, uint16_t port,
                                       bool v6_only) {
  absl::StatusOr<SocketAddress> addr = SocketAddress::Parse(address, port);
  if (!addr.ok()) return addr.status();
  absl::StatusOr<UniqueFd> fd =
      BoundTcpSocket(*addr, /*type_flags=*/0, /*reuse_port=*/false, v6_only);
  if (!fd.ok()) return fd.status();
  absl::StatusOr<SocketAddress> local = SocketAddress::LocalOf(fd->get());
  if (!local.ok()) return local.status();
  return local->port();
}

absl::StatusOr<Listener> Listener::Adopt(UniqueFd fd) {
  int listening = 0;
  socklen_t len = sizeof(listening);
  if (getsockopt(fd.get(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0) {
    return ErrnoStatus("getsockopt(SO_ACCEPTCONN)", errno);
  }
  if (!listening) return absl::InvalidArgumentError("not a listening socket");
  absl::StatusOr<SocketAddress> local = SocketAddress::LocalOf(fd.get());
  if (!local.ok()) return local.status();
  if (local->family() != AF_INET && local->family() != AF_INET6) {
    return absl::InvalidArgumentError("not a TCP listener");
  }
  absl::Status s = SetNonBlocking(fd.get());
  if (!s.ok()) return s;
  return Listener(std::move(fd), *local);
}

AcceptResult Listener::Accept() {
  AcceptResult r;
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  int fd = accept4(fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len,
                   SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0) {
    r.outcome = AcceptResult::kAccepted;
    r.fd.reset(fd);
    r.peer = SocketAddress(reinterpret_cast<sockaddr*>(&ss), len);
    // TCP_NODELAY comes from the listener: Linux copies it to every
    // connection accepted from it, so no setsockopt per connection.
    return r;
  }
  r.error = errno;
  r.outcome = ClassifyAcceptError(r.error);
  return r;
}

AcceptResult::Outcome ClassifyAcceptError(int error) {
  switch (error) {
    case EAGAIN:
      return AcceptResult::kWouldBlock;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
      return AcceptResult::kFdLimit;
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case EPERM:  // firewall rules
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
      // Errors of the pending connection, not of the listener (accept(2)).
      return AcceptResult::kRetry;
    default:
      return AcceptResult::kError;
  }
}

absl::StatusOr<UniqueFd> Connect(std::string_view host, uint16_t port,
                                 bool non_blocking) {
  absl::StatusOr<SocketAddress> addr = SocketAddress::Parse(host, port);
  if (!addr.ok()) return addr.status();
  UniqueFd fd(socket(addr->family(), SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP));
  if (!fd) return ErrnoStatus("socket", errno);
  if (connect(fd.get(), addr->addr(), addr->len()) != 0) return ErrnoStatus(absl::StrCat("connect ", addr->ToString()), errno);
  absl::Status s = SetNoDelay(fd.get());
  if (s.ok() && non_blocking) s = SetNonBlocking(fd.get());
  if (!s.ok()) return s;
  return fd;
}

}  // namespace brisk::net
