#include "tls/context.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "openssl/core_names.h"
#include "openssl/err.h"
#include "openssl/evp.h"
#include "openssl/params.h"
#include "openssl/rand.h"
#include "openssl/ssl.h"
#include "openssl/x509.h"
#include "openssl/x509v3.h"
#include "tls/context_shared.h"
#include "tls/failure.h"
#include "tls/openssl_util.h"

namespace brisk::tls {

using internal::ContextShared;
using internal::UniqueEvpPkey;
using internal::UniqueSslCtx;
using internal::UniqueX509;

namespace {

// OpenSSL decodes a certificate's extensions into fields of the X509 the
// first time anything checks them, and two threads doing that at once on
// one certificate race (OpenSSL issues #25202, #32609): the handshakes of
// two reactors on a freshly loaded context, under mutual TLS, did (outside
// review, ThreadSanitizer, after reloads). Done here on the loading thread,
// before any handshake can see the context, they only read them.
void FillInDecodedExtensions(X509* x) { X509_check_purpose(x, -1, 0); }

constexpr char kSidCtxLabel[] = "brisk tls session id context v1";

absl::Status ValidateConfig(const TlsServerConfig& c) {
  if (c.cert_chain_file.empty() || c.key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both a certificate chain file and a key file");
  }
  if (c.client_auth != ClientAuth::kNone && c.client_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "client certificate authentication needs a client CA file");
  }
  if (c.client_auth == ClientAuth::kNone && !c.client_ca_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "client CA file '", c.client_ca_file,
        "' given but client authentication is off (request or require it)"));
  }
  if (c.session_tickets && c.ticket_key_rotation <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("ticket_key_rotation must be positive");
  }
  for (const std::string& p : c.alpn_protocols) {
    if (p.empty() || p.size() > 255) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ALPN protocol names are 1 to 255 bytes; got '", p, "'"));
    }
  }
  return absl::OkStatus();
}

std::string AlpnWire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& p : protocols) {
    wire.push_back(static_cast<char>(p.size()));
    wire.append(p);
  }
  return wire;
}

ContextShared* SharedOf(SSL* ssl) {
  return static_cast<ContextShared*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
}

// ALPN: the first of the server's protocols that the client offers; none in
// common is fatal (no_application_protocol). Not called for clients that
// send no ALPN extension.
int SelectAlpn(SSL* ssl, const unsigned char** out, unsigned char* out_len,
               const unsigned char* in, unsigned int in_len, void* arg) {
  const auto* shared = static_cast<const ContextShared*>(arg);
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(
          &selected, out_len,
          reinterpret_cast<const unsigned char*>(shared->alpn_wire.data()),
          static_cast<unsigned int>(shared->alpn_wire.size()), in,
          in_len) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

bool SetTicketMacKey(EVP_MAC_CTX* hctx, const TicketKey& key) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(
          OSSL_MAC_PARAM_KEY, const_cast<uint8_t*>(key.hmac_key.data()),
          key.hmac_key.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  return EVP_MAC_CTX_set_params(hctx, params) == 1;
}

// Seals (enc = 1) or opens (enc = 0) a session ticket with the ring's keys.
// Opening: 0 = unknown key (full handshake); else 2 = resume and issue a
// fresh ticket under the current key, whichever ring key opened it. Always
// renewing (nginx renews for TLS 1.3 and old keys) costs one ticket
// encryption per resumption and keeps clients that use a ticket once (RFC
// 8446 advises it; OpenSSL clients do it in TLS 1.2 too) resuming every
// time instead of every other time.
int TicketKeyCallback(SSL* ssl, unsigned char key_name[16], unsigned char* iv,
                      EVP_CIPHER_CTX* cctx, EVP_MAC_CTX* hctx, int enc) {
  ContextShared* shared = SharedOf(ssl);
  if (shared == nullptr) return -1;
  TicketKey key;
  int result = -1;
  const EVP_CIPHER* cipher = EVP_aes_256_cbc();
  if (enc == 1) {
    if (!shared->ticket_keys.EncryptionKey(&key)) return 0;  // no ticket
    std::memcpy(key_name, key.name.data(), key.name.size());
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(cipher)) == 1 &&
        EVP_EncryptInit_ex(cctx, cipher, nullptr, key.aes_key.data(), iv) == 1 &&
        SetTicketMacKey(hctx, key)) {
      result = 1;
    }
  } else {
    const TicketKeyRing::Match match = shared->ticket_keys.Find(key_name, &key);
    if (match == TicketKeyRing::Match::kUnknown) return 0;
    if (SetTicketMacKey(hctx, key) &&
        EVP_DecryptInit_ex(cctx, cipher, nullptr, key.aes_key.data(), iv) == 1) {
      result = 2;
    }
  }
  OPENSSL_cleanse(&key, sizeof(key));
  return result;
}

