#include "server/testing/raw_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>

#include "http/ascii.h"
#include "http/response_parser.h"

namespace brisk::testing {

RawClient::RawClient(uint16_t port, std::chrono::milliseconds guard,
                     int receive_buffer) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (receive_buffer > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer,
                 sizeof(receive_buffer));
  }
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

void RawClient::Reset() {
  if (fd_ < 0) return;
  const linger abort{.l_onoff = 1, .l_linger = 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
  ::close(fd_);
  fd_ = -1;
}

RawClient::FillResult RawClient::Fill() {
  char tmp[65536];
  const ssize_t n = Receive(tmp, sizeof(tmp));
  if (n == 0) return FillResult::kEof;
  if (n < 0) return FillResult::kError;  // also the guard's timeout
  buf_.append(tmp, static_cast<size_t>(n));
  return FillResult::kData;
}

// Framing is brisk's own http::ResponseParser: Content-Length, chunked,
// HEAD, 1xx/204/304 without a body, and a body that ends at close.
std::optional<RawResponse> RawClient::Read(bool head) {
  http::ResponseParser parser({.max_line_bytes = 64 * 1024,
                               .keep_message = true,
                               .skip_interim = false});
  parser.BeginResponse(head);
  for (;;) {
    const http::ResponseParser::Result r = parser.Feed(buf_);
    if (r.state == http::ResponseParser::kError) return std::nullopt;
    buf_.erase(0, r.consumed);
    if (r.state == http::ResponseParser::kComplete) break;
    const FillResult fill = Fill();
    if (fill == FillResult::kEof && parser.FinishOnEof()) break;
    if (fill != FillResult::kData) return std::nullopt;
  }
  RawResponse response;
  response.status = parser.status_code();
  response.head = parser.head();
  for (const auto& [name, value] : parser.headers()) {
    std::string lower = name;
    for (char& c : lower) c = http::AsciiToLower(c);
    response.headers[lower] = value;  // a repeated field: the last one
  }
  response.body = parser.body();
  return response;
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
