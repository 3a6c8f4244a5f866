#include "tls/testing/test_client.h"

#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "openssl/err.h"
#include "openssl/x509.h"
#include "tls/openssl_util.h"

namespace brisk::tls::testing {
namespace {

absl::Status Error(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", internal::TakeOpenSslErrors()));
}

// Feeds `bytes` to the server whole or in pieces, each piece in an exactly
// sized heap buffer (so ASan catches a read past it).
absl::Status FeedServer(TlsServerSession& server, std::string_view bytes,
                        const Pump& pump, std::string* plaintext, std::string* to_client) {
  const size_t piece = pump.piece == 0 ? bytes.size() : pump.piece;
  while (!bytes.empty()) {
    const size_t n = std::min(piece, bytes.size());
    auto buf = std::make_unique<char[]>(n);
    std::memcpy(buf.get(), bytes.data(), n);
    bytes.remove_prefix(n);
    const double start = pump.server_cpu_seconds != nullptr ? ThreadCpuSeconds() : 0;
    absl::Status s = server.OnReceived(std::string_view(buf.get(), n), plaintext, to_client);
    if (pump.server_cpu_seconds != nullptr) {
      *pump.server_cpu_seconds += ThreadCpuSeconds() - start;
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

absl::StatusOr<std::unique_ptr<TestClient>> TestClient::Create(
    const ClientOptions& options) {
  std::unique_ptr<TestClient> client(new TestClient);
  client->ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX* ctx = client->ctx_;
  if (ctx == nullptr) return Error("SSL_CTX_new");
  if (options.allow_legacy) SSL_CTX_set_security_level(ctx, 0);
  if ((options.min_version != 0 &&
       SSL_CTX_set_min_proto_version(ctx, options.min_version) != 1) ||
      (options.max_version != 0 &&
       SSL_CTX_set_max_proto_version(ctx, options.max_version) != 1)) {
    return Error("versions");
  }
  if (!options.tls12_ciphers.empty() &&
      SSL_CTX_set_cipher_list(ctx, options.tls12_ciphers.c_str()) != 1) {
    return Error("cipher list");
  }
  if (!options.groups.empty() && SSL_CTX_set1_groups_list(ctx, options.groups.c_str()) != 1) {
    return Error("groups");
  }
  if (!options.trusted_ca_pem.empty()) {
    auto cas = internal::ParsePemCertificates(options.trusted_ca_pem);
    if (!cas.ok()) return cas.status();
    for (const auto& ca : *cas) X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca.get());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  if (options.certificate != nullptr) {
    auto chain = internal::ParsePemCertificates(options.certificate->chain_pem);
    if (!chain.ok()) return chain.status();
    auto key = internal::ParsePemPrivateKey(options.certificate->key_pem);
    if (!key.ok()) return key.status();
    if (SSL_CTX_use_certificate(ctx, (*chain)[0].get()) != 1) return Error("client cert");
    for (size_t i = 1; i < chain->size(); ++i) {
      SSL_CTX_add1_chain_cert(ctx, (*chain)[i].get());
    }
    if (SSL_CTX_use_PrivateKey(ctx, key->get()) != 1) return Error("client key");
  }
  if (!options.alpn.empty()) {
    std::string wire;
    for (const std::string& p : options.alpn) {
      wire.push_back(static_cast<char>(p.size()));
      wire += p;
    }
    // Returns 0 on success (sic).
    if (SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned int>(wire.size())) != 0) {
      return Error("alpn");
    }
  }
  client->ssl_ = SSL_new(ctx);
  if (client->ssl_ == nullptr) return Error("SSL_new");
  client->in_ = BIO_new(BIO_s_mem());
  client->out_ = BIO_new(BIO_s_mem());
  if (client->in_ == nullptr || client->out_ == nullptr) return Error("BIO_new");
  SSL_set_bio(client->ssl_, client->in_, client->out_);
  SSL_set_connect_state(client->ssl_);
  if (!options.server_name.empty()) {
    SSL_set_tlsext_host_name(client->ssl_, options.server_name.c_str());
  }
  if (options.resume != nullptr && SSL_set_session(client->ssl_, options.resume) != 1) {
    return Error("SSL_set_session");
  }
  ERR_clear_error();
  return client;
}

TestClient::~TestClient() {
  SSL_free(ssl_);
  SSL_CTX_free(ctx_);
}

void TestClient::RecordError(int ret) {
  const int e = SSL_get_error(ssl_, ret);
  std::string text = internal::TakeOpenSslErrors();
  error_ = text.empty() ? absl::StrCat("SSL_get_error ", e) : text;
}

bool TestClient::Step() {
  if (handshake_done()) return true;
  if (failed()) return false;
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) return true;
  if (SSL_get_error(ssl_, r) != SSL_ERROR_WANT_READ) RecordError(r);
  return false;
}

void TestClient::Feed(std::string_view from_server) {
  if (!from_server.empty()) {
    BIO_write(in_, from_server.data(), static_cast<int>(from_server.size()));
  }
}

std::string TestClient::TakeOutput() {
  std::string out;
  char* data = nullptr;
  const long n = BIO_get_mem_data(out_, &data);
  if (n > 0) out.assign(data, static_cast<size_t>(n));
  (void)BIO_reset(out_);
  return out;
}

absl::Status TestClient::Write(std::string_view plaintext) {
  ERR_clear_error();
  size_t written = 0;
  if (SSL_write_ex(ssl_, plaintext.data(), plaintext.size(), &written) != 1) {
    return Error("client SSL_write");
  }
  return absl::OkStatus();
}

std::string TestClient::Read() {
  std::string out;
  char buf[16384];
  for (;;) {
    ERR_clear_error();
    size_t n = 0;
    const int r = SSL_read_ex(ssl_, buf, sizeof(buf), &n);
    if (r == 1) {
      out.append(buf, n);
      continue;
    }
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_ZERO_RETURN) peer_closed_ = true;
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_ZERO_RETURN) RecordError(r);
    return out;
  }
}

void TestClient::Shutdown() {
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

std::string TestClient::ServerCommonName() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) return "";
  char cn[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
  return cn;
}

HandshakeResult Handshake(TestClient& client, TlsServerSession& server, const Pump& pump) {
  HandshakeResult result;
  int idle = 0;
  for (size_t round = 0; round < pump.max_rounds && idle < 2; ++round) {
    if (client.handshake_done()) {
      client.Read();  // session tickets
    } else {
      client.Step();
    }
    const std::string to_server = client.TakeOutput();
    std::string to_client;
    if (!to_server.empty()) {
      result.server =
          FeedServer(server, to_server, pump, &result.server_plaintext, &to_client);
    }
    client.Feed(to_client);
    if (!result.server.ok()) {
      // Let the client read the alert (a TLS 1.3 client has finished its
      // side before the server checks its certificate).
      if (client.handshake_done()) {
        client.Read();
      } else {
        client.Step();
      }
      break;
    }
    if (client.failed()) break;
    idle = (to_server.empty() && to_client.empty()) ? idle + 1 : 0;
  }
  result.client_done = client.handshake_done() && !client.failed();
  result.server_done = server.handshake_done();
  return result;
}

std::string Deliver(TestClient& client, TlsServerSession& server, absl::Status* status,
                    const Pump& pump) {
  std::string plaintext, to_client;
  absl::Status s = FeedServer(server, client.TakeOutput(), pump, &plaintext, &to_client);
  client.Feed(to_client);
  if (status != nullptr) *status = s;
  return plaintext;
}

absl::StatusOr<std::string> ClientHello(const ClientOptions& options) {
  auto client = TestClient::Create(options);
  if (!client.ok()) return client.status();
  (*client)->Step();
  return (*client)->TakeOutput();
}

}  // namespace brisk::tls::testing
