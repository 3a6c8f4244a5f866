#include "server/tls_endpoint.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "http/json_string.h"
#include "http/response.h"
#include "http/response_writer.h"
#include "server/tls_stream.h"
#include "tls/failure.h"

namespace brisk::internal {

std::string AccessLogUser(const tls::PeerIdentity& identity) {
  std::string_view id = identity.subject;
  // A SAN stands in for an empty subject with its kind in front, so a
  // certificate whose only name is the DNS SAN "CN=alice" is not logged
  // as the subject CN=alice (an RFC 2253 subject has no ':' before its '=').
  std::string_view kind;
  for (const auto& [names, prefix] :
       {std::pair{&identity.uris, "uri:"}, std::pair{&identity.dns_names, "dns:"},
        std::pair{&identity.emails, "email:"}, std::pair{&identity.ip_addresses, "ip:"}}) {
    if (!id.empty()) break;
    if (!names->empty()) {
      id = names->front();
      kind = prefix;
    }
  }
  // Verified, but with neither a subject nor a name: its fingerprint, so
  // the line does not read as a client without a certificate ("-").
  if (id.empty()) return absl::StrCat("sha256:", identity.sha256_fingerprint);
  if (kind.empty() && id == "-") return "\\x2d";  // not "no certificate" either
  std::string out(kind);
  out.reserve(kind.size() + id.size());
  for (const char c : id) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      absl::StrAppendFormat(&out, "\\x%02x", u);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

namespace {

// Calls `f(failure, count)` for each reason a handshake can fail for, in
// order: not none, and not the two that only end an established connection
// (counted in errors_after_handshake).
template <typename F>
void ForEachHandshakeFailure(const tls::TlsStats& s, F f) {
  for (size_t i = 1; i < tls::kNumTlsFailures; ++i) {
    const auto failure = static_cast<tls::TlsFailure>(i);
    if (failure == tls::TlsFailure::kTooManyKeyUpdates ||
        failure == tls::TlsFailure::kClientRenegotiation) {
      continue;
    }
    f(failure, s.handshake_failures[i]);
  }
}

}  // namespace

void AppendTlsPrometheus(const tls::TlsStats& s, std::string* out) {
  absl::StrAppendFormat(
      out,
      "# HELP brisk_tls_handshakes_total Completed TLS handshakes, by kind.\n"
      "# TYPE brisk_tls_handshakes_total counter\n"
      "brisk_tls_handshakes_total{kind=\"full\"} %d\n"
      "brisk_tls_handshakes_total{kind=\"resumed\"} %d\n"
      "# HELP brisk_tls_resumption_ratio Resumed share of the completed "
      "handshakes since start.\n"
      "# TYPE brisk_tls_resumption_ratio gauge\n"
      "brisk_tls_resumption_ratio %.6g\n"
      "# HELP brisk_tls_handshake_failures_total Failed TLS handshakes, by "
      "reason.\n"
      "# TYPE brisk_tls_handshake_failures_total counter\n",
      s.full_handshakes, s.resumed_handshakes, s.resumption_rate());
  ForEachHandshakeFailure(s, [out](tls::TlsFailure f, uint64_t n) {
    absl::StrAppendFormat(out, "brisk_tls_handshake_failures_total{reason=\"%s\"} %d\n",
                          std::string(tls::TlsFailureName(f)), n);
  });
  absl::StrAppendFormat(
      out,
      "# HELP brisk_tls_errors_after_handshake_total Established TLS "
      "connections ended by a bad record, a KeyUpdate flood or a renegotiation "
      "attempt.\n"
      "# TYPE brisk_tls_errors_after_handshake_total counter\n"
      "brisk_tls_errors_after_handshake_total %d\n"
      "# HELP brisk_tls_reloads_total Certificate reloads, by result.\n"
      "# TYPE brisk_tls_reloads_total counter\n"
      "brisk_tls_reloads_total{result=\"ok\"} %d\n"
      "brisk_tls_reloads_total{result=\"error\"} %d\n"
      "# HELP brisk_tls_ticket_key_rotations_total Session ticket key "
      "rotations.\n"
      "# TYPE brisk_tls_ticket_key_rotations_total counter\n"
      "brisk_tls_ticket_key_rotations_total %d\n",
      s.errors_after_handshake, s.reloads, s.reload_failures,
      s.ticket_key_rotations);
}

void AppendTlsJson(const tls::TlsStats& s, std::string_view certificate, std::string* out) {
  uint64_t failures = 0;
  std::string by_reason = "{";
  ForEachHandshakeFailure(s, [&](tls::TlsFailure f, uint64_t n) {
    failures += n;
    if (by_reason.size() > 1) by_reason += ",";
    http::AppendJsonString(tls::TlsFailureName(f), &by_reason);
    absl::StrAppend(&by_reason, ":", n);
  });
  by_reason += "}";
  absl::StrAppend(out, "{\"full\":", s.full_handshakes, ",\"resumed\":", s.resumed_handshakes,
                  ",\"failures\":", failures, ",\"failures_by_reason\":", by_reason,
                  ",\"errors_after_handshake\":", s.errors_after_handshake,
                  ",\"reloads\":", s.reloads, ",\"reload_failures\":", s.reload_failures,
                  ",\"certificate\":");
  http::AppendJsonString(certificate, out);
  *out += "}";
}

absl::StatusOr<std::unique_ptr<TlsEndpoint>> TlsEndpoint::Create(
    const TlsOptions& options, LogSink log, const net::Clock* clock) {
  absl::StatusOr<std::unique_ptr<tls::TlsContext>> context =
      tls::TlsContext::Create(options);
  if (!context.ok()) return context.status();
  return std::unique_ptr<TlsEndpoint>(
      new TlsEndpoint(*std::move(context), options, std::move(log),
                      clock != nullptr ? clock : net::SystemClock::Get()));
}

TlsEndpoint::TlsEndpoint(std::unique_ptr<tls::TlsContext> context,
                         const TlsOptions& options, LogSink log,
                         const net::Clock* clock)
    : context_(std::move(context)),
      handshake_timeout_(options.handshake_timeout),
      answer_plain_http_(options.answer_plain_http),
      clock_(clock),
      log_(std::move(log)) {}

std::unique_ptr<net::Stream> TlsEndpoint::CreateStream(
    net::EventLoop* loop, TransportMaker make_transport,
    net::StreamCallbacks* callbacks, ConnectionInfo* info,
    absl::AnyInvocable<void()> on_established,
    absl::AnyInvocable<void(std::string_view, size_t)> on_plain_http_answered) {
  absl::StatusOr<std::unique_ptr<tls::TlsServerSession>> session =
      context_->NewSession();
  if (!session.ok()) {
    std::lock_guard<std::mutex> lock(log_mu_);
    if (log_) {
      log_(absl::StrCat("tls: connection from ", info->peer.ToString(),
                        " dropped: ", session.status().message()));
    }
    return nullptr;
  }
  info->secure = true;
  TlsStreamHooks hooks;
  hooks.on_established = [info, done = std::move(on_established)](
                             const tls::TlsServerSession& s) mutable {
    if (!s.peer().empty()) {
      info->client = std::make_unique<ConnectionInfo::VerifiedClient>(
          ConnectionInfo::VerifiedClient{s.peer(), AccessLogUser(s.peer())});
    }
    if (done) done();
  };
  hooks.on_plain_http_answered = std::move(on_plain_http_answered);
  hooks.on_failure = [this, info, loop](const tls::TlsServerSession& s, bool established) {
    LogFailure(*info, s, established, loop);
  };
  return TlsStream::Create(
      loop, *std::move(session), callbacks,
      TlsStreamOptions{.handshake_timeout = handshake_timeout_,
                       .answer_plain_http = answer_plain_http_},
      std::move(hooks), make_transport);
}

void TlsEndpoint::LogFailure(const ConnectionInfo& info, const tls::TlsServerSession& session,
                             bool established, net::EventLoop* loop) {
  // A TCP connect and close with no byte (load balancer health checks,
  // port scans) is counted, not logged.
  if (session.failure() == tls::TlsFailure::kNoClientHello) return;
  // Nor one the drain or a stop closed before it sent a byte.
  if (session.failure() == tls::TlsFailure::kServerClosed && session.bytes_received() == 0) return;
  const net::TimePoint now = clock_->Now();
  std::lock_guard<std::mutex> lock(log_mu_);
  if (!log_) return;
  if (now - log_window_ >= std::chrono::seconds(1)) {
    log_window_ = now;
    log_lines_ = 0;
  }
  if (log_lines_ >= kMaxLogLinesPerSecond) {
    ++log_suppressed_;
    if (!flush_scheduled_ && loop != nullptr) {
      // The endpoint outlives the reactors' loops (HttpServer::Impl).
      flush_scheduled_ = true;
      loop->RunAfter(std::chrono::seconds(1), [this] { FlushSuppressedLog(); });
    }
    return;
  }
  ++log_lines_;
  std::string line = absl::StrCat(
      "tls: ", info.peer.ToString(),
      established ? ": connection failed: " : ": handshake failed: ",
      std::string(tls::TlsFailureDescription(session.failure())), " [",
      std::string(tls::TlsFailureName(session.failure())), "]");
  if (!session.failure_detail().empty()) {
    absl::StrAppend(&line, ": ", session.failure_detail());
  }
  if (log_suppressed_ > 0) {
    absl::StrAppend(&line, " (", log_suppressed_,
                    " similar lines suppressed before this one)");
    log_suppressed_ = 0;
  }
  log_(line);
}

void TlsEndpoint::FlushSuppressedLog() {
  std::lock_guard<std::mutex> lock(log_mu_);
  flush_scheduled_ = false;
  if (log_suppressed_ == 0 || !log_) return;  // a later line said it already
  log_(absl::StrCat("tls: ", log_suppressed_, " similar lines suppressed (at most ",
                    kMaxLogLinesPerSecond,
                    " a second; brisk_tls_handshake_failures_total counts every failure)"));
  log_suppressed_ = 0;
}

absl::Status TlsEndpoint::Reload() { return context_->Reload(); }

}  // namespace brisk::internal
