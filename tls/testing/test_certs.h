// Test-only PKI made at run time with OpenSSL (no private key is ever
// committed): CAs, server certificates (ECDSA P-256 and RSA-2048, issued by
// an intermediate), client certificates (good, expired, from an untrusted
// CA), and a temp directory to write them to for file-based configs.
//
//   const TestPki& pki = SharedTestPki();       // made once per process
//   TempDir dir;
//   TlsServerConfig config;
//   config.cert_chain_file = dir.Write("chain.pem", pki.server_ecdsa.chain_pem);
//   config.key_file = dir.Write("key.pem", pki.server_ecdsa.key_pem);
//
// Thread-safety: SharedTestPki() is safe from any thread (made once);
// Issue() is a pure function; a TempDir belongs to one test.
#ifndef BRISK_TLS_TESTING_TEST_CERTS_H_
#define BRISK_TLS_TESTING_TEST_CERTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "testing/temp_dir.h"

namespace brisk::tls::testing {

// kRsa1024: below OpenSSL's default security level, for refusal tests.
enum class KeyType { kEcdsaP256, kRsa2048, kRsa1024 };

// A certificate and its private key, PEM.
struct Credential {
  std::string cert_pem;   // this certificate alone
  std::string chain_pem;  // this certificate, then its issuers (no root)
  std::string key_pem;    // PKCS#8, unencrypted
};

struct CertSpec {
  std::string common_name;
  KeyType key_type = KeyType::kEcdsaP256;
  bool is_ca = false;
  // Valid from not_before to not_after (relative to absl::Now()).
  absl::Duration not_before = -absl::Hours(1);
  absl::Duration not_after = absl::Hours(24 * 30);
  // subjectAltName entries, OpenSSL syntax: "DNS:localhost", "IP:127.0.0.1",
  // "URI:spiffe://brisk/test", "email:a@example.com".
  std::vector<std::string> alt_names;
  // Extended key usage: "serverAuth", "clientAuth" (empty: none).
  std::string extended_key_usage;
};

// A certificate for `spec`, signed by `issuer` (self-signed when null).
absl::StatusOr<Credential> Issue(const CertSpec& spec, const Credential* issuer);

struct TestPki {
  Credential root;              // self-signed CA: trust anchor of servers and clients
  Credential intermediate;      // CA issued by root
  Credential server_ecdsa;      // CN=server.test, P-256, issued by intermediate
  Credential server_ecdsa_alt;  // CN=server2.test, P-256 (a rotated cert)
  Credential server_rsa;        // CN=server.test, RSA-2048, issued by intermediate
  Credential client;            // CN=client.test, issued by root, with SANs
  Credential client_expired;    // issued by root, expired an hour ago
  Credential other_root;        // an unrelated CA
  Credential client_untrusted;  // issued by other_root
};

// Made on first use (RSA key generation is slow), then shared.
const TestPki& SharedTestPki();

// A fresh directory under $TEST_TMPDIR (or /tmp), removed with its files;
// Write() replaces a file atomically, as a deploy script would.
using TempDir = ::brisk::testing::TempDir;

}  // namespace brisk::tls::testing

#endif  // BRISK_TLS_TESTING_TEST_CERTS_H_
