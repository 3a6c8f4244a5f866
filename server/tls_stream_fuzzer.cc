// libFuzzer target for TlsStream's state machine: an input is a script of
// events on one stream — the OpenSSL test client's handshake and records
// delivered whole or in pieces, raw bytes, EOF, a reset, the kernel taking
// some output, the connection writing, pausing, half-closing or closing,
// the handshake timer firing — so any order of them is tried, before,
// during and after a real handshake.
//
// Input: pairs of bytes (op, argument), op % 15:
//   0 client handshake step, its output delivered whole
//   1 ... delivered in pieces of argument + 1 bytes
//   2 the client reads what the kernel took (and answers, if it must)
//   3 the client writes argument * 37 bytes (delivered whole)
//   4 raw bytes: the next argument bytes of the input, delivered
//   5 EOF            6 reset            7 the kernel takes argument * 97 bytes
//   8 the kernel takes nothing more (window 0)
//   9 the connection writes argument * 211 bytes and flushes
//   10 SetReading(argument & 1)          11 ShutdownWrite()
//   12 Close()       13 clock + argument seconds, one loop iteration
//   14 the client sends close_notify
//
// Checked after every event: no callback after Close(); nothing delivered
// after the end of input; OnStreamError at most once (it may follow the
// end of input); with nothing left in the transport's queue,
// pending_output() is exactly the plaintext not yet encrypted; whatever the
// client decrypts is a prefix-consistent copy of what the connection wrote.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "net/clock.h"
#include "net/event_loop.h"
#include "server/testing/scripted_transport.h"
#include "server/tls_stream.h"
#include "tls/context.h"
#include "tls/testing/fixture.h"
#include "tls/testing/test_client.h"

namespace {

using brisk::internal::TlsStream;
using brisk::testing::ScriptedTransport;

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

struct Shared {
  brisk::tls::testing::TlsFixture fixture;
  std::unique_ptr<brisk::tls::TlsContext> context =
      fixture.Context(fixture.Config());
  brisk::net::FakeClock clock;
  std::unique_ptr<brisk::net::EventLoop> loop =
      *brisk::net::CreateEpollLoop({.clock = &clock});
  // The context holds what it loaded; this leaked static is never destroyed,
  // so its key files are removed here.
  Shared() { fixture.dir.Remove(); }
};

// The connection's stand-in: checks the callbacks' order.
class Connection final : public brisk::net::StreamCallbacks {
 public:
  void OnStreamData(std::string_view data) override {
    Require(!closed && !input_ended);
    received += data.size();
  }
  void OnStreamEof() override {
    Require(!closed && !input_ended);
    input_ended = true;
  }
  void OnStreamDrained() override { Require(!closed); }
  // Once, also after the end of input (a send refused after the FIN).
  void OnStreamError(int) override {
    Require(!closed && !broken);
    broken = true;
    input_ended = true;
  }
  bool closed = false;
  bool input_ended = false;
  bool broken = false;
  size_t received = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Shared* shared = new Shared;
  Connection connection;
  ScriptedTransport* transport = nullptr;
  std::unique_ptr<TlsStream> stream = TlsStream::Create(
      shared->loop.get(), shared->fixture.Session(*shared->context), &connection,
      {.handshake_timeout = std::chrono::seconds(10),
       .answer_plain_http = true},
      {}, [&](brisk::net::StreamCallbacks* callbacks) {
        auto t = std::make_unique<ScriptedTransport>(callbacks);
        transport = t.get();
        return t;
      });
  stream->Start();
  std::unique_ptr<brisk::tls::testing::TestClient> client =
      shared->fixture.Client({.alpn = {"http/1.1"}});
  std::string written, decrypted;  // what the connection sent; what arrived
  std::string_view script(reinterpret_cast<const char*>(data), size);
  while (script.size() >= 2) {
    const int op = static_cast<uint8_t>(script[0]) % 15;
    const size_t arg = static_cast<uint8_t>(script[1]);
    script.remove_prefix(2);
    switch (op) {
      case 0:
        client->Step();
        transport->Deliver(client->TakeOutput());
        break;
      case 1: {
        client->Step();
        std::string_view out;
        const std::string bytes = client->TakeOutput();
        out = bytes;
        while (!out.empty() && !connection.closed) {
          transport->Deliver(out.substr(0, arg + 1));
          out.remove_prefix(std::min(out.size(), arg + 1));
        }
        break;
      }
      case 2:
        client->Feed(transport->TakeSent());
        if (client->handshake_done()) {
          decrypted += client->Read();
        } else {
          client->Step();
        }
        break;
      case 3:
        if (client->handshake_done() && client->Write(std::string(arg * 37, 'c')).ok()) {
          transport->Deliver(client->TakeOutput());
        }
        break;
      case 4: {
        const size_t n = std::min(arg, script.size());
        transport->Deliver(script.substr(0, n));
        script.remove_prefix(n);
        break;
      }
      case 5: transport->DeliverEof(); break;
      case 6: transport->DeliverError(104); break;
      case 7: transport->Release(arg * 97); break;
      case 8: transport->window = 0; break;
      case 9:
        if (!connection.closed) {
          const std::string piece(arg * 211, static_cast<char>('a' + arg % 26));
          stream->output().append(piece);
          written += piece;
          stream->Flush();
        }
        break;
      case 10: if (!connection.closed) stream->SetReading(arg & 1); break;
      case 11: if (!connection.closed) stream->ShutdownWrite(); break;
      case 12:
        stream->Close();
        connection.closed = true;
        break;
      case 13:
        shared->clock.Advance(std::chrono::seconds(arg));
        shared->loop->RunOnce(brisk::net::Duration::zero());
        break;
      case 14:
        client->Shutdown();
        transport->Deliver(client->TakeOutput());
        break;
    }
    if (!connection.closed && transport->pending_output() == 0) {
      Require(stream->pending_output() == stream->output().size());
    }
    Require(decrypted.size() <= written.size());
    Require(std::string_view(written).substr(0, decrypted.size()) == decrypted);
  }
  stream->Close();
  stream.reset();
  // Timers of this stream are gone: a later iteration must not reach it.
  shared->clock.Advance(std::chrono::seconds(60));
  shared->loop->RunOnce(brisk::net::Duration::zero());
  return 0;
}
