// Internal: the server's TLS side. It owns the TlsContext (the certificate
// files, their reload, the handshake counters), wraps each accepted
// connection's stream in a TlsStream, records the verified client identity
// in the connection's ConnectionInfo, writes one log line per failed
// handshake (rate-limited) and exports the brisk_tls_* metrics.
//
//   auto endpoint = TlsEndpoint::Create(options.tls, LogToStderr);  // Start()
//   // per accepted connection, on its reactor:
//   std::unique_ptr<net::Stream> s =
//       endpoint->CreateStream(loop, [&](net::StreamCallbacks* cb) {
//         return loop->CreateStream(std::move(fd), cb, {});
//       }, connection, info);
//   endpoint->Reload();                  // SIGHUP or HttpServer::ReloadTls()
//   endpoint->AppendPrometheus(&page);   // GET /metrics
//
// Thread-safety: CreateStream() from any reactor thread, concurrently;
// Reload(), stats(), certificate_summary() and AppendPrometheus() from any
// thread. The log sink is called under the endpoint's lock, one line at a
// time, from reactor threads.
#ifndef BRISK_SERVER_TLS_ENDPOINT_H_
#define BRISK_SERVER_TLS_ENDPOINT_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "net/clock.h"
#include "net/event_loop.h"
#include "net/socket.h"
#include "net/stream.h"
#include "server/exchange.h"
#include "server/tls_options.h"
#include "tls/context.h"
#include "tls/counters.h"
#include "tls/peer_identity.h"
#include "tls/server_session.h"

namespace brisk::internal {

// The access log's user field for a verified client: its subject, or when
// the subject is empty a subjectAltName prefixed with its kind, the first
// in this order: "uri:", "dns:", "email:", "ip:"; with spaces, quotes, backslashes, control
// and non-ASCII bytes as \xHH (a lone "-" too: that means no certificate).
// With neither a subject nor a name: "sha256:" and its fingerprint.
std::string AccessLogUser(const tls::PeerIdentity& identity);

// The brisk_tls_* metrics of `stats`, Prometheus text.
void AppendTlsPrometheus(const tls::TlsStats& stats, std::string* out);

// The same counters as one JSON object, for the status page: {"full":N,
// "resumed":N,"failures":N (every reason),"failures_by_reason":{...},
// "reloads":N,"reload_failures":N,"certificate":"<summary>"}.
void AppendTlsJson(const tls::TlsStats& stats, std::string_view certificate, std::string* out);

class TlsEndpoint {
 public:
  using LogSink = absl::AnyInvocable<void(std::string_view line)>;
  // At most this many failure lines per second; the rest are counted and
  // the count is logged with the next line that gets through, or a second
  // after the first of them on a line of its own (a burst followed by
  // silence still says how many it hid).
  static constexpr int kMaxLogLinesPerSecond = 10;

  // Loads and checks the files (the error names the file and the cause).
  // `clock` (null: the system's) paces the failure log.
  static absl::StatusOr<std::unique_ptr<TlsEndpoint>> Create(
      const TlsOptions& options, LogSink log, const net::Clock* clock = nullptr);

  // A TlsStream on `loop` over the transport `make_transport` makes with
  // the callbacks it is given (the loop's stream for the socket, or one
  // that first takes a PROXY protocol header off it), delivering plaintext
  // to `callbacks`. `info` (of the connection; must outlive the stream) is
  // marked secure now and gets the verified client certificate when the
  // handshake completes; then `on_established` (may be empty) runs, before
  // any plaintext reaches `callbacks`; `on_plain_http_answered` (may be
  // empty) when plain HTTP came and got its 400 (TlsStreamHooks). Null when OpenSSL cannot make a
  // session (out of memory): the caller closes the connection.
  using TransportMaker =
      absl::FunctionRef<std::unique_ptr<net::Stream>(net::StreamCallbacks*)>;
  std::unique_ptr<net::Stream> CreateStream(
      net::EventLoop* loop, TransportMaker make_transport,
      net::StreamCallbacks* callbacks, ConnectionInfo* info,
      absl::AnyInvocable<void()> on_established = nullptr,
      absl::AnyInvocable<void(std::string_view request_line, size_t body_bytes)>
          on_plain_http_answered = nullptr);

  // Re-reads the files: OK, new handshakes use them; an error keeps the
  // files in use and says why. Established connections are untouched.
  absl::Status Reload();

  tls::TlsStats stats() const { return context_->stats(); }
  std::string certificate_summary() const {
    return context_->certificate_summary();
  }
  void AppendPrometheus(std::string* out) const {
    AppendTlsPrometheus(stats(), out);
  }
  void AppendJson(std::string* out) const { AppendTlsJson(stats(), certificate_summary(), out); }

  // Says how many failure lines were suppressed since the last line, if
  // any (also done a second after the first of them, on its reactor's
  // loop; the server calls this once its loops have stopped).
  void FlushSuppressedLog();

 private:
  TlsEndpoint(std::unique_ptr<tls::TlsContext> context,
              const TlsOptions& options, LogSink log, const net::Clock* clock);
  // `loop`: where a line saying how many were suppressed is scheduled.
  void LogFailure(const ConnectionInfo& info, const tls::TlsServerSession& session,
                  bool established, net::EventLoop* loop);

  const std::unique_ptr<tls::TlsContext> context_;
  const std::chrono::nanoseconds handshake_timeout_;
  const bool answer_plain_http_;
  const net::Clock* const clock_;

  std::mutex log_mu_;
  LogSink log_;                 // guarded by log_mu_
  net::TimePoint log_window_{};  // guarded by log_mu_
  int log_lines_ = 0;            // in the current window; guarded by log_mu_
  uint64_t log_suppressed_ = 0;  // guarded by log_mu_
  bool flush_scheduled_ = false;  // guarded by log_mu_
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_TLS_ENDPOINT_H_
