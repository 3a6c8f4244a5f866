// Internal: TlsStream, a net::Stream that speaks TLS (server side) over
// another net::Stream, the socket's. The HTTP connection above it sees the
// plain Stream contract (net/stream.h) and never learns that its bytes are
// encrypted; the transport below it (epoll readiness, io_uring) never learns
// that they are TLS records.
//
//   auto tls = TlsStream::Create(loop, std::move(session), connection,
//                                {.handshake_timeout = 10s}, std::move(hooks),
//                                [&](net::StreamCallbacks* cb) {
//                                  return loop->CreateStream(std::move(fd), cb, {});
//                                });
//   connection->Start(std::move(tls));   // the connection is its callbacks
//
// How the contract maps onto TLS:
//  - Input: ciphertext from the transport goes through the session
//    (tls/server_session.h); the handshake's answers are flushed to the
//    transport at once; plaintext is delivered with OnStreamData() once the
//    handshake is done. The client's close_notify, like a TCP FIN, is
//    OnStreamEof(); output may still be written after it (TLS 1.3
//    half-close; the server answers what it received).
//  - Output: output() is plaintext. Flush() encrypts all of it into records
//    of at most 16 KiB appended to the transport's queue, and flushes that.
//    pending_output() counts plaintext whose records the kernel has not fully
//    taken (to the record), plus plaintext not yet encrypted, so the
//    connection's write timeout and stream backpressure work in the units
//    it wrote. OnStreamDrained() follows the transport's.
//  - The handshake has its own timer on the loop: a client that has not
//    finished it within handshake_timeout of Start() is cut off
//    (kHandshakeTimeout). Each OnReceived() call does only the work its
//    bytes allow, so one connection's handshake holds the loop for at most
//    one handshake step's CPU.
//  - Failures (anything that is not a TLS ClientHello, a refused or
//    truncated handshake, a bad record later, the timeout): the alert the
//    session produced, or for plain HTTP the 400 answer_plain_http asks
//    for, is flushed;
//    hooks.on_failure is told (the session's counters already counted it);
//    then the callbacks get OnStreamError(EPROTO / ETIMEDOUT) — or
//    OnStreamEof() when the client simply closed — and nothing more arrives.
//    After the plain-HTTP 400 that OnStreamError waits for a lingering
//    close (server/linger.h): the 400 and a FIN go at once, what the client
//    still sends is read and dropped, and the error is reported at the
//    client's FIN or reset, or after 2 s or 64 MiB (at once if the kernel
//    refused the 400). Meanwhile HasUnreadInput() says yes, so an owner
//    closing idle connections (a drain) leaves it to end by itself.
//  - ShutdownWrite() sends close_notify, then the TCP FIN. Close() sends a
//    best-effort close_notify (if the handshake completed and the transport
//    takes it at once), then closes the socket. After MarkTruncated()
//    neither sends it: the client of an answer ended by the close (an
//    HTTP/1.0 stream) learns it was cut short (RFC 9112 §9.8).
//
// Re-entrancy is the transport's: callbacks never run nested inside a call
// the owner makes, except Start(); inside a callback the owner may call any
// method, including Close(), but must not destroy the stream.
//
// Ownership and threading: owns the session and the transport; the
// callbacks are not owned and must outlive it. Loop thread only.
#ifndef BRISK_SERVER_TLS_STREAM_H_
#define BRISK_SERVER_TLS_STREAM_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "net/event_loop.h"
#include "net/stream.h"
#include "server/linger.h"
#include "tls/server_session.h"

