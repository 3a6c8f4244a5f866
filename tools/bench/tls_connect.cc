// tls_connect: a closed-loop HTTPS load generator that opens a new TLS
// connection for every request, with or without session resumption, for
// measuring what a server's handshakes cost. (wrk -H 'Connection: close'
// resumes the previous session on every reconnect, so it cannot measure
// full handshakes.)
//
//   tls_connect --port=18443 --connections=16 --seconds=5 --resume=false
//   -> requests 14873 rps 2974.6 p50_us 5123 p99_us 9876 resumed 0.000 errors 0
//
// Each of --connections slots, on one thread and one epoll: connect, TLS
// handshake (offering the slot's last session when --resume), send
// "GET --path" with Connection: close, read the answer (Content-Length
// framed), close_notify, close, and again, until --seconds have passed.
// Latency is from connect() to the answer's last byte. The server's
// certificate is not verified (as wrk), but the handshake is complete:
// TLS 1.3 by default (--tls12 for TLS 1.2), OpenSSL's default groups and
// suites. `resumed` is the share of handshakes the server resumed (what it
// said, via SSL_session_reused). Loopback benchmarks only; stops by itself.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "openssl/err.h"
#include "openssl/ssl.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "Server IPv4 address.");
ABSL_FLAG(int32_t, port, 8443, "Server port.");
ABSL_FLAG(std::string, path, "/hello", "Request target.");
ABSL_FLAG(int32_t, connections, 16, "Connections in flight at once.");
ABSL_FLAG(double, seconds, 5, "How long to run.");
ABSL_FLAG(bool, resume, false, "Offer each slot's previous session (tickets).");
ABSL_FLAG(bool, tls12, false, "TLS 1.2 only (default: TLS 1.3).");

namespace {

using Clock = std::chrono::steady_clock;

struct Slot {
  enum class State { kIdle, kConnecting, kHandshake, kReading };
  State state = State::kIdle;
  int fd = -1;
  SSL* ssl = nullptr;
  SSL_SESSION* session = nullptr;  // owned; offered on the next connect
  Clock::time_point started;
  std::string in;
};

struct Totals {
  uint64_t requests = 0;
  uint64_t handshakes = 0;
  uint64_t resumed = 0;
  uint64_t errors = 0;
  std::vector<uint32_t> latency_us;
};

class Runner {
 public:
  Runner(SSL_CTX* ctx, sockaddr_in addr, std::string request, bool resume)
      : ctx_(ctx), addr_(addr), request_(std::move(request)), resume_(resume) {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
  }

