// A blocking HTTPS client for tests: RawClient (connect to 127.0.0.1, send
// exact bytes, read responses one by one) over TLS, using the tls/ package's
// OpenSSL test client (tls/testing/test_client.h) for the handshake and the
// records, so it can offer any version, ALPN list, client certificate or
// session to resume. Every read has the RawClient's guard timeout.
//
//   const auto& pki = brisk::tls::testing::SharedTestPki();
//   TlsClient c(port, {.trusted_ca_pem = pki.root.cert_pem, .alpn = {"http/1.1"}});
//   ASSERT_TRUE(c.handshake_done()) << c.error();
//   c.Send(Get("/hello"));
//   std::optional<RawResponse> r = c.Read();
//
// Under TLS 1.3 the client finishes its handshake before the server has
// checked its certificate: a refused client certificate shows as a first
// Read() that fails (error() names the alert) and WaitClosed() being true.
#ifndef BRISK_SERVER_TESTING_TLS_CLIENT_H_
#define BRISK_SERVER_TESTING_TLS_CLIENT_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "server/testing/raw_client.h"
#include "tls/testing/test_client.h"

namespace brisk::testing {

class TlsClient : public RawClient {
 public:
  // Connects and runs the handshake (see handshake_done(), error()); with
  // `handshake` false, only connects (a client that is slow to start its
  // handshake): Handshake() runs it later.
  TlsClient(uint16_t port, const tls::testing::ClientOptions& options,
            std::chrono::milliseconds guard = std::chrono::seconds(20),
            bool handshake = true);
  ~TlsClient() override;

  // Runs the handshake to its end; returns handshake_done().
  bool Handshake();

  // The client's side of the handshake completed.
  bool handshake_done() const;
  // What went wrong on the client's side ("... alert certificate required").
  std::string error() const;
  // Resumed a session given in options.resume.
  bool resumed();
  // The server sent close_notify.
  bool peer_closed() const { return tls_ != nullptr && tls_->peer_closed(); }
  // The OpenSSL client, e.g. for Get1Session(), ServerCommonName().
  tls::testing::TestClient& tls() { return *tls_; }
  // Sends close_notify.
  void SendCloseNotify();

 protected:
  ssize_t Receive(char* buf, size_t size) override;
  bool Transmit(std::string_view bytes) override;

 private:
  bool SendTlsOutput();

  std::unique_ptr<tls::testing::TestClient> tls_;
  std::string setup_error_;
  std::string plain_;  // decrypted, not yet returned by Receive()
};

}  // namespace brisk::testing

#endif  // BRISK_SERVER_TESTING_TLS_CLIENT_H_
