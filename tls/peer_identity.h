// PeerIdentity: who the client is, from the certificate it presented and the
// server verified (mTLS). Empty when the client sent no certificate or client
// authentication is off.
//
//   const PeerIdentity& id = session->peer();
//   if (!id.empty()) access_log.Add("client", id.subject);   // "CN=svc-a,O=acme"
//   for (const std::string& uri : id.uris) ...               // SPIFFE IDs etc.
//
// A plain value (copyable); no OpenSSL types.
#ifndef BRISK_TLS_PEER_IDENTITY_H_
#define BRISK_TLS_PEER_IDENTITY_H_

#include <string>
#include <vector>

namespace brisk::tls {

struct PeerIdentity {
  std::string subject;  // RFC 2253 form, most specific first: "CN=a,O=b"
  std::string issuer;   // same form
  std::string serial;   // hex, upper case
  std::string sha256_fingerprint;  // hex, lower case, of the DER certificate
  // subjectAltName entries, in certificate order. The DNS, URI and email
  // entries are printable ASCII: a byte outside 0x20-0x7E, and the
  // backslash itself, is written \xHH (upper-case hex), so a value is safe
  // to log and compare and an escape is never ambiguous (a certificate's
  // `a\b.example` reads `a\x5Cb.example`). Well-formed names have none.
  std::vector<std::string> dns_names;
  std::vector<std::string> uris;
  std::vector<std::string> emails;
  std::vector<std::string> ip_addresses;  // "192.0.2.1", "2001:db8::1"

  bool empty() const { return subject.empty() && sha256_fingerprint.empty(); }
};

}  // namespace brisk::tls

#endif  // BRISK_TLS_PEER_IDENTITY_H_
