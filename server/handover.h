// Internal: a binary upgrade with no refused connection. A new server
// process takes over the listening sockets of the running one, passed over
// a Unix socket with SCM_RIGHTS (as HAProxy's -x and Envoy's hot restart
// do); the old process then stops accepting and drains. Both share the same
// listening sockets for a moment, so connections queued in the kernel are
// accepted by the new process instead of being reset (SO_REUSEPORT alone,
// with a new socket, loses those queued on the old one).
//
// Protocol on the Unix socket (text lines; one exchange per connection):
//   new -> old   "BRISK-HANDOVER 1\n"
//   old -> new   "LISTENERS <n> scheme=<http|https> proxy_protocol=<on|off>\n"
//                with n listening sockets attached
//   new -> old   "OK\n" once it accepts on them; the old one then drains.
// If the new process fails before "OK", the old one never stopped
// accepting and goes on as if nothing happened. The key=value traits say
// what the port speaks: a new process whose own differ refuses the
// takeover (clients of an HTTPS port would meet cleartext). Older brisk
// sends no traits (nothing is then checked) and reads only the count.
//
// Thread-safety: Takeover is used by one thread; HandoverService runs its
// own thread and calls back on it.
#ifndef BRISK_SERVER_HANDOVER_H_
#define BRISK_SERVER_HANDOVER_H_

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "net/socket.h"

namespace brisk::internal {

// The most listening sockets a handover passes: one message carries them
// all, and Linux takes at most 253 descriptors in one (SCM_MAX_FD).
inline constexpr int kMaxHandoverListeners = 253;
// How long a handover waits for the other process's question, reply and
// each send (HandoverService: not for the confirmation).
inline constexpr std::chrono::milliseconds kHandoverExchangeTimeout = std::chrono::seconds(10);

// The new process's side.
class Takeover {
 public:
  // Asks the process serving `path` for its listening sockets. NotFound if
  // no process answers there (then bind as usual). Cancelled if `cancel_fd`
  // (say a signalfd of the stop signals; -1: none) becomes readable before
  // the reply: a process stopped while the old one is slow to answer
  // takes nothing over.
  static absl::StatusOr<Takeover> Request(const std::string& path, int cancel_fd = -1);
  std::vector<net::Listener>& listeners() { return listeners_; }
  // The old process's value of a trait ("scheme", "proxy_protocol");
  // nullopt if it sent none (an older brisk).
  std::optional<std::string> trait(std::string_view key) const;
  // Tells the old process that this one accepts now.
  absl::Status Confirm();

 private:
  net::UniqueFd conn_;
  std::vector<net::Listener> listeners_;
  std::vector<std::pair<std::string, std::string>> traits_;
};

// The running process's side: answers takeover requests on `path`.
class HandoverService {
 public:
  // Serves `listener_fds` (duplicated: this service holds its own copies
  // until Close()). `on_confirmed` runs once, on the service's thread, when
  // a new process confirmed it accepts on them.
  // `exchange_timeout` bounds the new process's question and each send
  // (not its confirmation, which may come after a slow start: this one
  // waits for it, or for the connection to end, serving meanwhile).
  // `traits`: what the port speaks, "key=value" separated by spaces
  // ("scheme=https proxy_protocol=off"), sent with the sockets.
  static absl::StatusOr<std::unique_ptr<HandoverService>> Start(
      const std::string& path, const std::vector<int>& listener_fds,
      absl::AnyInvocable<void()> on_confirmed,
      std::chrono::milliseconds exchange_timeout = kHandoverExchangeTimeout,
      std::string traits = "");
  ~HandoverService();  // Close()
  // Stops serving and releases the copies (the listening sockets then
  // close with the reactors' own). Removes `path` unless another process
  // has put its own socket there since. Idempotent; any thread.
  void Close();

 private:
  HandoverService(std::string path, net::UniqueFd listen, net::UniqueFd wake,
                  std::vector<net::UniqueFd> fds, absl::AnyInvocable<void()> on_confirmed,
                  std::chrono::milliseconds exchange_timeout, std::string traits);
  void Serve();
  // One request on `conn`; true if the new process confirmed.
  bool Answer(int conn);

  const std::string path_;
  const std::chrono::milliseconds exchange_timeout_;
  const std::string traits_;
  net::UniqueFd listen_;
  net::UniqueFd wake_;  // eventfd: Close() wakes Serve()
  std::mutex mu_;
  std::vector<net::UniqueFd> fds_;  // guarded by mu_
  int answering_ = -1;              // guarded by mu_: the exchange under way
  absl::AnyInvocable<void()> on_confirmed_;
  bool confirmed_ = false;
  ino_t inode_ = 0;  // of the socket file at `path_`, when we made it
  std::thread thread_;
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_HANDOVER_H_
