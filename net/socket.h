// Sockets: an RAII file descriptor, socket options, socket addresses, a TCP
// Listener (IPv4/IPv6, optional SO_REUSEPORT) and a client Connect helper.
//
//   absl::StatusOr<Listener> listener =
//       Listener::Create("127.0.0.1", 0, {.backlog = 1024, .reuse_port = true});
//   uint16_t port = listener->port();  // the real port, even when 0 was asked
//   for (;;) {
//     AcceptResult r = listener->Accept();
//     if (r.outcome != AcceptResult::kAccepted) break;  // kWouldBlock, ...
//     Serve(std::move(r.fd), r.peer);  // non-blocking, TCP_NODELAY set
//   }
//
// Ownership: UniqueFd owns one descriptor and closes it on destruction;
// Listener owns its listening socket. Thread-safety: none of these types is
// synchronised; use one object from one thread at a time. Nothing here blocks
// except Connect() (see its comment).
#ifndef BRISK_NET_SOCKET_H_
#define BRISK_NET_SOCKET_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace brisk::net {

// Owns a file descriptor (-1 = none). Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  // Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }
  // Closes the current descriptor (if any) and owns `fd`.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

absl::Status SetNonBlocking(int fd);
absl::Status SetNoDelay(int fd);  // TCP_NODELAY
// SO_TIMESTAMPNS: the kernel stamps received data with its arrival time
// (StreamOptions::receive_timestamps reads it). Set on a listener, every
// connection it accepts inherits it, at no cost per connection.
absl::Status EnableReceiveTimestamps(int fd);

// An IPv4 or IPv6 socket address. Copyable value; other families are
// truncated (family() tells).
class SocketAddress {
 public:
  SocketAddress() = default;
  SocketAddress(const sockaddr* addr, socklen_t len);

  // Parses a numeric host ("127.0.0.1", "::1", "[::1]", "0.0.0.0", "::") or
  // "localhost" (= 127.0.0.1); no DNS. InvalidArgument otherwise.
  static absl::StatusOr<SocketAddress> Parse(std::string_view host,
                                             uint16_t port);
  // The local (getsockname) / remote (getpeername) address of a socket.
  static absl::StatusOr<SocketAddress> LocalOf(int fd);
  static absl::StatusOr<SocketAddress> PeerOf(int fd);

  int family() const { return storage_.any.sa_family; }  // AF_INET/AF_INET6/0
  uint16_t port() const;
  // "1.2.3.4:80" or "[::1]:80" (host only: HostString()).
  std::string ToString() const;
  std::string HostString() const;

  const sockaddr* addr() const {
    return reinterpret_cast<const sockaddr*>(&storage_);
  }
  socklen_t len() const { return len_; }

 private:
  // IPv4 or IPv6 only: 28 bytes rather than sockaddr_storage's 128 (a copy
  // is kept per connection).
  union Storage {
    sockaddr any;
    sockaddr_in v4;
    sockaddr_in6 v6;
  };
  Storage storage_{};
  socklen_t len_ = 0;
};

struct ListenerOptions {
  int backlog = 1024;
  // SO_REUSEPORT: several listeners (loops or processes) share one port and
  // the kernel spreads connections between them. Opt-in.
  bool reuse_port = false;
  // IPV6_V6ONLY for IPv6 addresses (false: "::" also accepts IPv4).
  bool v6_only = true;
  // TCP_DEFER_ACCEPT, in seconds (0 = off): a connection is handed to
  // accept() only once its first data arrived (or after about this long
  // anyway), so the server is woken once per connection instead of twice
  // and its first read finds the request. h2o sets 1 by default.
  int defer_accept_seconds = 0;
};

// The outcome of one accept4() call.
struct AcceptResult {
  enum Outcome {
    kAccepted,    // fd (non-blocking, close-on-exec, TCP_NODELAY) and peer set.
    kWouldBlock,  // EAGAIN: no more pending connections.
    kFdLimit,     // EMFILE/ENFILE/ENOBUFS/ENOMEM: out of resources; back off.
    kRetry,       // ECONNABORTED/EINTR/EPROTO...: try again at once.
    kError,       // Anything else (errno in `error`).
  };
  Outcome outcome = kError;
  UniqueFd fd;
  SocketAddress peer;
  int error = 0;  // errno for everything but kAccepted
};

// What an accept(2) errno means for the caller (kWouldBlock for EAGAIN).
AcceptResult::Outcome ClassifyAcceptError(int error);

// Whether `address`:`port` is free for a new group of SO_REUSEPORT
// listeners, which would otherwise join any other socket of the same user
// that listens there with SO_REUSEPORT (another process then silently gets
// a share of the connections). Binds a socket without SO_REUSEPORT there,
// without listening (no connection can land on it), and closes it. Returns
// the port (the kernel's choice when `port` is 0: bind the group to it at
// once), or bind's error (EADDRINUSE when a socket listens there).
absl::StatusOr<uint16_t> ProbeFreePort(std::string_view address, uint16_t port,
                                       bool v6_only = true);

// A listening TCP socket (SO_REUSEADDR, TCP_NODELAY, non-blocking,
// close-on-exec). Accepted connections inherit TCP_NODELAY. Move-only.
class Listener {
 public:
  static absl::StatusOr<Listener> Create(std::string_view address,
                                         uint16_t port,
                                         ListenerOptions options = {});
  // Takes an already listening TCP socket (e.g. one passed by another
  // process, see unix_socket.h), made non-blocking. InvalidArgument if `fd`
  // is not a listening TCP socket.
  static absl::StatusOr<Listener> Adopt(UniqueFd fd);

  int fd() const { return fd_.get(); }
  // The bound port (the kernel's choice when 0 was asked).
  uint16_t port() const { return local_.port(); }
  const SocketAddress& local_address() const { return local_; }

  // One non-blocking accept4(). Call until kWouldBlock.
  AcceptResult Accept();

 private:
  Listener(UniqueFd fd, SocketAddress local)
      : fd_(std::move(fd)), local_(local) {}
  UniqueFd fd_;
  SocketAddress local_;
};

// Blocking TCP connect to a numeric address (for clients, tools and tests);
// the returned socket is then switched to non-blocking if `non_blocking`.
// TCP_NODELAY is set.
absl::StatusOr<UniqueFd> Connect(std::string_view host, uint16_t port,
                                 bool non_blocking = true);

}  // namespace brisk::net

#endif  // BRISK_NET_SOCKET_H_
