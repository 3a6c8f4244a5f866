// Test-only fixture pieces shared by the tls/ tests, benchmark and fuzzer:
// a server config over the shared test PKI written to a temp dir, a context
// made from it, and clients that trust the test root.
//
//   TlsFixture f;
//   std::unique_ptr<TlsContext> context = f.Context(f.Config());
//   std::unique_ptr<TlsServerSession> server = f.Session(*context);
//   std::unique_ptr<TestClient> client = f.Client({.alpn = {"http/1.1"}});
//
// Failures abort with a message (these are test preconditions). One fixture
// per test; not thread-safe, but Context()/Session()/Client() results may be
// used on other threads.
#ifndef BRISK_TLS_TESTING_FIXTURE_H_
#define BRISK_TLS_TESTING_FIXTURE_H_

#include <memory>

#include "tls/context.h"
#include "tls/server_config.h"
#include "tls/server_session.h"
#include "tls/testing/test_certs.h"
#include "tls/testing/test_client.h"

namespace brisk::tls::testing {

class TlsFixture {
 public:
  const TestPki& pki = SharedTestPki();
  TempDir dir;

  // cert_chain_file/key_file = `server` (written as chain.pem/key.pem); with
  // client_auth other than kNone, client_ca_file = the test root.
  TlsServerConfig Config(const Credential& server, ClientAuth client_auth = ClientAuth::kNone) const;
  TlsServerConfig Config() const { return Config(pki.server_ecdsa); }

  std::unique_ptr<TlsContext> Context(const TlsServerConfig& config,
                                      TlsContext::Clock now = nullptr) const;
  static std::unique_ptr<TlsServerSession> Session(TlsContext& context);
  // `options` with trusted_ca_pem defaulted to the test root.
  std::unique_ptr<TestClient> Client(ClientOptions options = {}) const;
};

}  // namespace brisk::tls::testing

#endif  // BRISK_TLS_TESTING_FIXTURE_H_