  void Run(int connections, double seconds) {
    slots_.resize(static_cast<size_t>(connections));
    for (size_t i = 0; i < slots_.size(); ++i) Start(i);
    const Clock::time_point end =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(seconds));
    std::vector<epoll_event> events(256);
    while (Clock::now() < end) {
      const int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), 100);
      for (int i = 0; i < n; ++i) Advance(events[static_cast<size_t>(i)].data.u64);
    }
    for (Slot& s : slots_) {
      Drop(s);
      SSL_SESSION_free(s.session);
    }
  }

  Totals& totals() { return totals_; }

 private:
  void Start(size_t i) {
    Slot& s = slots_[i];
    s.in.clear();
    s.started = Clock::now();
    s.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(s.fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof(addr_)) != 0 &&
        errno != EINPROGRESS) {
      Fail(i);
      return;
    }
    s.ssl = SSL_new(ctx_);
    SSL_set_fd(s.ssl, s.fd);
    SSL_set_connect_state(s.ssl);
    if (resume_ && s.session != nullptr) SSL_set_session(s.ssl, s.session);
    s.state = Slot::State::kConnecting;
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, s.fd, &ev);
  }

  void Want(Slot& s, size_t i, int ssl_error) {
    epoll_event ev{};
    ev.events = ssl_error == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(epfd_, EPOLL_CTL_MOD, s.fd, &ev);
  }

  void Advance(size_t i) {
    Slot& s = slots_[i];
    if (s.state == Slot::State::kConnecting) s.state = Slot::State::kHandshake;
    if (s.state == Slot::State::kHandshake) {
      ERR_clear_error();
      const int r = SSL_do_handshake(s.ssl);
      if (r != 1) {
        const int e = SSL_get_error(s.ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Want(s, i, e);
        return Fail(i);
      }
      ++totals_.handshakes;
      if (SSL_session_reused(s.ssl) == 1) ++totals_.resumed;
      size_t written = 0;
      if (SSL_write_ex(s.ssl, request_.data(), request_.size(), &written) != 1) {
        return Fail(i);
      }
      s.state = Slot::State::kReading;
      Want(s, i, SSL_ERROR_WANT_READ);
    }
    char buf[16384];
    for (;;) {
      ERR_clear_error();
      size_t n = 0;
      const int r = SSL_read_ex(s.ssl, buf, sizeof(buf), &n);
      if (r == 1) {
        s.in.append(buf, n);
        if (Complete(s.in)) return Finish(i);
        continue;
      }
      const int e = SSL_get_error(s.ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Want(s, i, e);
      return Fail(i);
    }
  }

  // A whole answer: head and Content-Length bytes of body.
  static bool Complete(const std::string& in) {
    const size_t head_end = in.find("\r\n\r\n");
    if (head_end == std::string::npos) return false;
    size_t length = 0;
    for (size_t pos = in.find("\r\n"); pos < head_end; pos = in.find("\r\n", pos + 2)) {
      if (strncasecmp(in.c_str() + pos + 2, "content-length:", 15) == 0) {
        length = std::strtoul(in.c_str() + pos + 17, nullptr, 10);
      }
    }
    return in.size() >= head_end + 4 + length;
  }

  void Finish(size_t i) {
    Slot& s = slots_[i];
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
        Clock::now() - s.started);
    totals_.latency_us.push_back(static_cast<uint32_t>(us.count()));
    if (s.in.compare(0, 12, "HTTP/1.1 200") == 0) {
      ++totals_.requests;
    } else {
      ++totals_.errors;
    }
    if (resume_) {
      SSL_SESSION_free(s.session);
      s.session = SSL_get1_session(s.ssl);
    }
    SSL_shutdown(s.ssl);  // close_notify: the session stays resumable
    Drop(s);
    Start(i);
  }

  void Fail(size_t i) {
    ++totals_.errors;
    Drop(slots_[i]);
    Start(i);
  }

  void Drop(Slot& s) {
    if (s.ssl != nullptr) SSL_free(s.ssl);
    s.ssl = nullptr;
    if (s.fd >= 0) close(s.fd);  // also leaves the epoll set
    s.fd = -1;
    s.state = Slot::State::kIdle;
  }

  SSL_CTX* const ctx_;
  const sockaddr_in addr_;
  const std::string request_;
  const bool resume_;
  int epfd_ = -1;
  std::vector<Slot> slots_;
  Totals totals_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("tls_connect: one TLS connection per request (see the source)");
  absl::ParseCommandLine(argc, argv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(absl::GetFlag(FLAGS_port)));
  if (inet_pton(AF_INET, absl::GetFlag(FLAGS_host).c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "--host must be an IPv4 address\n");
    return 2;
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  const int version = absl::GetFlag(FLAGS_tls12) ? TLS1_2_VERSION : TLS1_3_VERSION;
  SSL_CTX_set_min_proto_version(ctx, version);
  SSL_CTX_set_max_proto_version(ctx, version);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  const std::string request = "GET " + absl::GetFlag(FLAGS_path) +
                              " HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
  Runner runner(ctx, addr, request, absl::GetFlag(FLAGS_resume));
  const double seconds = absl::GetFlag(FLAGS_seconds);
  runner.Run(absl::GetFlag(FLAGS_connections), seconds);
  Totals& t = runner.totals();
  std::sort(t.latency_us.begin(), t.latency_us.end());
  auto pct = [&](double p) -> uint32_t {
    if (t.latency_us.empty()) return 0;
    return t.latency_us[std::min(t.latency_us.size() - 1,
                                 static_cast<size_t>(p * t.latency_us.size()))];
  };
  std::printf("requests %llu rps %.1f p50_us %u p99_us %u resumed %.3f errors %llu\n",
              static_cast<unsigned long long>(t.requests), t.requests / seconds, pct(0.50),
              pct(0.99),
              t.handshakes == 0 ? 0.0 : static_cast<double>(t.resumed) / t.handshakes,
              static_cast<unsigned long long>(t.errors));
  SSL_CTX_free(ctx);
  return 0;
}
