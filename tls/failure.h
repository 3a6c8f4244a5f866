// TlsFailure: why a TLS connection failed, as one small enum the server can
// count (a metric label) and log (TlsFailureName gives a stable snake_case
// name, TlsFailureDescription a short sentence).
//
//   if (!session->OnReceived(in, &plain, &out).ok()) {
//     metrics.tls_failures(TlsFailureName(session->failure()))++;
//     log("tls: %s (%s)", TlsFailureDescription(session->failure()),
//         session->failure_detail());
//   }
//
// Thread-safety: plain functions over constants.
#ifndef BRISK_TLS_FAILURE_H_
#define BRISK_TLS_FAILURE_H_

#include <cstddef>
#include <string_view>

namespace brisk::tls {

enum class TlsFailure : int {
  kNone = 0,
  // The first bytes look like a plain-HTTP request ("GET / HTTP/1.1"): a
  // client spoke http:// to the TLS port. Nothing was sent back.
  kPlainHttp,
  // The first bytes are not a TLS handshake record (and not HTTP either).
  kNotTls,
  // The client closed the stream without sending a single byte (a TCP
  // health check or port scan, typically).
  kNoClientHello,
  // The client closed the stream in the middle of the handshake.
  kPeerClosedInHandshake,
  // The server gave up waiting (the caller's clock; OnHandshakeTimeout()).
  kHandshakeTimeout,
  // The client offers no protocol version we accept (below the minimum).
  kUnsupportedVersion,
  // No common cipher suite, group or signature algorithm.
  kNoSharedCipher,
  // The client's ALPN list has none of the server's protocols (by default
  // "http/1.1", "http/1.0"): no_application_protocol.
  kNoApplicationProtocol,
  // Malformed or unexpected TLS records or handshake messages, including
  // garbage after a valid record header and bad record MACs.
  kProtocolError,
  // The client aborted the handshake with an alert, e.g. it does not trust
  // the server's certificate (unknown_ca, bad_certificate, ...).
  kPeerAlert,
  // mTLS: a client certificate is required and none was sent.
  kCertRequired,
  // mTLS: the client certificate does not verify against the client CA
  // (unknown issuer, bad signature, wrong purpose, self-signed, ...).
  kCertUntrusted,
  // mTLS: the client certificate has expired or is not valid yet.
  kCertExpired,
  // After the handshake: more post-handshake messages (TLS 1.3 KeyUpdate)
  // than the connection's traffic justifies (TlsServerSession: a burst of
  // 32, then one per 128 bytes of application data). Each costs a key
  // derivation and an answer queued for a client that may never read it.
  kTooManyKeyUpdates,
  // After a TLS 1.2 handshake: the client sent a handshake record, i.e. it
  // tried to renegotiate, which brisk does not support. The connection is
  // closed before OpenSSL reads the record, as nginx and Apache close it.
  kClientRenegotiation,
  // The server closed the connection before the handshake ended: a drain
  // past its grace, or a stop (the caller's OnServerClose()).
  kServerClosed,
  // Anything else: out of memory, an OpenSSL error we do not classify, or a
  // call that the session's state does not allow.
  kInternal,
};

inline constexpr size_t kNumTlsFailures =
    static_cast<size_t>(TlsFailure::kInternal) + 1;

// Stable snake_case name for metrics labels and logs: "plain_http",
// "cert_expired", ... ("none" for kNone).
std::string_view TlsFailureName(TlsFailure failure);

// A short human sentence: "plain HTTP to the TLS port", ...
std::string_view TlsFailureDescription(TlsFailure failure);

}  // namespace brisk::tls

#endif  // BRISK_TLS_FAILURE_H_
