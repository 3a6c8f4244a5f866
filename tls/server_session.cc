#include "tls/server_session.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "openssl/bio.h"
#include "openssl/err.h"
#include "openssl/ssl.h"
#include "openssl/x509.h"
#include "tls/context_shared.h"
#include "tls/openssl_util.h"

namespace brisk::tls {
namespace {

// A TLS record's first byte: its content type (22, handshake).
constexpr uint8_t kHandshakeRecord = 0x16;
constexpr uint8_t kTlsMajorVersion = 0x03;

}  // namespace

namespace internal {

// What the BIO reads from and writes to during one call: a view of the
// caller's ciphertext and the caller's output string. Outside calls both are
// empty, so the session buffers nothing of its own.
struct SessionIo {
  std::string_view in;
  std::string* out = nullptr;
  // Set when the client is over its post-handshake message budget, or
  // tried a TLS 1.2 renegotiation: OpenSSL is given no more of its bytes
  // (it would process every KeyUpdate of a 64 KiB read inside one
  // SSL_read_ex call) and can write nothing more.
  bool stop = false;

  // TLS 1.2, once the handshake is done: the client's record headers are
  // followed (OpenSSL reads one record at a time, so the handshake ends on
  // a record boundary), and a handshake record, which can only be a
  // renegotiation ClientHello, is kept from OpenSSL: one record may pack
  // ~4,096 of them, which OpenSSL would parse to the end (~13 ms) even
  // with nothing more written.
  bool gate_handshake_records = false;
  bool renegotiation = false;
  uint8_t header_have = 0;       // bytes of the current record header seen
  uint16_t record_length = 0;    // from the header's last two bytes
  size_t record_left = 0;        // bytes of the current record's body to go

  // How many of the first `n` bytes of `in` may go to OpenSSL: all, or
  // those before a handshake record's header (then `renegotiation`).
  size_t Gate(size_t n) {
    if (!gate_handshake_records) return n;
    size_t i = 0;
    while (i < n) {
      if (record_left > 0) {
        const size_t take = std::min(record_left, n - i);
        i += take;
        record_left -= take;
        continue;
      }
      const auto byte = static_cast<uint8_t>(in[i]);
      if (header_have == 0 && byte == kHandshakeRecord) {
        renegotiation = true;
        stop = true;
        return i;
      }
      if (header_have >= 3) record_length = static_cast<uint16_t>(record_length << 8 | byte);
      ++i;
      if (++header_have == 5) {
        record_left = record_length;
        header_have = 0;
        record_length = 0;
      }
    }
    return n;
  }
};

}  // namespace internal

namespace {

using internal::SessionIo;

int BioWrite(BIO* bio, const char* data, size_t size, size_t* written) {
  auto* io = static_cast<SessionIo*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (io == nullptr || io->out == nullptr) return 0;  // no call in progress
  // Over the post-handshake budget: a hard write error, so nothing more
  // goes out (one read may hold thousands of KeyUpdates, each answered).
  if (io->stop) return 0;
  io->out->append(data, size);
  *written = size;
  return 1;
}

int BioRead(BIO* bio, char* data, size_t size, size_t* read) {
  auto* io = static_cast<SessionIo*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (io == nullptr || io->in.empty() || io->stop) {
    BIO_set_retry_read(bio);  // "want read": wait for the next OnReceived
    return 0;
  }
  const size_t n = io->Gate(std::min(size, io->in.size()));
  if (n == 0) {
    BIO_set_retry_read(bio);
    return 0;
  }
  std::memcpy(data, io->in.data(), n);
  io->in.remove_prefix(n);
  *read = n;
  return 1;
}

long BioCtrl(BIO* bio, int cmd, long num, void* ptr) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING: {
      auto* io = static_cast<SessionIo*>(BIO_get_data(bio));
      return io == nullptr ? 0 : static_cast<long>(io->in.size());
    }
    default:
      return 0;
  }
}

int BioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

