#include "tls/testing/test_certs.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "openssl/bn.h"
#include "openssl/evp.h"
#include "openssl/pem.h"
#include "openssl/rand.h"
#include "openssl/x509.h"
#include "openssl/x509v3.h"
#include "tls/openssl_util.h"

namespace brisk::tls::testing {
namespace {

using internal::UniqueBio;
using internal::UniqueEvpPkey;
using internal::UniqueX509;

absl::Status Error(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", internal::TakeOpenSslErrors()));
}

std::string ReadBio(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

absl::StatusOr<std::string> CertPem(X509* cert) {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return Error("PEM_write_bio_X509");
  }
  return ReadBio(bio.get());
}

absl::StatusOr<std::string> KeyPem(EVP_PKEY* key) {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr,
                                                 0, nullptr, nullptr) != 1) {
    return Error("PEM_write_bio_PrivateKey");
  }
  return ReadBio(bio.get());
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return Error(absl::StrCat("extension ", value));
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? absl::OkStatus() : Error("X509_add_ext");
}

}  // namespace

absl::StatusOr<Credential> Issue(const CertSpec& spec, const Credential* issuer) {
  UniqueEvpPkey key(
      spec.key_type == KeyType::kEcdsaP256
          ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
          : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA",
                              size_t{spec.key_type == KeyType::kRsa2048 ? 2048u : 1024u}));
  if (key == nullptr) return Error("key generation");

  UniqueX509 issuer_cert;
  UniqueEvpPkey issuer_key;
  if (issuer != nullptr) {
    auto certs = internal::ParsePemCertificates(issuer->cert_pem);
    if (!certs.ok()) return certs.status();
    issuer_cert = std::move((*certs)[0]);
    auto k = internal::ParsePemPrivateKey(issuer->key_pem);
    if (!k.ok()) return k.status();
    issuer_key = std::move(*k);
  }

  UniqueX509 cert(X509_new());
  if (cert == nullptr) return Error("X509_new");
  X509* c = cert.get();
  uint64_t serial = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof(serial));
  serial >>= 1;  // positive
  const time_t now = time(nullptr);
  X509_NAME* name = X509_get_subject_name(c);
  if (X509_set_version(c, X509_VERSION_3) != 1 ||
      ASN1_INTEGER_set_uint64(X509_get_serialNumber(c), serial) != 1 ||
      ASN1_TIME_adj(X509_getm_notBefore(c), now, 0,
                    absl::ToInt64Seconds(spec.not_before)) == nullptr ||
      ASN1_TIME_adj(X509_getm_notAfter(c), now, 0,
                    absl::ToInt64Seconds(spec.not_after)) == nullptr ||
      X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("brisk test"),
                                 -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_txt(
          name, "CN", MBSTRING_ASC,
          reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1, -1,
          0) != 1 ||
      X509_set_issuer_name(c, issuer_cert != nullptr
                                  ? X509_get_subject_name(issuer_cert.get())
                                  : name) != 1 ||
      X509_set_pubkey(c, key.get()) != 1) {
    return Error("certificate fields");
  }
  X509* signer = issuer_cert != nullptr ? issuer_cert.get() : c;
  absl::Status s = AddExtension(c, signer, NID_basic_constraints,
                                spec.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (s.ok()) {
    s = AddExtension(c, signer, NID_key_usage,
                     spec.is_ca ? "critical,keyCertSign,cRLSign"
                                : "critical,digitalSignature,keyEncipherment");
  }
  if (s.ok()) s = AddExtension(c, signer, NID_subject_key_identifier, "hash");
  if (s.ok() && issuer != nullptr) {
    s = AddExtension(c, signer, NID_authority_key_identifier, "keyid:always");
  }
  if (s.ok() && !spec.alt_names.empty()) {
    s = AddExtension(c, signer, NID_subject_alt_name, absl::StrJoin(spec.alt_names, ","));
  }
  if (s.ok() && !spec.extended_key_usage.empty()) {
    s = AddExtension(c, signer, NID_ext_key_usage, spec.extended_key_usage);
  }
  if (!s.ok()) return s;
  if (X509_sign(c, issuer_key != nullptr ? issuer_key.get() : key.get(),
                EVP_sha256()) == 0) {
    return Error("X509_sign");
  }

  Credential out;
  absl::StatusOr<std::string> cert_pem = CertPem(c);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = KeyPem(key.get());
  if (!key_pem.ok()) return key_pem.status();
  out.cert_pem = *std::move(cert_pem);
  out.key_pem = *std::move(key_pem);
  out.chain_pem = out.cert_pem;
  // The chain stops below the root: append the issuer's chain unless the
  // issuer is self-signed.
  if (issuer != nullptr &&
      X509_check_issued(issuer_cert.get(), issuer_cert.get()) != X509_V_OK) {
    out.chain_pem += issuer->chain_pem;
  }
  return out;
}

const TestPki& SharedTestPki() {
  static const TestPki* pki = [] {
    auto must = [](absl::StatusOr<Credential> c) {
      if (!c.ok()) {
        std::fprintf(stderr, "test PKI: %s\n", c.status().ToString().c_str());
        std::abort();
      }
      return *std::move(c);
    };
    auto* p = new TestPki;
    CertSpec ca{.common_name = "brisk test root CA", .is_ca = true};
    p->root = must(Issue(ca, nullptr));
    CertSpec inter{.common_name = "brisk test intermediate CA", .is_ca = true};
    p->intermediate = must(Issue(inter, &p->root));
    CertSpec server{.common_name = "server.test",
                    .alt_names = {"DNS:server.test", "DNS:localhost", "IP:127.0.0.1"},
                    .extended_key_usage = "serverAuth"};
    p->server_ecdsa = must(Issue(server, &p->intermediate));
    CertSpec server2 = server;
    server2.common_name = "server2.test";
    p->server_ecdsa_alt = must(Issue(server2, &p->intermediate));
    CertSpec server_rsa = server;
    server_rsa.key_type = KeyType::kRsa2048;
    p->server_rsa = must(Issue(server_rsa, &p->intermediate));
    CertSpec client{.common_name = "client.test",
                    .alt_names = {"DNS:client.test", "URI:spiffe://brisk.test/client",
                                  "email:client@brisk.test", "IP:192.0.2.7",
                                  "IP:2001:db8::7"},
                    .extended_key_usage = "clientAuth"};
    p->client = must(Issue(client, &p->root));
    CertSpec expired = client;
    expired.common_name = "expired.test";
    expired.not_before = -absl::Hours(48);
    expired.not_after = -absl::Hours(1);
    p->client_expired = must(Issue(expired, &p->root));
    CertSpec other{.common_name = "some other CA", .is_ca = true};
    p->other_root = must(Issue(other, nullptr));
    CertSpec untrusted = client;
    untrusted.common_name = "untrusted.test";
    p->client_untrusted = must(Issue(untrusted, &p->other_root));
    return p;
  }();
  return *pki;
}

}  // namespace brisk::tls::testing
