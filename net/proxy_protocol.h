// The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2): the
// header a TCP load balancer (HAProxy `send-proxy`/`send-proxy-v2`, AWS
// NLB, GCP TCP proxy, Envoy, nginx `proxy_protocol on`) puts before the
// first byte it relays, naming the client it relays for. Behind such a
// balancer, and especially when it passes TLS through untouched (no
// X-Forwarded-For can be added to encrypted bytes), it is the only way the
// server learns who the client is.
//
//   ProxyHeaderParse p = ParseProxyHeader(bytes);
//   if (p.outcome == ProxyHeaderParse::kComplete) { p.header.source ...; bytes.remove_prefix(p.length); }
//
//   // Or on a connection: the header is taken off the front of the stream,
//   // then the owner sees the bytes that follow it, as if nothing came first.
//   auto s = ProxyProtocolStream::Create(owner, std::move(hooks),
//       [&](StreamCallbacks* cb) { return loop->CreateStream(std::move(fd), cb, {}); });
//
// Strict, as the specification asks: the header must come first and whole
// (it is never guessed at: a connection without one is refused), v1 exactly
// as written (single spaces, no leading zeros, CRLF within 107 bytes), v2
// with version 2, command LOCAL or PROXY and a known family. TLVs of v2 are
// skipped. A header longer than kMaxProxyHeaderBytes is refused.
//
// Thread-safety: ParseProxyHeader is a pure function; a ProxyProtocolStream
// is a Stream (loop thread only).
#ifndef BRISK_NET_PROXY_PROTOCOL_H_
#define BRISK_NET_PROXY_PROTOCOL_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "net/socket.h"
#include "net/stream.h"

namespace brisk::net {

// v1 is at most 107 bytes; v2 is 16 + its length field (up to 65,535).
// Balancers send tens of bytes (addresses, a few TLVs); more is refused
// rather than buffered.
inline constexpr size_t kMaxProxyHeaderBytes = 4096;

struct ProxyHeader {
  int version = 0;  // 1 or 2
  // Where the relayed connection came from and went to. Empty when the
  // header names none: v2 LOCAL (the balancer's own health check), v1
  // UNKNOWN, v2 UNSPEC, UNIX or datagram families. Then the connection's
  // own addresses stand, as the specification says.
  std::optional<SocketAddress> source;
  std::optional<SocketAddress> destination;
};

struct ProxyHeaderParse {
  enum Outcome {
    kIncomplete,  // a prefix of a header that may still be valid: read more
    kInvalid,     // not a valid header (error says why): close
    kComplete,    // `header`, which took the first `length` bytes
  };
  Outcome outcome = kIncomplete;
  size_t length = 0;
  ProxyHeader header;
  std::string_view error;  // kInvalid: a static description
};

// Parses the header at the start of `data` (what the connection has sent
// so far).
ProxyHeaderParse ParseProxyHeader(std::string_view data);

// A Stream that takes a PROXY header off the front of another one (its
// transport) and then passes everything through unchanged.
//
// Until the header is complete no byte reaches the owner. A complete
// header: hooks.on_header(header) runs, then the bytes after it (if any)
// are delivered. An invalid header, or the end of the connection (EOF or
// error) in the middle of one: hooks.on_invalid(error) runs, the transport
// is closed, and the owner sees OnStreamError(kTransportRefused) (which a
// TLS owner does not count as a failed handshake: no handshake began). A connection closed before its first byte is no
// error (a balancer's TCP health check): the owner sees OnStreamEof() and
// on_invalid does not run. The owner's timers (a header or handshake
// timeout started at Start()) cover a balancer that sends no header; when
// the owner closes the stream with part of a header received, on_invalid
// runs too (an unfinished header is as much a fault as a bad one).
class ProxyProtocolStream final : public Stream, private StreamCallbacks {
 public:
  struct Hooks {
    absl::AnyInvocable<void(const ProxyHeader&)> on_header;
    absl::AnyInvocable<void(std::string_view error)> on_invalid;
  };

  // `make_transport` makes the inner stream with the callbacks it is given.
  static std::unique_ptr<ProxyProtocolStream> Create(
      StreamCallbacks* callbacks, Hooks hooks,
      absl::FunctionRef<std::unique_ptr<Stream>(StreamCallbacks*)> make_transport);
  ProxyProtocolStream(const ProxyProtocolStream&) = delete;
  ProxyProtocolStream& operator=(const ProxyProtocolStream&) = delete;

  // Stream: all passed to the transport.
  void Start() override { transport_->Start(); }
  std::string& output() override { return transport_->output(); }
  bool Flush() override { return transport_->Flush(); }
  size_t pending_output() const override { return transport_->pending_output(); }
  void SetReading(bool reading) override { transport_->SetReading(reading); }
  bool reading() const override { return transport_->reading(); }
  void ShutdownWrite() override { transport_->ShutdownWrite(); }
  // Also the end of a header left unfinished (the owner's timeout, a
  // drain): on_invalid runs for it.
  void Close() override;
  bool closed() const override { return transport_->closed(); }
  int fd() const override { return transport_->fd(); }
  // Also the bytes of a header begun and held here: an owner about to close
  // an idle-looking connection (a drain) waits for them too.
  bool HasUnreadInput() const override {
    return !pending_.empty() || transport_->HasUnreadInput();
  }
  // A header begun: Close() counts it (on_invalid).
  bool HoldsInputBack() const override { return !pending_.empty(); }
  TimePoint receive_time() const override { return transport_->receive_time(); }
  TimePoint last_write_progress() const override {
    return transport_->last_write_progress();
  }

  bool header_done() const { return done_; }

 private:
  ProxyProtocolStream(StreamCallbacks* callbacks, Hooks hooks)
      : owner_(callbacks), hooks_(std::move(hooks)) {}

  // StreamCallbacks (from the transport).
  void OnStreamData(std::string_view data) override;
  void OnStreamEof() override;
  void OnStreamDrained() override { owner_->OnStreamDrained(); }
  void OnStreamError(int error) override;
  void OnStreamInputTaken() override { owner_->OnStreamInputTaken(); }

  // The header cannot be taken: say why, close, tell the owner it ended.
  void Refuse(std::string_view error);

  StreamCallbacks* const owner_;
  Hooks hooks_;
  std::unique_ptr<Stream> transport_;
  // A header's first bytes, until it is whole or refused: non-empty exactly
  // while a header is under way.
  std::string pending_;
  bool done_ = false;    // the header was taken: pass everything through
  bool refused_ = false;
};

}  // namespace brisk::net

#endif  // BRISK_NET_PROXY_PROTOCOL_H_