// One BIO_METHOD for every session, never freed: made by PrepareProcess()
// (TlsContext::Create). A try that finds OpenSSL out of memory is not kept:
// the next call tries again (a nullptr cached for good would refuse every
// later TLS connection).
const BIO_METHOD* SessionBioMethod() {
  static std::atomic<const BIO_METHOD*> method{nullptr};
  static std::mutex mu;
  static int type = -1;  // under mu: one index for the process, once had
  if (const BIO_METHOD* m = method.load(std::memory_order_acquire)) return m;
  std::lock_guard<std::mutex> lock(mu);
  if (const BIO_METHOD* m = method.load(std::memory_order_relaxed)) return m;
  if (type == -1) {
    const int index = BIO_get_new_index();
    if (index == -1) return nullptr;
    type = index | BIO_TYPE_SOURCE_SINK;
  }
  BIO_METHOD* m = BIO_meth_new(type, "brisk tls session");
  if (m == nullptr) return nullptr;
  BIO_meth_set_write_ex(m, BioWrite);
  BIO_meth_set_read_ex(m, BioRead);
  BIO_meth_set_ctrl(m, BioCtrl);
  BIO_meth_set_create(m, BioCreate);
  method.store(m, std::memory_order_release);
  return m;
}

// Points the BIO at the caller's buffers for the length of one call.
class IoScope {
 public:
  IoScope(SessionIo* io, std::string_view in, std::string* out) : io_(io) {
    io_->in = in;
    io_->out = out;
  }
  ~IoScope() {
    io_->in = {};
    io_->out = nullptr;
  }
  IoScope(const IoScope&) = delete;
  IoScope& operator=(const IoScope&) = delete;

 private:
  SessionIo* io_;
};

bool IsUpperAlpha(uint8_t c) { return c >= 'A' && c <= 'Z'; }

// Post-handshake messages a connection may bring: a burst (BoringSSL allows
// 32 KeyUpdates in a row), then one per 128 bytes of application data
// either way: a client that rekeys by volume stays far below it, and one
// that rekeys before every request (a small GET and its answer are a few
// hundred bytes) too, while a client that sends little else is cut off
// after the burst. A KeyUpdate then costs the server about what serving
// those bytes does.
constexpr uint64_t kPostHandshakeBurst = 32;
constexpr uint64_t kBytesPerPostHandshakeMessage = 128;

// The first bytes of a plain-HTTP request: an upper-case method token, then
// a space ("GET ", "POST ", "PRI " for HTTP/2's preface).
bool LooksLikeHttp(std::string_view first) {
  size_t i = 0;
  while (i < first.size() && i < 8 && IsUpperAlpha(first[i])) ++i;
  if (i == 0) return false;
  return i == first.size() || first[i] == ' ';
}

absl::StatusCode CodeOf(TlsFailure failure) {
  switch (failure) {
    case TlsFailure::kNone:
      return absl::StatusCode::kOk;
    case TlsFailure::kCertRequired:
    case TlsFailure::kCertUntrusted:
    case TlsFailure::kCertExpired:
      return absl::StatusCode::kUnauthenticated;
    case TlsFailure::kHandshakeTimeout:
      return absl::StatusCode::kDeadlineExceeded;
    case TlsFailure::kNoClientHello:
    case TlsFailure::kPeerClosedInHandshake:
    case TlsFailure::kPeerAlert:
      return absl::StatusCode::kAborted;
    case TlsFailure::kInternal:
      return absl::StatusCode::kInternal;
    case TlsFailure::kTooManyKeyUpdates:
      return absl::StatusCode::kResourceExhausted;
    case TlsFailure::kServerClosed:
      return absl::StatusCode::kCancelled;
    default:
      return absl::StatusCode::kInvalidArgument;
  }
}

// An error of the server's own: out of memory, or an OpenSSL bug.
bool IsOwnFailure(unsigned long err) {
  const int reason = ERR_GET_REASON(err);
  return reason == ERR_R_MALLOC_FAILURE || reason == ERR_R_INTERNAL_ERROR;
}