// Every ticket carries when its session's full handshake took place (the
// ticket's app data, 8 bytes, Unix seconds on the context's clock), kept
// through every resumption: a TLS 1.3 resumption makes a new session, whose
// own time OpenSSL sets to now, so a client coming back within each period
// would have kept one session, and the client certificate verified in its
// full handshake, forever (outside review: an expired certificate still
// resumed, shown as verified). RFC 8446 §4.6.1 asks servers to bound it.
std::optional<int64_t> FullHandshakeTime(SSL_SESSION* session) {
  void* data = nullptr;
  size_t len = 0;
  int64_t origin = 0;
  if (SSL_SESSION_get0_ticket_appdata(session, &data, &len) != 1 || len != sizeof(origin)) {
    return std::nullopt;
  }
  std::memcpy(&origin, data, sizeof(origin));
  return origin;
}

int GenerateTicket(SSL* ssl, void* /*arg*/) {
  ContextShared* shared = SharedOf(ssl);
  SSL_SESSION* session = SSL_get0_session(ssl);
  if (shared == nullptr || session == nullptr) return 0;
  // A resumed session's: its full handshake's time stays.
  if (FullHandshakeTime(session).has_value()) return 1;
  const int64_t origin = absl::ToUnixSeconds(shared->ticket_keys.Now());
  return SSL_SESSION_set1_ticket_appdata(session, &origin, sizeof(origin));
}

// A ticket that opened is used only if its session's full handshake is
// younger than the session lifetime and the client certificate verified
// then (if any) has not expired since; else a full handshake, which checks
// the certificate again.
SSL_TICKET_RETURN DecryptTicket(SSL* ssl, SSL_SESSION* session, const unsigned char* /*name*/,
                                size_t /*name_len*/, SSL_TICKET_STATUS status, void* /*arg*/) {
  switch (status) {
    case SSL_TICKET_EMPTY:
    case SSL_TICKET_NO_DECRYPT:
      return SSL_TICKET_RETURN_IGNORE_RENEW;
    case SSL_TICKET_SUCCESS:
    case SSL_TICKET_SUCCESS_RENEW:
      break;
    default:
      return SSL_TICKET_RETURN_ABORT;
  }
  ContextShared* shared = SharedOf(ssl);
  if (shared == nullptr || session == nullptr) return SSL_TICKET_RETURN_IGNORE_RENEW;
  const std::optional<int64_t> origin = FullHandshakeTime(session);
  const absl::Time now = shared->ticket_keys.Now();
  if (!origin.has_value() || now - absl::FromUnixSeconds(*origin) >= shared->ticket_keys.period()) {
    return SSL_TICKET_RETURN_IGNORE_RENEW;
  }
  if (X509* peer = SSL_SESSION_get0_peer(session); peer != nullptr) {
    time_t t = absl::ToTimeT(now);
    // <= 0: expired, or a time OpenSSL cannot compare (never resumed on).
    if (X509_cmp_time(X509_get0_notAfter(peer), &t) <= 0) return SSL_TICKET_RETURN_IGNORE_RENEW;
  }
  return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW;
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
}

// Everything below names the file it is about.
struct Files {
  const TlsServerConfig& config;

  absl::Status Chain(absl::Status s) const {
    return absl::Status(s.code(), absl::StrCat("certificate chain file '",
                                               config.cert_chain_file,
                                               "': ", s.message()));
  }
  absl::Status Key(absl::Status s) const {
    return absl::Status(s.code(), absl::StrCat("private key file '",
                                               config.key_file, "': ",
                                               s.message()));
  }
  absl::Status Ca(absl::Status s) const {
    return absl::Status(s.code(), absl::StrCat("client CA file '",
                                               config.client_ca_file, "': ",
                                               s.message()));
  }
};

absl::Status OpenSslError(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": ", internal::TakeOpenSslErrors()));
}

