// TlsServerConfig: everything a TLS server endpoint is configured with — the
// certificate files, client authentication (mTLS), protocol versions,
// ciphers, ALPN and session resumption. A plain value; TlsContext::Create
// validates it and loads the files.
//
//   brisk::tls::TlsServerConfig config;
//   config.cert_chain_file = "/etc/brisk/server.pem";   // leaf, then intermediates
//   config.key_file = "/etc/brisk/server.key";
//   config.client_ca_file = "/etc/brisk/clients-ca.pem";
//   config.client_auth = brisk::tls::ClientAuth::kRequire;
//   auto context = brisk::tls::TlsContext::Create(config);
//
// Defaults follow Mozilla's "intermediate" profile without DHE: TLS 1.2 and
// 1.3; in TLS 1.2 only ECDHE key exchange with AES-GCM or ChaCha20-Poly1305;
// TLS 1.3's own suites; groups X25519, P-256, P-384; the client's cipher
// preference (every offered suite is strong, and clients without AES
// hardware put ChaCha20 first).
#ifndef BRISK_TLS_SERVER_CONFIG_H_
#define BRISK_TLS_SERVER_CONFIG_H_

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace brisk::tls {

// Whether the server asks the client for a certificate.
enum class ClientAuth {
  kNone,     // never asks; PeerIdentity stays empty
  kRequest,  // asks; a client may send none, but one it sends must verify
  kRequire,  // asks and fails the handshake without a verified certificate
};

enum class TlsVersion { kTls12, kTls13 };

// TLS 1.2 suites (OpenSSL cipher-list syntax): ECDHE only, AEAD only.
inline constexpr char kDefaultTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
inline constexpr char kDefaultGroups[] = "X25519:P-256:P-384";

struct TlsServerConfig {
  // PEM: the server's certificate first, then the intermediates that lead
  // to the root (the root itself may be left out). Each certificate must
  // have been issued by the one after it.
  std::string cert_chain_file;
  // PEM private key of the first certificate (PKCS#8 or traditional RSA/EC;
  // not encrypted).
  std::string key_file;
  // PEM: the CAs that issue client certificates. Required unless
  // client_auth is kNone, and refused when it is kNone (a CA that is never
  // used is a configuration mistake).
  std::string client_ca_file;
  ClientAuth client_auth = ClientAuth::kNone;

  TlsVersion min_version = TlsVersion::kTls12;
  // TLS 1.2 suites; empty means kDefaultTls12Ciphers.
  std::string tls12_ciphers;
  // TLS 1.3 suites (SSL_CTX_set_ciphersuites syntax); empty means OpenSSL's
  // defaults (AES-256-GCM, ChaCha20-Poly1305, AES-128-GCM).
  std::string tls13_ciphersuites;
  // Key-exchange groups; empty means kDefaultGroups.
  std::string groups;

  // ALPN protocols in the server's order of preference. A client without
  // ALPN is served; a client whose ALPN list shares none of these gets a
  // fatal no_application_protocol alert (RFC 7301 §3.2; nginx does the same
  // since 1.21.4). The default is what an HTTP/1.1 server speaks: http/1.1,
  // then http/1.0 (`curl --http1.0` offers only that; nginx accepts it too).
  // Empty disables ALPN (the extension is ignored).
  std::vector<std::string> alpn_protocols = {"http/1.1", "http/1.0"};

  // Stateless session resumption with tickets (TLS 1.2 session tickets and
  // TLS 1.3 PSK tickets), sealed with keys that rotate every
  // ticket_key_rotation (see ticket_key_ring.h). A resumed session is valid
  // for ticket_key_rotation after its full handshake (through any number of
  // resumptions), and never past its client certificate's expiry.
  bool session_tickets = true;
  absl::Duration ticket_key_rotation = absl::Hours(1);

  // SSL_MODE_RELEASE_BUFFERS: an idle connection gives its 16 KiB read and
  // write record buffers back (see README for the measured effect).
  bool release_idle_buffers = true;
};

}  // namespace brisk::tls

#endif  // BRISK_TLS_SERVER_CONFIG_H_