// Maps OpenSSL's error queue, its first and last errors, to a failure
// reason. The first names the cause, except when the handshake ended on the
// server's own failure (the last error, what OpenSSL sent the client an
// internal_error alert for): whatever a lower layer reported first (a
// missing algorithm, a buffer not grown) then came of memory or a bug of
// the server's, not of the client.
TlsFailure Classify(unsigned long err, unsigned long last, long verify_result) {
  if (IsOwnFailure(err) || IsOwnFailure(last)) return TlsFailure::kInternal;
  if (ERR_GET_LIB(err) != ERR_LIB_SSL) return TlsFailure::kProtocolError;
  const int reason = ERR_GET_REASON(err);
  // An alert the peer sent is SSL_AD_REASON_OFFSET + its code (0..255).
  // OpenSSL 3's common reasons (ERR_R_INTERNAL_ERROR and the like) carry
  // a flag bit that puts them above that range: they are not alerts.
  if (ERR_GET_RFLAGS(err) == 0 && reason >= SSL_AD_REASON_OFFSET &&
      reason < SSL_AD_REASON_OFFSET + 256) {
    return TlsFailure::kPeerAlert;
  }
  switch (reason) {
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return TlsFailure::kCertRequired;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      return (verify_result == X509_V_ERR_CERT_HAS_EXPIRED ||
              verify_result == X509_V_ERR_CERT_NOT_YET_VALID)
                 ? TlsFailure::kCertExpired
                 : TlsFailure::kCertUntrusted;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
      return TlsFailure::kUnsupportedVersion;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
    case SSL_R_NO_SUITABLE_KEY_SHARE:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
    case SSL_R_NO_CIPHERS_AVAILABLE:
      return TlsFailure::kNoSharedCipher;
    case SSL_R_NO_APPLICATION_PROTOCOL:
      return TlsFailure::kNoApplicationProtocol;
    default:
      return TlsFailure::kProtocolError;
  }
}

}  // namespace

TlsServerSession::TlsServerSession(std::shared_ptr<internal::ContextShared> shared,
                                   SSL* ssl)
    : shared_(std::move(shared)),
      io_(std::make_unique<internal::SessionIo>()),
      ssl_(ssl) {}

TlsServerSession::~TlsServerSession() { SSL_free(ssl_); }

void TlsServerSession::MessageCallback(int write_p, int /*version*/, int content_type,
                                       const void* buf, size_t len, SSL* ssl,
                                       void* /*arg*/) {
  // Handshake messages the client sends once the handshake is done: a
  // TLS 1.3 KeyUpdate (a TLS 1.2 renegotiation ClientHello never gets
  // here: SessionIo::Gate keeps its record from OpenSSL).
  if (write_p != 0 || content_type != SSL3_RT_HANDSHAKE || len == 0) return;
  const auto type = static_cast<const uint8_t*>(buf)[0];
  if (type != SSL3_MT_KEY_UPDATE && type != SSL3_MT_CLIENT_HELLO) return;
  auto* session = static_cast<TlsServerSession*>(SSL_get_app_data(ssl));
  if (session == nullptr || session->state_ != State::kOpen) return;
  ++session->post_handshake_messages_;
  if (session->post_handshake_messages_ >
      kPostHandshakeBurst + session->application_bytes_ / kBytesPerPostHandshakeMessage) {
    session->io_->stop = true;
  }
}

absl::Status TlsServerSession::PrepareProcess() {
  if (SessionBioMethod() != nullptr) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("BIO_meth_new: ", internal::TakeOpenSslErrors()));
}

absl::Status TlsServerSession::Init() {
  const BIO_METHOD* method = SessionBioMethod();
  BIO* bio = method == nullptr ? nullptr : BIO_new(method);
  if (bio == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("BIO_new: ", internal::TakeOpenSslErrors()));
  }
  BIO_set_data(bio, io_.get());
  SSL_set_bio(ssl_, bio, bio);  // one reference, used for both directions
  SSL_set_app_data(ssl_, this);
  SSL_set_msg_callback(ssl_, &TlsServerSession::MessageCallback);
  SSL_set_accept_state(ssl_);
  return absl::OkStatus();
}

absl::Status TlsServerSession::OnReceived(std::string_view ciphertext,
                                          std::string* plaintext,
                                          std::string* to_peer) {
  if (state_ == State::kFailed) return FailureStatus();
  if (ciphertext.empty()) return absl::OkStatus();
  if (state_ == State::kAwaitFirstByte || bytes_received_ < 2) {
    if (absl::Status s = Sniff(ciphertext); !s.ok()) return s;
    state_ = State::kHandshake;
  }
  bytes_received_ += ciphertext.size();
  IoScope scope(io_.get(), ciphertext, to_peer);
  if (state_ == State::kHandshake) {
    if (absl::Status s = DoHandshake(); !s.ok() || state_ != State::kOpen) {
      return s;
    }
  }
  return ReadApplicationData(plaintext);
}

