#include "server/testing/raw_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace brisk::testing {

RawClient::RawClient(uint16_t port, std::chrono::milliseconds guard) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  timeval tv{};
  tv.tv_sec = guard.count() / 1000;
  tv.tv_usec = (guard.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  fd_ = fd;
}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawClient::Send(std::string_view bytes) { return Transmit(bytes); }

bool RawClient::Transmit(std::string_view bytes) { return SendToSocket(bytes); }

ssize_t RawClient::Receive(char* buf, size_t size) {
  return ReceiveFromSocket(buf, size);
}

ssize_t RawClient::ReceiveFromSocket(char* buf, size_t size) {
  for (;;) {
    const ssize_t n = ::recv(fd_, buf, size, 0);
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

bool RawClient::SendToSocket(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void RawClient::ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

bool RawClient::Fill() {
  char tmp[65536];
  const ssize_t n = Receive(tmp, sizeof(tmp));
  if (n <= 0) return false;
  buf_.append(tmp, static_cast<size_t>(n));
  return true;
}

std::optional<RawResponse> RawClient::Read(bool head) {
  size_t end;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (!Fill()) return std::nullopt;
  }
  RawResponse r;
  r.head = buf_.substr(0, end);
  if (r.head.compare(0, 7, "HTTP/1.") != 0 || r.head.size() < 12) {
    return std::nullopt;
  }
  r.status = std::atoi(r.head.c_str() + 9);
  size_t pos = r.head.find("\r\n");
  while (pos != std::string::npos && pos < r.head.size()) {
    size_t next = r.head.find("\r\n", pos + 2);
    std::string line = r.head.substr(
        pos + 2, (next == std::string::npos ? r.head.size() : next) - pos - 2);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(c));
      size_t v = colon + 1;
      while (v < line.size() && line[v] == ' ') ++v;
      r.headers[name] = line.substr(v);
    }
    pos = next;
  }
  buf_.erase(0, end + 4);
  const bool no_body = head || r.status == 204 || r.status == 304 ||
                       (r.status >= 100 && r.status < 200);
  if (no_body) return r;
  if (r.Header("transfer-encoding") == "chunked") {
    for (;;) {
      size_t line_end;
      while ((line_end = buf_.find("\r\n")) == std::string::npos) {
        if (!Fill()) return std::nullopt;
      }
      const size_t size = std::strtoul(buf_.c_str(), nullptr, 16);
      while (buf_.size() < line_end + 2 + size + 2) {
        if (!Fill()) return std::nullopt;
      }
      r.body.append(buf_, line_end + 2, size);
      buf_.erase(0, line_end + 2 + size + 2);
      if (size == 0) return r;
    }
  }
  const size_t length = std::strtoul(r.Header("content-length").c_str(), nullptr, 10);
  while (buf_.size() < length) {
    if (!Fill()) return std::nullopt;
  }
  r.body = buf_.substr(0, length);
  buf_.erase(0, length);
  return r;
}

bool RawClient::WaitClosed() {
  char tmp[4096];
  for (;;) {
    const ssize_t n = Receive(tmp, sizeof(tmp));
    if (n == 0) return true;
    if (n < 0) {
      // EAGAIN: the guard timed out. ECONNRESET: closed with a reset;
      // EPROTO: a TLS client that got an alert (the server's refusal).
      return errno == ECONNRESET || errno == EPROTO;
    }
    buf_.append(tmp, static_cast<size_t>(n));
  }
}

std::string Get(std::string_view target, bool close) {
  std::string s = "GET ";
  s.append(target);
  s += " HTTP/1.1\r\nHost: test\r\n";
  if (close) s += "Connection: close\r\n";
  s += "\r\n";
  return s;
}

}  // namespace brisk::testing