// Empty when the chain ends at a self-signed certificate or at one whose
// issuer this machine's trust store holds; else a note naming the issuer
// clients must already have. Sent without its intermediate, a certificate
// fails every client's verification, and nothing at the server shows it:
// the note is logged at start and at each reload. (A private CA that
// issues server certificates directly gets the note too: there it only
// says which root the clients need.)
std::string ChainEndNote(const std::vector<UniqueX509>& chain) {
  X509* last = chain.back().get();
  if (X509_self_signed(last, /*verify_signature=*/0) == 1) return "";
  internal::UniqueX509Store store(X509_STORE_new());
  internal::UniqueX509StoreCtx ctx(X509_STORE_CTX_new());
  X509* issuer = nullptr;
  bool found = false;
  if (store != nullptr && ctx != nullptr &&
      X509_STORE_set_default_paths(store.get()) == 1 &&
      X509_STORE_CTX_init(ctx.get(), store.get(), last, nullptr) == 1) {
    found = X509_STORE_CTX_get1_issuer(&issuer, ctx.get(), last) == 1;
  }
  UniqueX509 owned_issuer(issuer);
  ERR_clear_error();
  if (found) return "";
  return absl::StrCat(" note: the issuer of certificate ", chain.size(), " (",
                      internal::NameToString(X509_get_issuer_name(last)),
                      ") is neither in the file nor in this machine's trust "
                      "store; clients must have it, or the file lacks an "
                      "intermediate");
}

}  // namespace

struct TlsContext::Loaded {
  UniqueSslCtx ctx;
  std::string summary;
};

TlsContext::TlsContext(TlsServerConfig config, Clock now,
                       std::shared_ptr<ContextShared> shared)
    : config_(std::move(config)), now_(std::move(now)), shared_(std::move(shared)) {}

TlsContext::~TlsContext() {
  std::unique_lock<std::shared_mutex> lock(mu_);
  SSL_CTX_free(ctx_);
}

absl::StatusOr<std::unique_ptr<TlsContext>> TlsContext::Create(
    TlsServerConfig config, Clock now) {
  if (absl::Status s = ValidateConfig(config); !s.ok()) return s;
  if (absl::Status s = TlsServerSession::PrepareProcess(); !s.ok()) return s;
  if (!now) now = [] { return absl::Now(); };
  auto shared = std::make_shared<ContextShared>(
      config.ticket_key_rotation, now, AlpnWire(config.alpn_protocols));
  std::unique_ptr<TlsContext> context(
      new TlsContext(std::move(config), std::move(now), std::move(shared)));
  absl::StatusOr<Loaded> loaded = context->Load();
  if (!loaded.ok()) return loaded.status();
  std::unique_lock<std::shared_mutex> lock(context->mu_);
  context->ctx_ = loaded->ctx.release();
  context->summary_ = std::move(loaded->summary);
  context->generation_ = 1;
  return context;
}

