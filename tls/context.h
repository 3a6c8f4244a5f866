// TlsContext: one TLS server endpoint's configuration, loaded and verified,
// that makes a TlsServerSession per connection and swaps in new certificate
// files without a restart.
//
//   absl::StatusOr<std::unique_ptr<TlsContext>> context = TlsContext::Create(config);
//   if (!context.ok()) { print(context.status()); return 1; }  // names file and cause
//   ...
//   // per accepted connection, on its reactor thread:
//   absl::StatusOr<std::unique_ptr<TlsServerSession>> session = (*context)->NewSession();
//   ...
//   // on SIGHUP or an admin call, from any thread:
//   if (absl::Status s = (*context)->Reload(); !s.ok()) log(s);  // old files stay in use
//
// Loading (Create and Reload) checks that the files are readable, parse, and
// fit together: the key matches the leaf certificate, each chain
// certificate issued the one before it, the leaf is valid now (not expired,
// not yet to come), the client CA file holds at least one certificate. Errors
// name the file and the reason.
//
// Reload re-reads the same paths. On success, sessions created afterwards use
// the new files; sessions created before keep the certificate they started
// with until they end (each holds a reference on the OpenSSL context it was
// made from). On failure nothing changes and the status says why. Session
// tickets survive a reload (the ticket key ring and the counters belong to
// the TlsContext, not to one load of the files); a reload that changes the
// client CA file or mode makes old tickets fall back to a full handshake, so
// no resumed session skips the new client-certificate check.
//
// Thread-safety: every method may be called from any thread concurrently
// (NewSession takes a reader lock for a pointer copy; Reload builds the new
// OpenSSL context outside the lock, so handshakes never wait for file IO).
// Sessions may outlive the TlsContext (they share its counters and ticket
// keys by reference count).
#ifndef BRISK_TLS_CONTEXT_H_
#define BRISK_TLS_CONTEXT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tls/counters.h"
#include "tls/server_config.h"
#include "tls/server_session.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace brisk::tls {

namespace internal {
struct ContextShared;
}  // namespace internal

class TlsContext {
 public:
  using Clock = std::function<absl::Time()>;

  // Loads and validates `config`'s files. `now` (any thread) decides
  // certificate validity and ticket key rotation; null means absl::Now.
  static absl::StatusOr<std::unique_ptr<TlsContext>> Create(
      TlsServerConfig config, Clock now = nullptr);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // A server session for one new connection, using the files of the latest
  // successful load. Fails only when OpenSSL is out of memory
  // (ResourceExhausted), counted as a kInternal handshake failure.
  absl::StatusOr<std::unique_ptr<TlsServerSession>> NewSession();

  // Re-reads the configured files. OK: new sessions use them. Error: the
  // previous files stay in use; the message begins with "keeping the
  // previous certificate" and names the file and the reason.
  absl::Status Reload();

  // Starts a new ticket key at once (the current one still opens tickets
  // until the next rotation). Rotation also happens every
  // config().ticket_key_rotation.
  void RotateTicketKeys();

  // Counters of every session made by this context, plus reloads and key
  // rotations.
  TlsStats stats() const;

  // 1 after Create, +1 per successful Reload.
  uint64_t generation() const;
  // The certificate in use, for logs: "subject=CN=x issuer=CN=y key=ECDSA
  // P-256 not_after=2027-01-01T00:00:00+00:00 chain=2"; with client
  // certificates, " client_cas=N" (the CAs the file gave) before " chain=".
  std::string certificate_summary() const;

  const TlsServerConfig& config() const { return config_; }

 private:
  struct Loaded;
  TlsContext(TlsServerConfig config, Clock now,
             std::shared_ptr<internal::ContextShared> shared);
  absl::StatusOr<Loaded> Load() const;

  const TlsServerConfig config_;
  const Clock now_;
  const std::shared_ptr<internal::ContextShared> shared_;

  // Standard (pthread) locks, which TSan sees; Debian's abseil is not
  // instrumented.
  std::mutex reload_mu_;  // serialises Reload() calls
  mutable std::shared_mutex mu_;
  SSL_CTX* ctx_ = nullptr;  // guarded by mu_; owns one reference
  std::string summary_;  // guarded by mu_
  uint64_t generation_ = 0;  // guarded by mu_
};

}  // namespace brisk::tls

#endif  // BRISK_TLS_CONTEXT_H_
