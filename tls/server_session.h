// TlsServerSession: the TLS engine of one server connection, bytes in and
// bytes out, with no socket, event loop or clock: ciphertext from the client
// goes in, plaintext for the HTTP layer and ciphertext for the client come
// out. Made by TlsContext::NewSession().
//
//   std::string plain, to_client;
//   absl::Status s = session->OnReceived(bytes_from_socket, &plain, &to_client);
//   send(to_client);                       // handshake records, alerts, tickets
//   if (!s.ok()) { count(session->failure()); close(); return; }
//   if (session->handshake_done() && !plain.empty()) http.Feed(plain);
//   ...
//   session->Encrypt(http_response_bytes, &to_client);  // after the handshake
//   session->Shutdown(&to_client);                      // close_notify
//
// Contract:
// - OnReceived takes any split of the client's byte stream (one byte at a
//   time works) and consumes all of it. It appends to *plaintext and
//   *to_peer and never clears them. Whatever it appends to *to_peer must be
//   sent, also when it returns an error (then it is an alert: send it, then
//   close). Application data that arrives in the same read as the client's
//   last handshake message is decrypted in the same call.
// - Before the first handshake byte is parsed, the first bytes are sniffed:
//   a stream that does not open with a TLS handshake record fails at once
//   with kPlainHttp (it looks like "GET / HTTP/1.1") or kNotTls, and nothing
//   is appended to *to_peer (a server may answer kPlainHttp with a plain
//   HTTP 400 itself).
// - Encrypt is allowed only once handshake_done() and before Shutdown();
//   otherwise it returns FailedPrecondition and appends nothing. (HTTP has
//   nothing to send before the request, which comes after the handshake.)
// - After an error the session is dead: every call returns the same
//   failure (Shutdown does nothing). The caller closes the connection.
// - Handshake timeouts are the caller's (it owns the clock): it checks
//   handshake_done() when its timer fires and calls OnHandshakeTimeout() so
//   the failure is counted like the others.
// - Errors are counted once in the context's TlsStats: as handshake failures
//   by reason before the handshake completed, as errors_after_handshake
//   after.
//
// Cost: a call does only the work its bytes allow (at most one handshake
// step's CPU; a full handshake is measured in README.md). Between calls the
// session holds OpenSSL's SSL object and, with release_idle_buffers, no
// record buffers; no input or output is buffered here (the BIO is a view of
// the caller's strings).
//
// Thread-safety: one session per connection, used by one thread at a time
// (not thread-safe). Sessions of one context run on any threads in
// parallel.
#ifndef BRISK_TLS_SERVER_SESSION_H_
#define BRISK_TLS_SERVER_SESSION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "tls/failure.h"
#include "tls/peer_identity.h"

typedef struct ssl_st SSL;

namespace brisk::tls {

namespace internal {
struct ContextShared;
struct SessionIo;
}  // namespace internal

class TlsServerSession {
 public:
  ~TlsServerSession();
  TlsServerSession(const TlsServerSession&) = delete;
  TlsServerSession& operator=(const TlsServerSession&) = delete;

  // Feeds ciphertext received from the client (see the contract above).
  absl::Status OnReceived(std::string_view ciphertext, std::string* plaintext,
                          std::string* to_peer);

  // Encrypts application data into TLS records appended to *to_peer.
  absl::Status Encrypt(std::string_view plaintext, std::string* to_peer);

  // Appends a close_notify alert to *to_peer (once; only after the
  // handshake, otherwise nothing). Encrypt is refused afterwards; OnReceived
  // still works, e.g. to see the client's close_notify.
  void Shutdown(std::string* to_peer);

  // The transport reached end of stream. Before the handshake completed this
  // is a failure (kNoClientHello if not a byte arrived, else
  // kPeerClosedInHandshake); after it, OK (peer_closed() tells whether the
  // client said close_notify first; HTTP framing decides about truncation).
  absl::Status OnEof();

