// libFuzzer target for TlsServerSession: arbitrary client bytes, in
// arbitrary pieces, into a fresh server session.
//
// Input: byte 0 is control, the rest is the client's byte stream.
//   bit 0     : 0 = no client auth, 1 = client certificates required (mTLS)
//   bits 1..2 : pieces: whole, 1 byte, 7 bytes, or (bits 3..6) + 1 bytes
//   bit 7     : end with OnEof (else OnHandshakeTimeout)
// Each piece is copied into an exactly sized heap buffer (ASan sees
// over-reads). The certificate and both contexts are made once.
//
// Checked on every input: OK status <=> not failed(); a failure is sticky
// (every later call returns the same status, appends nothing, counts
// nothing); no plaintext or Encrypt before the handshake; counters count a
// failure exactly once.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "tls/context.h"
#include "tls/server_session.h"
#include "tls/testing/fixture.h"

namespace {

using brisk::tls::ClientAuth;
using brisk::tls::TlsContext;
using brisk::tls::TlsFailure;
using brisk::tls::TlsServerSession;

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

struct Contexts {
  brisk::tls::testing::TlsFixture fixture;
  std::unique_ptr<TlsContext> plain = fixture.Context(fixture.Config());
  std::unique_ptr<TlsContext> mtls =
      fixture.Context(fixture.Config(fixture.pki.server_ecdsa, ClientAuth::kRequire));
  // The contexts hold what they loaded; this leaked static is never
  // destroyed, so its key files are removed here.
  Contexts() { fixture.dir.Remove(); }
};

uint64_t Failures(const TlsContext& context) {
  return context.stats().total_handshake_failures() +
         context.stats().errors_after_handshake;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Contexts* contexts = new Contexts;
  if (size == 0) return 0;
  const uint8_t control = data[0];
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  TlsContext& context = (control & 1) ? *contexts->mtls : *contexts->plain;
  size_t piece = input.size();
  switch ((control >> 1) & 3) {
    case 1: piece = 1; break;
    case 2: piece = 7; break;
    case 3: piece = ((control >> 3) & 15) + 1; break;
    default: break;
  }
  if (piece == 0) piece = 1;

  const uint64_t failures_before = Failures(context);
  std::unique_ptr<TlsServerSession> session = *context.NewSession();
  std::string plaintext, to_peer;
  absl::Status status;
  while (!input.empty()) {
    const size_t n = std::min(piece, input.size());
    auto buf = std::make_unique<char[]>(n);
    std::memcpy(buf.get(), input.data(), n);
    input.remove_prefix(n);
    status = session->OnReceived(std::string_view(buf.get(), n), &plaintext, &to_peer);
    Require(status.ok() == !session->failed());
    Require(status.ok() == (session->failure() == TlsFailure::kNone));
    if (!status.ok()) break;
  }
  // No client key, so no handshake can complete and nothing decrypts.
  Require(!session->handshake_done());
  Require(plaintext.empty());
  std::string out;
  Require(!session->Encrypt("x", &out).ok() && out.empty());
  if (status.ok()) {
    if (control & 0x80) {
      status = session->OnEof();
    } else {
      session->OnHandshakeTimeout();
      status = absl::DeadlineExceededError("");
    }
    Require(session->failed());
  }
  // Sticky failure, counted once.
  const TlsFailure failure = session->failure();
  const std::string message(session->OnReceived("\x16\x03\x01", &plaintext, &out).message());
  Require(session->failure() == failure);
  Require(session->OnEof().message() == message);
  session->Shutdown(&out);
  Require(out.empty() && plaintext.empty());
  Require(Failures(context) == failures_before + 1);
  return 0;
}
