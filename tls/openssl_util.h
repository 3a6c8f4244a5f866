// Internal helpers over OpenSSL 3 for the tls/ package: owning pointers,
// error-queue text, PEM parsing with messages that name the file, and
// certificate descriptions. Not part of the public API.
//
// Thread-safety: free functions; OpenSSL's error queue is per thread, and
// every function that can leave errors on it drains it before returning.
#ifndef BRISK_TLS_OPENSSL_UTIL_H_
#define BRISK_TLS_OPENSSL_UTIL_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "openssl/evp.h"
#include "openssl/ssl.h"
#include "openssl/x509.h"
#include "tls/peer_identity.h"

namespace brisk::tls::internal {

template <auto Free>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using UniqueSslCtx = std::unique_ptr<SSL_CTX, OpenSslDeleter<SSL_CTX_free>>;
using UniqueSsl = std::unique_ptr<SSL, OpenSslDeleter<SSL_free>>;
using UniqueX509 = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using UniqueEvpPkey = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using UniqueBio = std::unique_ptr<BIO, OpenSslDeleter<BIO_free_all>>;
using UniqueX509Store = std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE_free>>;
using UniqueX509StoreCtx =
    std::unique_ptr<X509_STORE_CTX, OpenSslDeleter<X509_STORE_CTX_free>>;

// The reasons on this thread's OpenSSL error queue, "; "-joined, oldest
// first ("unexpected message; ..."); clears the queue. "" when empty.
std::string TakeOpenSslErrors();

// The whole file, or an error naming `what` and `path` ("cannot read
// certificate chain file '/x': No such file or directory").
absl::StatusOr<std::string> ReadFileToString(absl::string_view what,
                                             const std::string& path);

// OK unless a PEM block of `pem` is cut off: the input ends inside a
// -----BEGIN line (from its first dash), or a BEGIN line has no -----END
// line after it, as in a file read while it is being written. OpenSSL
// reads such a tail as the end of the input, so a chain or CA bundle cut
// there would load with a certificate fewer and no error. A cut exactly
// between two blocks cannot be seen: only writing a new file and renaming
// it over the old one guards against that. Text outside blocks is allowed
// (RFC 7468 §5.2).
absl::Status CheckPemBlocksComplete(std::string_view pem);

// Every PEM "CERTIFICATE" block of `pem`, in order. Error when there is none,
// one does not parse or one is cut off (CheckPemBlocksComplete). Messages do
// not name the file (callers prefix it).
absl::StatusOr<std::vector<UniqueX509>> ParsePemCertificates(
    std::string_view pem);

// The first PEM private key of `pem` (PKCS#8, "RSA PRIVATE KEY", "EC PRIVATE
// KEY"); encrypted keys are refused (no passphrase prompt).
absl::StatusOr<UniqueEvpPkey> ParsePemPrivateKey(std::string_view pem);

std::string NameToString(const X509_NAME* name);  // RFC 2253 one line
std::string DescribeKey(const EVP_PKEY* key);     // "ECDSA P-256", "RSA 2048"
absl::Time Asn1TimeToAbsl(const ASN1_TIME* t);    // InfinitePast on failure

// subject, issuer, serial, fingerprint and SANs of `cert`.
PeerIdentity IdentityFromCertificate(X509* cert);

}  // namespace brisk::tls::internal

#endif  // BRISK_TLS_OPENSSL_UTIL_H_