absl::StatusOr<TlsContext::Loaded> TlsContext::Load() const {
  ERR_clear_error();
  const Files files{config_};
  const absl::Time now = now_();
  const time_t now_t = absl::ToTimeT(now);

  // The certificate chain.
  absl::StatusOr<std::string> chain_pem = internal::ReadFileToString(
      "certificate chain file", config_.cert_chain_file);
  if (!chain_pem.ok()) return chain_pem.status();
  absl::StatusOr<std::vector<UniqueX509>> chain =
      internal::ParsePemCertificates(*chain_pem);
  if (!chain.ok()) return files.Chain(chain.status());
  X509* leaf = (*chain)[0].get();
  for (size_t i = 1; i < chain->size(); ++i) {
    X509* child = (*chain)[i - 1].get();
    X509* parent = (*chain)[i].get();
    if (X509_check_issued(parent, child) != X509_V_OK) {
      return files.Chain(absl::InvalidArgumentError(absl::StrCat(
          "certificate ", i + 1, " (", internal::NameToString(X509_get_subject_name(parent)),
          ") did not issue certificate ", i, " (issuer ",
          internal::NameToString(X509_get_issuer_name(child)),
          "); list the server certificate first, then each issuer")));
    }
  }
  // A certificate whose key usage or extended key usage excludes a TLS
  // server (a CA certificate given by mistake, a client certificate) would
  // fail every handshake: refused here, so a reload keeps the old one.
  if (X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0) != 1) {
    ERR_clear_error();
    return files.Chain(absl::InvalidArgumentError(absl::StrCat(
        "the certificate (", internal::NameToString(X509_get_subject_name(leaf)),
        ") may not be used by a TLS server: its key usage or extended key "
        "usage excludes it")));
  }
  const absl::Time not_after = internal::Asn1TimeToAbsl(X509_get0_notAfter(leaf));
  const absl::Time not_before = internal::Asn1TimeToAbsl(X509_get0_notBefore(leaf));
  time_t t = now_t;
  if (X509_cmp_time(X509_get0_notAfter(leaf), &t) < 0) {
    return files.Chain(absl::InvalidArgumentError(
        absl::StrCat("the certificate expired at ", Rfc3339(not_after))));
  }
  t = now_t;
  if (X509_cmp_time(X509_get0_notBefore(leaf), &t) > 0) {
    return files.Chain(absl::InvalidArgumentError(
        absl::StrCat("the certificate is not valid before ", Rfc3339(not_before))));
  }

  // The private key.
  absl::StatusOr<std::string> key_pem =
      internal::ReadFileToString("private key file", config_.key_file);
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<UniqueEvpPkey> key = internal::ParsePemPrivateKey(*key_pem);
  if (!key.ok()) return files.Key(key.status());
  if (X509_check_private_key(leaf, key->get()) != 1) {
    ERR_clear_error();
    return files.Key(absl::InvalidArgumentError(absl::StrCat(
        "does not match the certificate in '", config_.cert_chain_file, "'")));
  }

  // The OpenSSL context.
  UniqueSslCtx ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr) return OpenSslError("SSL_CTX_new");
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_app_data(c, shared_.get());
  if (SSL_CTX_set_min_proto_version(c, config_.min_version == TlsVersion::kTls13
                                           ? TLS1_3_VERSION
                                           : TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1) {
    return OpenSslError("setting the protocol versions");
  }
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                             (config_.session_tickets ? 0 : SSL_OP_NO_TICKET));
  const std::string& ciphers =
      config_.tls12_ciphers.empty() ? kDefaultTls12Ciphers : config_.tls12_ciphers;
  if (SSL_CTX_set_cipher_list(c, ciphers.c_str()) != 1) {
    return OpenSslError(absl::StrCat("TLS 1.2 cipher list '", ciphers, "'"));
  }
  if (!config_.tls13_ciphersuites.empty() &&
      SSL_CTX_set_ciphersuites(c, config_.tls13_ciphersuites.c_str()) != 1) {
    return OpenSslError(absl::StrCat("TLS 1.3 cipher suites '",
                                     config_.tls13_ciphersuites, "'"));
  }
  const std::string& groups = config_.groups.empty() ? kDefaultGroups : config_.groups;
  if (SSL_CTX_set1_groups_list(c, groups.c_str()) != 1) {
    return OpenSslError(absl::StrCat("groups '", groups, "'"));
  }
  if (config_.release_idle_buffers) SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  if (!config_.alpn_protocols.empty()) {
    SSL_CTX_set_alpn_select_cb(c, SelectAlpn, shared_.get());
  }

  // Resumption: stateless tickets only (no server-side cache).
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  if (config_.session_tickets) {
    SSL_CTX_set_timeout(c, static_cast<long>(absl::ToInt64Seconds(
                               config_.ticket_key_rotation)));
    SSL_CTX_set_tlsext_ticket_key_evp_cb(c, TicketKeyCallback);
    if (SSL_CTX_set_session_ticket_cb(c, GenerateTicket, DecryptTicket, nullptr) != 1) {
      return OpenSslError("SSL_CTX_set_session_ticket_cb");
    }
  } else {
    SSL_CTX_set_num_tickets(c, 0);
  }

  // Certificate, chain and key.
  for (const UniqueX509& x : *chain) FillInDecodedExtensions(x.get());
  if (SSL_CTX_use_certificate(c, leaf) != 1) {
    return files.Chain(OpenSslError("the certificate is not usable"));
  }
  for (size_t i = 1; i < chain->size(); ++i) {
    if (SSL_CTX_add1_chain_cert(c, (*chain)[i].get()) != 1) {
      return files.Chain(OpenSslError(absl::StrCat("certificate ", i + 1)));
    }
  }
  if (SSL_CTX_use_PrivateKey(c, key->get()) != 1 || SSL_CTX_check_private_key(c) != 1) {
    return files.Key(OpenSslError("the key is not usable"));
  }

  // Client certificates (mTLS). The session id context binds resumed
  // sessions to the client-auth mode and CA set they were verified under.
  std::string sid_input(kSidCtxLabel);
  size_t client_cas = 0;  // said in the summary: a bundle a CA short shows
  sid_input.push_back(static_cast<char>('0' + static_cast<int>(config_.client_auth)));
  if (config_.client_auth != ClientAuth::kNone) {
    absl::StatusOr<std::string> ca_pem =
        internal::ReadFileToString("client CA file", config_.client_ca_file);
    if (!ca_pem.ok()) return ca_pem.status();
    absl::StatusOr<std::vector<UniqueX509>> cas =
        internal::ParsePemCertificates(*ca_pem);
    if (!cas.ok()) return files.Ca(cas.status());
    X509_STORE* store = SSL_CTX_get_cert_store(c);
    // A CA whose key is below the security level would be refused by
    // every verification ("CA certificate key too weak"): every client
    // refused, after a start or reload that looked fine. Refused here, as
    // the server's own certificate is.
    const int level = SSL_CTX_get_security_level(c);
    static constexpr int kMinBits[] = {80, 112, 128, 192, 256};  // levels 1..5
    const int min_bits = level <= 0 ? 0 : kMinBits[std::min(level, 5) - 1];
    for (size_t i = 0; i < cas->size(); ++i) {
      X509* ca = (*cas)[i].get();
      const EVP_PKEY* ca_key = X509_get0_pubkey(ca);
      const int bits = ca_key == nullptr ? 0 : EVP_PKEY_get_security_bits(ca_key);
      if (bits < min_bits) {
        ERR_clear_error();
        return files.Ca(absl::InvalidArgumentError(absl::StrCat(
            "CA certificate ", i + 1, " (", internal::NameToString(X509_get_subject_name(ca)),
            ") has a key too weak for security level ", level, ": ", bits,
            " bits of security, at least ", min_bits, " needed")));
      }
      FillInDecodedExtensions(ca);
      if (X509_STORE_add_cert(store, ca) != 1 || SSL_CTX_add_client_CA(c, ca) != 1) {
        return files.Ca(OpenSslError("cannot use a CA certificate"));
      }
    }
    SSL_CTX_set_verify(c,
                       SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE |
                           (config_.client_auth == ClientAuth::kRequire
                                ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                : 0),
                       nullptr);
    sid_input.append(*ca_pem);
    client_cas = cas->size();
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
  }
  unsigned char sid_ctx[EVP_MAX_MD_SIZE];
  unsigned int sid_len = 0;
  if (EVP_Digest(sid_input.data(), sid_input.size(), sid_ctx, &sid_len,
                 EVP_sha256(), nullptr) != 1 ||
      SSL_CTX_set_session_id_context(
          c, sid_ctx, std::min<unsigned int>(sid_len, SSL_MAX_SID_CTX_LENGTH)) != 1) {
    return OpenSslError("session id context");
  }

  Loaded loaded;
  loaded.summary =
      absl::StrCat("subject=", internal::NameToString(X509_get_subject_name(leaf)),
                   " issuer=", internal::NameToString(X509_get_issuer_name(leaf)),
                   " key=", internal::DescribeKey(key->get()), " not_after=", Rfc3339(not_after),
                   client_cas > 0 ? absl::StrCat(" client_cas=", client_cas) : std::string(),
                   " chain=", chain->size(), ChainEndNote(*chain));
  loaded.ctx = std::move(ctx);
  ERR_clear_error();
  return loaded;
}

