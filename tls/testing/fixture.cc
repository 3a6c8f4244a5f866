#include "tls/testing/fixture.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <utility>

namespace brisk::tls::testing {
namespace {

template <typename T>
T Must(absl::StatusOr<T> value, const char* what) {
  if (!value.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, value.status().ToString().c_str());
    std::abort();
  }
  return *std::move(value);
}

}  // namespace

TlsServerConfig TlsFixture::Config(const Credential& server, ClientAuth client_auth) const {
  TlsServerConfig config;
  config.cert_chain_file = dir.Write("chain.pem", server.chain_pem);
  config.key_file = dir.Write("key.pem", server.key_pem);
  config.client_auth = client_auth;
  if (client_auth != ClientAuth::kNone) {
    config.client_ca_file = dir.Write("client_ca.pem", pki.root.cert_pem);
  }
  return config;
}

std::unique_ptr<TlsContext> TlsFixture::Context(const TlsServerConfig& config,
                                                TlsContext::Clock now) const {
  return Must(TlsContext::Create(config, std::move(now)), "TlsContext::Create");
}

std::unique_ptr<TlsServerSession> TlsFixture::Session(TlsContext& context) {
  return Must(context.NewSession(), "TlsContext::NewSession");
}

std::unique_ptr<TestClient> TlsFixture::Client(ClientOptions options) const {
  if (options.trusted_ca_pem.empty()) options.trusted_ca_pem = pki.root.cert_pem;
  return Must(TestClient::Create(options), "TestClient::Create");
}

}  // namespace brisk::tls::testing
