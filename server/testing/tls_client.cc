#include "server/testing/tls_client.h"

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <utility>

#include "openssl/ssl.h"

namespace brisk::testing {

TlsClient::TlsClient(uint16_t port, const tls::testing::ClientOptions& options,
                     std::chrono::milliseconds guard, bool handshake)
    : RawClient(port, guard) {
  absl::StatusOr<std::unique_ptr<tls::testing::TestClient>> client =
      tls::testing::TestClient::Create(options);
  if (!client.ok()) {
    setup_error_ = std::string(client.status().message());
    return;
  }
  tls_ = *std::move(client);
  if (handshake) Handshake();
}

bool TlsClient::Handshake() {
  if (tls_ == nullptr || !connected()) return false;
  char buf[16384];
  for (;;) {
    const bool done = tls_->Step();
    if (!SendTlsOutput() || done || tls_->failed()) return handshake_done();
    const ssize_t n = ReceiveFromSocket(buf, sizeof(buf));
    if (n <= 0) return false;
    tls_->Feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

TlsClient::~TlsClient() = default;

bool TlsClient::handshake_done() const {
  return tls_ != nullptr && tls_->handshake_done() && !tls_->failed();
}

std::string TlsClient::error() const {
  if (tls_ == nullptr) return setup_error_;
  return tls_->error();
}

bool TlsClient::resumed() {
  return tls_ != nullptr && SSL_session_reused(tls_->ssl()) == 1;
}

bool TlsClient::SendTlsOutput() {
  const std::string out = tls_->TakeOutput();
  return out.empty() || SendToSocket(out);
}

void TlsClient::SendCloseNotify() {
  if (tls_ == nullptr) return;
  tls_->Shutdown();
  SendTlsOutput();
}

bool TlsClient::Transmit(std::string_view bytes) {
  if (tls_ == nullptr || !tls_->Write(bytes).ok()) return false;
  return SendTlsOutput();
}

ssize_t TlsClient::Receive(char* buf, size_t size) {
  if (tls_ == nullptr) {
    errno = ENOTCONN;
    return -1;
  }
  char wire[16384];
  while (plain_.empty()) {
    if (tls_->failed()) {
      errno = EPROTO;
      return -1;
    }
    if (tls_->peer_closed()) return 0;
    const ssize_t n = ReceiveFromSocket(wire, sizeof(wire));
    if (n <= 0) return n;
    tls_->Feed(std::string_view(wire, static_cast<size_t>(n)));
    plain_ += tls_->Read();
    SendTlsOutput();  // e.g. an answer to a key update
  }
  const size_t n = std::min(size, plain_.size());
  std::memcpy(buf, plain_.data(), n);
  plain_.erase(0, n);
  return static_cast<ssize_t>(n);
}

}  // namespace brisk::testing