absl::Status TlsServerSession::Sniff(std::string_view ciphertext) {
  // Bytes 0 and 1 of the stream: a handshake record, major version 3.
  for (uint64_t pos = bytes_received_; pos < 2; ++pos) {
    const size_t i = static_cast<size_t>(pos - bytes_received_);
    if (i >= ciphertext.size()) break;
    const auto byte = static_cast<uint8_t>(ciphertext[i]);
    if (byte == (pos == 0 ? kHandshakeRecord : kTlsMajorVersion)) continue;
    if (pos == 0) {
      // What came as a first line (an HTTP request line), for the
      // caller's answer and its log.
      first_bytes_ = ciphertext.substr(0, std::min(ciphertext.find_first_of("\r\n"),
                                                   kMaxFirstBytes));
    }
    bytes_received_ += ciphertext.size();
    if (pos == 0 && LooksLikeHttp(ciphertext)) {
      return Fail(TlsFailure::kPlainHttp, "the client sent plain HTTP");
    }
    return Fail(TlsFailure::kNotTls,
                absl::StrCat("first bytes are not a TLS handshake record (byte ",
                             pos, " is 0x", absl::Hex(byte, absl::kZeroPad2), ")"));
  }
  return absl::OkStatus();
}

bool TlsServerSession::HasBufferedInput() const { return SSL_has_pending(ssl_) == 1; }

absl::Status TlsServerSession::DoHandshake() {
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    OnHandshakeComplete();
    return absl::OkStatus();
  }
  const int error = SSL_get_error(ssl_, r);
  if (error == SSL_ERROR_WANT_READ) return absl::OkStatus();
  if (error == SSL_ERROR_ZERO_RETURN) {
    // A close_notify alert before the handshake ended: the client left
    // (it was counted as an internal error, which operators alert on).
    ERR_clear_error();
    return Fail(
        TlsFailure::kPeerClosedInHandshake,
        absl::StrCat("close_notify after ", bytes_received_, " bytes, handshake incomplete"));
  }
  return FailFromOpenSsl(error);
}

void TlsServerSession::OnHandshakeComplete() {
  state_ = State::kOpen;
  resumed_ = SSL_session_reused(ssl_) == 1;
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpn_len);
  alpn_.assign(reinterpret_cast<const char*>(alpn), alpn == nullptr ? 0 : alpn_len);
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert != nullptr && SSL_get_verify_result(ssl_) == X509_V_OK) {
    peer_ = internal::IdentityFromCertificate(cert);
  }
  shared_->counters.RecordHandshake(resumed_);
  // TLS 1.2 has no handshake message a client may send from now on but a
  // renegotiation ClientHello (TLS 1.3's KeyUpdate is encrypted, its
  // record type hidden, and budgeted in MessageCallback).
  io_->gate_handshake_records = SSL_version(ssl_) == TLS1_2_VERSION;
}

absl::Status TlsServerSession::ReadApplicationData(std::string* plaintext) {
  char buf[16384];  // one record's plaintext at most
  for (;;) {
    ERR_clear_error();
    size_t n = 0;
    if (SSL_read_ex(ssl_, buf, sizeof(buf), &n) == 1) {
      plaintext->append(buf, n);
      application_bytes_ += n;
      continue;
    }
    const int error = SSL_get_error(ssl_, 0);
    if (io_->renegotiation) {
      // An orderly end, not what looks like a truncation or a crash: a
      // close_notify (RFC 5246 §7.2.1). The no_renegotiation warning RFC
      // 5246 §7.2.2 suggests is written only by OpenSSL, as its answer to
      // each ClientHello it parses, which is what the gate keeps it from.
      // The gate stopped its output too: it is let through for this one
      // alert, with nothing more of the client's to read.
      sent_close_notify_ = true;
      io_->in = {};
      io_->stop = false;
      ERR_clear_error();
      SSL_shutdown(ssl_);  // into the IoScope's output
      ERR_clear_error();
      io_->stop = true;
      return Fail(TlsFailure::kClientRenegotiation,
                  absl::StrCat("a handshake record after the TLS 1.2 handshake (after ",
                               application_bytes_,
                               " bytes of application data); renegotiation is not "
                               "supported"));
    }
    if (io_->stop) {
      return Fail(TlsFailure::kTooManyKeyUpdates,
                  absl::StrCat(post_handshake_messages_,
                               " post-handshake messages after ", application_bytes_,
                               " bytes of application data"));
    }
    if (error == SSL_ERROR_WANT_READ) return absl::OkStatus();
    if (error == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      return absl::OkStatus();
    }
    return FailFromOpenSsl(error);
  }
}

