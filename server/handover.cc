#include "server/handover.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "concurrency/start_thread.h"
#include "net/unix_socket.h"
#include "server/server_thread.h"
#include "server/stderr_writer.h"

namespace brisk::internal {
namespace {

constexpr char kRequest[] = "BRISK-HANDOVER 1\n";
constexpr char kConfirm[] = "OK\n";

}  // namespace

absl::StatusOr<Takeover> Takeover::Request(const std::string& path, int cancel_fd) {
  absl::StatusOr<net::UniqueFd> conn = net::ConnectUnix(path, kHandoverExchangeTimeout);
  if (!conn.ok()) return conn.status();
  // Only from this user (or root), as the old process gives only to them:
  // another user who put a socket at the path first (a sticky /tmp) would
  // hand over sockets of its own and keep copies, taking a share of the
  // clients, where a plain bind fails ("address in use").
  if (!net::PeerIsOwnUserOrRoot(conn->get())) {
    return absl::PermissionDeniedError(absl::StrCat(
        "handover socket ", path, " is served by a process of another user: not taken over"));
  }
  absl::Status s = net::SendWithFds(conn->get(), kRequest, {});
  if (!s.ok()) return s;
  // The reply, or a reason to give up first (`cancel_fd`).
  const auto give_up_at = std::chrono::steady_clock::now() + kHandoverExchangeTimeout;
  for (;;) {
    pollfd fds[2] = {{conn->get(), POLLIN, 0}, {cancel_fd, POLLIN, 0}};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        give_up_at - std::chrono::steady_clock::now());
    const int n = poll(fds, cancel_fd >= 0 ? 2 : 1, std::max<int64_t>(left.count(), 0));
    if (n < 0 && errno == EINTR) continue;
    if (cancel_fd >= 0 && fds[1].revents != 0) {
      return absl::CancelledError(
          "stopped while waiting for the running server's listening sockets; nothing was taken "
          "over");
    }
    // The exchange timeout is spent here: ReceiveWithFds (whose own
    // timeout is as long) would wait it out a second time.
    if (n == 0) return absl::DeadlineExceededError("recvmsg: timed out");
    break;  // the reply, or an error: ReceiveWithFds says which
  }
  std::string reply;
  std::vector<net::UniqueFd> fds;
  s = net::ReceiveWithFds(conn->get(), &reply, &fds, kMaxHandoverListeners);
  if (!s.ok()) return s;
  size_t n = 0;
  if (std::sscanf(reply.c_str(), "LISTENERS %zu", &n) != 1 || n != fds.size() ||
      n == 0) {
    return absl::DataLossError(
        absl::StrCat("handover: unexpected reply from ", path, ": ", reply));
  }
  Takeover t;
  // The traits after the count: "key=value" words.
  std::string_view rest = std::string_view(reply).substr(0, reply.find('\n'));
  while (!rest.empty()) {
    const size_t space = rest.find(' ');
    const std::string_view word = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    const size_t eq = word.find('=');
    if (eq == std::string_view::npos) continue;  // "LISTENERS", the count
    t.traits_.emplace_back(word.substr(0, eq), word.substr(eq + 1));
  }
  t.conn_ = *std::move(conn);
  for (net::UniqueFd& fd : fds) {
    absl::StatusOr<net::Listener> l = net::Listener::Adopt(std::move(fd));
    if (!l.ok()) return l.status();
    t.listeners_.push_back(*std::move(l));
  }
  return t;
}

std::optional<std::string> Takeover::trait(std::string_view key) const {
  for (const auto& [k, v] : traits_) {
    if (k == key) return v;
  }
  return std::nullopt;
}

absl::Status Takeover::Confirm() {
  absl::Status s = net::SendWithFds(conn_.get(), kConfirm, {});
  conn_.reset();
  return s;
}

absl::StatusOr<std::unique_ptr<HandoverService>> HandoverService::Start(
    const std::string& path, const std::vector<int>& listener_fds,
    absl::AnyInvocable<void()> on_confirmed, std::chrono::milliseconds exchange_timeout,
    std::string traits) {
  absl::StatusOr<net::UniqueFd> listen = net::ListenUnix(path);
  if (!listen.ok()) return listen.status();
  net::UniqueFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return absl::InternalError("eventfd failed");
  std::vector<net::UniqueFd> fds;
  for (int fd : listener_fds) {
    net::UniqueFd copy(fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!copy) return absl::InternalError("dup of a listener failed");
    fds.push_back(std::move(copy));
  }
  std::unique_ptr<HandoverService> service(
      new HandoverService(path, *std::move(listen), std::move(wake), std::move(fds),
                          std::move(on_confirmed), exchange_timeout, std::move(traits)));
  HandoverService* const raw = service.get();
  absl::StatusOr<std::thread> t = internal::StartServerThread("the handover thread", [raw] {
    pthread_setname_np(pthread_self(), "brisk-handover");
    raw->Serve();
  });
  // The system has no thread to give: the socket file goes with `service`.
  if (!t.ok()) return t.status();
  service->thread_ = *std::move(t);
  return service;
}