  // The caller's handshake timer fired before handshake_done(): fails the
  // session with kHandshakeTimeout (counted). No-op after the handshake or
  // a failure.
  void OnHandshakeTimeout();
  // The caller closes the connection before handshake_done() (its drain or
  // stop): fails the session with kServerClosed (counted), so every
  // accepted connection ends as a handshake or a counted failure. No-op
  // after the handshake or a failure.
  void OnServerClose();

  bool handshake_done() const { return state_ == State::kOpen; }
  bool failed() const { return state_ == State::kFailed; }
  // The client sent close_notify: no more data will come.
  bool peer_closed() const { return peer_closed_; }
  // Once handshake_done(): whether a session ticket was resumed.
  bool resumed() const { return resumed_; }
  TlsFailure failure() const { return failure_; }
  // Why, in more detail, for logs: "certificate has expired", "unexpected
  // message", ... Empty without failure.
  const std::string& failure_detail() const { return failure_detail_; }

  // Once handshake_done(); empty before and when ALPN was not negotiated.
  std::string_view alpn() const { return alpn_; }
  std::string_view version() const;  // "TLSv1.3", "TLSv1.2"; "" before
  std::string_view cipher() const;   // "TLS_AES_128_GCM_SHA256"; "" before
  // The verified client certificate (mTLS); empty when none was sent or
  // client authentication is off.
  const PeerIdentity& peer() const { return peer_; }
  // Bytes received so far (ciphertext, including the handshake).
  uint64_t bytes_received() const { return bytes_received_; }
  // Received bytes OpenSSL holds that gave no plaintext yet: the start of a
  // record whose rest has not come (SSL_has_pending). A request may be in
  // them: a connection that closes when idle must not close on it.
  bool HasBufferedInput() const;
  // After kNotTls or kPlainHttp: the first bytes received, up to the first
  // CR or LF and at most kMaxFirstBytes (a plain HTTP request line), for
  // the caller's answer ("HEAD " asks for one without content) and log.
  std::string_view first_bytes() const { return first_bytes_; }
  static constexpr size_t kMaxFirstBytes = 256;

 private:
  friend class TlsContext;
  enum class State { kAwaitFirstByte, kHandshake, kOpen, kFailed };

  TlsServerSession(std::shared_ptr<internal::ContextShared> shared, SSL* ssl);
  absl::Status Init();  // attaches the BIO; fails only out of memory
  // What every session shares, made once for the process (the BIO method):
  // TlsContext::Create calls it, so no session is the first to need
  // OpenSSL's one-time set-up, which, failed for want of memory, fails for
  // good.
  static absl::Status PrepareProcess();

  absl::Status Sniff(std::string_view ciphertext);
  absl::Status DoHandshake();
  absl::Status ReadApplicationData(std::string* plaintext);
  void OnHandshakeComplete();
  // Takes the reason from OpenSSL's error queue and SSL_get_error's code.
  absl::Status FailFromOpenSsl(int ssl_error);
  absl::Status Fail(TlsFailure failure, std::string detail);
  absl::Status FailureStatus() const;
  // SSL_set_msg_callback: counts the handshake messages the client sends
  // after the handshake, against their budget (kTooManyKeyUpdates).
  static void MessageCallback(int write_p, int version, int content_type,
                              const void* buf, size_t len, SSL* ssl, void* arg);

  // Declared first: destroyed after ssl_ (whose context's callbacks use it).
  std::shared_ptr<internal::ContextShared> shared_;
  std::unique_ptr<internal::SessionIo> io_;
  SSL* ssl_;  // owned
  State state_ = State::kAwaitFirstByte;
  TlsFailure failure_ = TlsFailure::kNone;
  std::string failure_detail_;
  bool resumed_ = false;
  bool peer_closed_ = false;
  bool sent_close_notify_ = false;
  uint64_t bytes_received_ = 0;
  // Application data both ways, and post-handshake messages received.
  uint64_t application_bytes_ = 0;
  uint64_t post_handshake_messages_ = 0;
  std::string first_bytes_;
  std::string alpn_;
  PeerIdentity peer_;
};

}  // namespace brisk::tls

#endif  // BRISK_TLS_SERVER_SESSION_H_