namespace brisk::internal {

struct TlsStreamOptions {
  // From Start() to the end of the handshake; 0 = no limit.
  std::chrono::nanoseconds handshake_timeout = std::chrono::seconds(10);
  // A client that spoke plain HTTP to the TLS port (kPlainHttp) is told so
  // before the close, unencrypted, as nginx does: "400 The plain HTTP
  // request was sent to HTTPS port", with a Date, and no content if the
  // request was HEAD (RFC 9110 §6.6.1, §9.3.2). false: close without a word.
  bool answer_plain_http = false;
};

// The answer TlsStreamOptions::answer_plain_http sends, at `unix_seconds`.
// Returns the answer's body bytes (0 for HEAD).
size_t AppendPlainHttpAnswer(bool head, int64_t unix_seconds, std::string* out);

// What a TlsStream tells its creator besides the protocol's callbacks.
struct TlsStreamHooks {
  // The handshake completed; called before any plaintext is delivered (so
  // the client's identity can be recorded before a request exists).
  absl::AnyInvocable<void(const tls::TlsServerSession&)> on_established;
  // The session failed (its counters already recorded why: failure(),
  // failure_detail()); `established`: after a completed handshake.
  absl::AnyInvocable<void(const tls::TlsServerSession&, bool established)>
      on_failure;
  // Plain HTTP came and was answered 400 (answer_plain_http): what came as
  // its request line, and the answer's body bytes (0 for HEAD). Before
  // on_failure.
  absl::AnyInvocable<void(std::string_view request_line, size_t body_bytes)>
      on_plain_http_answered;
};

class TlsStream final : public net::Stream, private net::StreamCallbacks {
 public:
  // The transport is made by `make_transport`, given the callbacks it must
  // deliver to (this stream's).
  static std::unique_ptr<TlsStream> Create(
      net::EventLoop* loop, std::unique_ptr<tls::TlsServerSession> session,
      net::StreamCallbacks* callbacks, const TlsStreamOptions& options,
      TlsStreamHooks hooks,
      absl::FunctionRef<std::unique_ptr<net::Stream>(net::StreamCallbacks*)>
          make_transport);
  ~TlsStream() override;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // net::Stream.
  void Start() override;
  std::string& output() override { return plain_out_; }
  bool Flush() override;
  size_t pending_output() const override;
  void SetReading(bool reading) override;
  bool reading() const override;
  void ShutdownWrite() override;
  // Mid-handshake, the session fails as kServerClosed first (counted,
  // told to hooks.on_failure); not when the stream is destroyed unclosed.
  void Close() override;
  void MarkTruncated() override { truncated_ = true; }
  bool closed() const override { return closed_; }
  int fd() const override;
  bool HasUnreadInput() const override;
  // The transport's: when the ciphertext being decrypted arrived.
  net::TimePoint receive_time() const override;
  // The transport's: records on their way to the client are progress.
  net::TimePoint last_write_progress() const override;

  const tls::TlsServerSession& session() const { return *session_; }

 private:
  TlsStream(net::EventLoop* loop, std::unique_ptr<tls::TlsServerSession> session,
            net::StreamCallbacks* callbacks, const TlsStreamOptions& options,
            TlsStreamHooks hooks);

  // net::StreamCallbacks, from the transport.
  void OnStreamData(std::string_view ciphertext) override;
  void OnStreamEof() override;
  void OnStreamDrained() override;
  void OnStreamError(int error) override;
  void OnStreamInputTaken() override;

  void OnHandshakeTimer();
  void OnEstablished();
  // Sends what the failure leaves to say, reports it, ends the input. The
  // callbacks get OnStreamEof() if `peer_closed`, else OnStreamError(error).
  void Fail(int error, bool peer_closed);
  // After the 400 to plain HTTP: FIN after it, then read and drop what the
  // client still sends (its body) until its FIN, a reset, kLingerTimeout or
  // kMaxLingerBytes; then OnStreamError(EPROTO) to the owner. Closing with
  // the client's bytes unread would reset the connection, and the reset can
  // destroy the 400 before the client reads it (RFC 9112 §9.6).
  void LingerAfterPlainAnswer();
  void EndLinger();
  // OnStreamError to the owner: at most once, also after the end of input
  // (a send the kernel refused after the peer's FIN).
  void ReportBroken(int error);
  // Close() without counting an unfinished handshake (the destructor).
  void CloseTransport();
  // The client's first bytes are held by the layer below, unfinished (a
  // PROXY protocol header), which counts them when closed: no handshake
  // began.
  bool HeldBelow() const;
  // Runs `append` on the transport's queue, counting the bytes it adds.
  template <typename Append>
  auto AppendWire(Append&& append);
  // Encrypts plain_out_ into the transport's queue. False if refused.
  bool EncryptOutput();
  // Drops the records the kernel has fully taken from the accounting.
  void Settle() const;
  void CancelTimer();

  net::EventLoop* const loop_;
  const std::unique_ptr<tls::TlsServerSession> session_;
  net::StreamCallbacks* const callbacks_;
  const TlsStreamOptions options_;
  TlsStreamHooks hooks_;
  std::unique_ptr<net::Stream> transport_;

  std::string plain_out_;  // output(): plaintext not yet encrypted
  // Ciphertext appended to the transport so far (handshake, records,
  // alerts), and per record of application data: where it ends in that
  // count and how much plaintext it carries. Mutable: pending_output()
  // settles what the kernel has taken.
  uint64_t wire_appended_ = 0;
  struct Record {
    uint64_t wire_end;
    size_t plain;
  };
  mutable std::deque<Record> records_;
  mutable size_t unsent_plain_ = 0;

  net::TimerId timer_ = net::kInvalidTimerId;  // the handshake's or the linger's
  LingerBytes lingered_;                       // what LingerAfterPlainAnswer() dropped
  bool lingering_ = false;
  bool established_ = false;   // handshake done and reported
  bool input_ended_ = false;   // EOF, close_notify or failure reported
  bool truncated_ = false;     // MarkTruncated(): no close_notify
  bool broken_ = false;        // OnStreamError reported (once)
  bool wants_drained_ = false;  // a Flush() left output pending
  bool closed_ = false;
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_TLS_STREAM_H_