HandoverService::HandoverService(std::string path, net::UniqueFd listen, net::UniqueFd wake,
                                 std::vector<net::UniqueFd> fds,
                                 absl::AnyInvocable<void()> on_confirmed,
                                 std::chrono::milliseconds exchange_timeout, std::string traits)
    : path_(std::move(path)),
      exchange_timeout_(exchange_timeout),
      traits_(std::move(traits)),
      listen_(std::move(listen)),
      wake_(std::move(wake)),
      fds_(std::move(fds)),
      on_confirmed_(std::move(on_confirmed)) {
  struct stat st;
  if (stat(path_.c_str(), &st) == 0) inode_ = st.st_ino;
}

HandoverService::~HandoverService() { Close(); }

void HandoverService::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    fds_.clear();
    // A process that asked and then stalls must not hold the caller (the
    // control thread, whose drain timers wait) for the exchange timeout.
    if (answering_ >= 0) shutdown(answering_, SHUT_RDWR);
  }
  if (thread_.joinable()) {
    const uint64_t one = 1;
    (void)!write(wake_.get(), &one, sizeof(one));
    thread_.join();
  }
  // Our socket file, unless a newer process has replaced it with its own.
  // After a handover the path is the new process's, which replaces the file
  // as it starts, maybe at this very moment: the check below and the
  // unlink are two steps, and between them its fresh file could go.
  struct stat st;
  if (!confirmed_ && inode_ != 0 && stat(path_.c_str(), &st) == 0 &&
      st.st_ino == inode_) {
    unlink(path_.c_str());
  }
  inode_ = 0;
  listen_.reset();
}

void HandoverService::Serve() {
  while (!confirmed_) {
    pollfd fds[2] = {{listen_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;  // Close()
    if (fds[0].revents == 0) continue;
    net::UniqueFd conn(accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) continue;
    // Only this user (or root) may take the listening sockets: the file is
    // owner-only too (ListenUnix), but a directory or umask chosen by
    // someone else does not decide who gets the port.
    if (!net::PeerIsOwnUserOrRoot(conn.get())) {
      SayOnStderr("handover socket %s: refused a process of another user", path_.c_str());
      continue;
    }
    if (!net::SetIoTimeout(conn.get(), exchange_timeout_).ok()) {
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (fds_.empty()) return;  // Close() came first
      answering_ = conn.get();
    }
    const bool confirmed = Answer(conn.get());
    {
      std::lock_guard<std::mutex> lock(mu_);
      answering_ = -1;
    }
    if (confirmed) {
      confirmed_ = true;
      on_confirmed_();
    }
  }
}

bool HandoverService::Answer(int conn) {
  std::string request;
  std::vector<net::UniqueFd> unexpected;
  if (!net::ReceiveWithFds(conn, &request, &unexpected, 0).ok() ||
      request != kRequest) {
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (fds_.empty()) return false;  // closed: shutting down already
    std::vector<int> raw;
    for (const net::UniqueFd& fd : fds_) raw.push_back(fd.get());
    if (absl::Status sent = net::SendWithFds(
            conn, absl::StrCat("LISTENERS ", raw.size(), traits_.empty() ? "" : " ", traits_, "\n"),
            raw);
        !sent.ok()) {
      SayOnStderr("handover socket %s: could not send the listening sockets: %s", path_.c_str(),
                  std::string(sent.message()).c_str());
      return false;
    }
  }
  // Until the new process says it accepts, this one goes on as before, and
  // waits for that as long as the new process holds the connection (its
  // end, exit included, says no; Close() ends the wait). With the exchange
  // timeout on this wait too, a new process slower than it to start (its
  // rings, its threads) found the old one gone on serving for good, both
  // accepting and neither saying so.
  if (!net::SetIoTimeout(conn, std::chrono::milliseconds(0)).ok()) return false;
  std::string reply;
  return net::ReceiveWithFds(conn, &reply, &unexpected, 0).ok() && reply == kConfirm;
}

}  // namespace brisk::internal