absl::Status TlsContext::Reload() {
  std::lock_guard<std::mutex> reload_lock(reload_mu_);
  absl::StatusOr<Loaded> loaded = Load();
  if (!loaded.ok()) {
    shared_->counters.RecordReload(false);
    return absl::Status(loaded.status().code(),
                        absl::StrCat("keeping the previous certificate: ",
                                     loaded.status().message()));
  }
  SSL_CTX* old = nullptr;
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    old = ctx_;
    ctx_ = loaded->ctx.release();
    summary_ = std::move(loaded->summary);
    ++generation_;
  }
  SSL_CTX_free(old);  // freed for real when its last session ends
  shared_->counters.RecordReload(true);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TlsServerSession>> TlsContext::NewSession() {
  SSL* ssl = nullptr;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    ssl = SSL_new(ctx_);
  }
  absl::Status status;
  std::unique_ptr<TlsServerSession> session;
  if (ssl == nullptr) {
    status = absl::ResourceExhaustedError(absl::StrCat("SSL_new: ", internal::TakeOpenSslErrors()));
  } else {
    session.reset(new TlsServerSession(shared_, ssl));
    status = session->Init();
  }
  if (!status.ok()) {
    // Out of memory: counted as a handshake that failed (kInternal), so
    // every connection given to the context is counted somewhere.
    shared_->counters.RecordHandshakeFailure(TlsFailure::kInternal);
    return status;
  }
  return session;
}

void TlsContext::RotateTicketKeys() { shared_->ticket_keys.Rotate(); }

TlsStats TlsContext::stats() const {
  TlsStats s = shared_->counters.Snapshot();
  s.ticket_key_rotations = shared_->ticket_keys.rotations();
  return s;
}

uint64_t TlsContext::generation() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return generation_;
}

std::string TlsContext::certificate_summary() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return summary_;
}

}  // namespace brisk::tls
