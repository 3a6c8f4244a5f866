// Unix-domain stream sockets and descriptor passing (SCM_RIGHTS): how one
// process hands its listening sockets to another on the same host (a binary
// upgrade with no refused connection, as HAProxy's -x and Envoy's hot
// restart do). Blocking calls with a timeout, for short control exchanges;
// not for the data path.
//
//   // The running process:
//   absl::StatusOr<UniqueFd> l = ListenUnix("/run/brisk.sock");
//   UniqueFd c(accept(l->get(), nullptr, nullptr));
//   SendWithFds(c.get(), "LISTENERS 2\n", {fd1, fd2});
//   // The new one:
//   absl::StatusOr<UniqueFd> c = ConnectUnix("/run/brisk.sock");
//   std::string text; std::vector<UniqueFd> fds;
//   ReceiveWithFds(c->get(), &text, &fds, /*max_fds=*/64);
//
// Thread-safety: plain functions on descriptors the caller owns.
#ifndef BRISK_NET_UNIX_SOCKET_H_
#define BRISK_NET_UNIX_SOCKET_H_

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "net/socket.h"

namespace brisk::net {

// A listening Unix stream socket at `path` (a stale socket file there is
// removed first; anything else there is an error). Blocking, close-on-exec.
// The file is owner-only (0600) whatever the umask.
absl::StatusOr<UniqueFd> ListenUnix(const std::string& path);
// Connects to `path`. NotFound if nothing listens there (no file, or a
// stale one); the socket gets `timeout` for every later send and receive.
absl::StatusOr<UniqueFd> ConnectUnix(const std::string& path,
                                     std::chrono::milliseconds timeout);
// Whether the process at the other end of a connected Unix socket runs as
// this process's effective user, or as root (SO_PEERCRED at connect time).
bool PeerIsOwnUserOrRoot(int sock);
// Sets the send and receive timeout of a (blocking) socket.
absl::Status SetIoTimeout(int fd, std::chrono::milliseconds timeout);

// Sends `payload` (at most 4 KiB) with `fds` attached, in one message.
absl::Status SendWithFds(int sock, std::string_view payload,
                         const std::vector<int>& fds);
// Receives one message: its payload and up to `max_fds` descriptors
// (close-on-exec). DeadlineExceeded on a timeout, Unavailable on EOF.
absl::Status ReceiveWithFds(int sock, std::string* payload,
                            std::vector<UniqueFd>* fds, size_t max_fds);

}  // namespace brisk::net

#endif  // BRISK_NET_UNIX_SOCKET_H_
