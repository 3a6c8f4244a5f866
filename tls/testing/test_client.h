// Test-only TLS client on OpenSSL over memory BIOs, and a pump that moves
// bytes between it and a TlsServerSession until both are done, one fails,
// or nothing moves. No sockets, no threads, no clocks.
//
//   auto client = TestClient::Create({.trusted_ca_pem = pki.root.cert_pem,
//                                     .alpn = {"http/1.1"}});
//   auto server = context->NewSession();
//   HandshakeResult r = Handshake(**client, **server);
//   ASSERT_TRUE(r.ok());
//   (*client)->Write("ping");  std::string got = Deliver(**client, **server);
//
// Thread-safety: one TestClient per thread.
#ifndef BRISK_TLS_TESTING_TEST_CLIENT_H_
#define BRISK_TLS_TESTING_TEST_CLIENT_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "openssl/ssl.h"
#include "tls/server_session.h"
#include "tls/testing/test_certs.h"

namespace brisk::tls::testing {

struct ClientOptions {
  // PEM CA the client verifies the server against; empty: no verification.
  std::string trusted_ca_pem;
  std::vector<std::string> alpn;       // empty: no ALPN extension
  const Credential* certificate = nullptr;  // client certificate (mTLS)
  int min_version = 0;  // TLS1_VERSION ... TLS1_3_VERSION; 0: OpenSSL default
  int max_version = 0;
  std::string tls12_ciphers;  // empty: OpenSSL default
  std::string groups;         // empty: OpenSSL default
  // Security level 0 (needed to offer TLS 1.0/1.1 at all).
  bool allow_legacy = false;
  std::string server_name = "server.test";  // SNI
  SSL_SESSION* resume = nullptr;  // a session to offer (not owned)
};

class TestClient {
 public:
  static absl::StatusOr<std::unique_ptr<TestClient>> Create(const ClientOptions& options);
  ~TestClient();

  // Advances the handshake; true once it completed. Check failed().
  bool Step();
  bool handshake_done() const { return SSL_is_init_finished(ssl_) == 1; }
  bool failed() const { return !error_.empty(); }
  // The reason of a failure ("tlsv1 alert unknown ca", ...).
  const std::string& error() const { return error_; }

  void Feed(std::string_view from_server);  // ciphertext from the server
  std::string TakeOutput();                 // ciphertext for the server

  absl::Status Write(std::string_view plaintext);  // encrypts into the output
  // Decrypts whatever was fed (also processes TLS 1.3 session tickets).
  std::string Read();
  bool peer_closed() const { return peer_closed_; }
  void Shutdown();  // close_notify into the output

  // The session to resume later (owned by the caller: SSL_SESSION_free).
  SSL_SESSION* Get1Session() { return SSL_get1_session(ssl_); }
  SSL* ssl() { return ssl_; }
  // Subject CN of the certificate the server presented.
  std::string ServerCommonName() const;

 private:
  TestClient() = default;
  void RecordError(int ret);

  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // owned by ssl_
  BIO* out_ = nullptr;  // owned by ssl_
  std::string error_;
  bool peer_closed_ = false;
};

// How the pump cuts bytes before handing them to the server (and client).
struct Pump {
  size_t piece = 0;  // 0: whole flights; N: pieces of at most N bytes
  size_t max_rounds = 64;
  // If set, receives (+=) the thread CPU seconds spent inside the server's
  // OnReceived calls (benchmarks: server work apart from the client's).
  double* server_cpu_seconds = nullptr;
};

// CPU time of the calling thread, in seconds.
double ThreadCpuSeconds();

struct HandshakeResult {
  absl::Status server;  // the first non-OK status from the server, if any
  bool client_done = false;
  bool server_done = false;
  std::string server_plaintext;  // application data the server decrypted
  bool ok() const { return server.ok() && client_done && server_done; }
};

// Moves bytes both ways until both handshakes are done (and the client has
// read any tickets), the server or the client fails, or nothing moves.
HandshakeResult Handshake(TestClient& client, TlsServerSession& server,
                          const Pump& pump = {});

// Feeds everything the client has written to the server; returns the
// plaintext; what the server answers goes to the client. Sets *status.
std::string Deliver(TestClient& client, TlsServerSession& server,
                    absl::Status* status = nullptr, const Pump& pump = {});

// The first flight a client with `options` sends (its ClientHello).
absl::StatusOr<std::string> ClientHello(const ClientOptions& options);

}  // namespace brisk::tls::testing

#endif  // BRISK_TLS_TESTING_TEST_CLIENT_H_