absl::Status TlsServerSession::Encrypt(std::string_view plaintext,
                                       std::string* to_peer) {
  if (state_ == State::kFailed) return FailureStatus();
  if (state_ != State::kOpen) {
    return absl::FailedPreconditionError("tls: Encrypt before the handshake completed");
  }
  if (sent_close_notify_) {
    return absl::FailedPreconditionError("tls: Encrypt after Shutdown");
  }
  if (plaintext.empty()) return absl::OkStatus();
  IoScope scope(io_.get(), {}, to_peer);
  ERR_clear_error();
  size_t written = 0;
  if (SSL_write_ex(ssl_, plaintext.data(), plaintext.size(), &written) != 1 ||
      written != plaintext.size()) {
    return FailFromOpenSsl(SSL_get_error(ssl_, 0));
  }
  application_bytes_ += written;
  return absl::OkStatus();
}

void TlsServerSession::Shutdown(std::string* to_peer) {
  if (state_ != State::kOpen || sent_close_notify_) return;
  sent_close_notify_ = true;
  IoScope scope(io_.get(), {}, to_peer);
  ERR_clear_error();
  SSL_shutdown(ssl_);  // writes close_notify; we do not wait for the reply
  ERR_clear_error();
}

absl::Status TlsServerSession::OnEof() {
  switch (state_) {
    case State::kFailed:
      return FailureStatus();
    case State::kOpen:
      return absl::OkStatus();
    case State::kAwaitFirstByte:
    case State::kHandshake:
      if (bytes_received_ == 0) {
        return Fail(TlsFailure::kNoClientHello, "end of stream before any byte");
      }
      return Fail(TlsFailure::kPeerClosedInHandshake,
                  absl::StrCat("end of stream after ", bytes_received_,
                               " bytes, handshake incomplete"));
  }
  return absl::OkStatus();
}

void TlsServerSession::OnHandshakeTimeout() {
  if (state_ != State::kAwaitFirstByte && state_ != State::kHandshake) return;
  Fail(TlsFailure::kHandshakeTimeout,
       absl::StrCat("handshake incomplete after ", bytes_received_, " bytes"))
      .IgnoreError();
}

void TlsServerSession::OnServerClose() {
  if (state_ != State::kAwaitFirstByte && state_ != State::kHandshake) return;
  Fail(TlsFailure::kServerClosed, absl::StrCat("after ", bytes_received_, " bytes of handshake"))
      .IgnoreError();
}

std::string_view TlsServerSession::version() const {
  return state_ == State::kOpen ? SSL_get_version(ssl_) : "";
}

std::string_view TlsServerSession::cipher() const {
  if (state_ != State::kOpen) return "";
  const char* name = SSL_get_cipher_name(ssl_);
  return name == nullptr ? "" : name;
}

absl::Status TlsServerSession::FailFromOpenSsl(int ssl_error) {
  const unsigned long err = ERR_peek_error();
  if (ssl_error != SSL_ERROR_SSL || err == 0) {
    ERR_clear_error();
    return Fail(TlsFailure::kInternal,
                absl::StrCat("unexpected OpenSSL state (SSL_get_error ", ssl_error, ")"));
  }
  const long verify_result = SSL_get_verify_result(ssl_);
  const TlsFailure failure = Classify(err, ERR_peek_last_error(), verify_result);
  std::string detail = internal::TakeOpenSslErrors();
  if ((failure == TlsFailure::kCertExpired || failure == TlsFailure::kCertUntrusted) &&
      verify_result != X509_V_OK) {
    detail = absl::StrCat(X509_verify_cert_error_string(verify_result), " (", detail, ")");
  }
  return Fail(failure, std::move(detail));
}

absl::Status TlsServerSession::Fail(TlsFailure failure, std::string detail) {
  const bool in_handshake = state_ != State::kOpen;
  state_ = State::kFailed;
  failure_ = failure;
  failure_detail_ = std::move(detail);
  if (in_handshake) {
    shared_->counters.RecordHandshakeFailure(failure);
  } else {
    shared_->counters.RecordErrorAfterHandshake();
  }
  return FailureStatus();
}

absl::Status TlsServerSession::FailureStatus() const {
  return absl::Status(CodeOf(failure_),
                      absl::StrCat("tls: ", std::string(TlsFailureDescription(failure_)),
                                   ": ", failure_detail_));
}

}  // namespace brisk::tls
