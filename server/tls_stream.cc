#include "server/tls_stream.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "http/response.h"
#include "http/response_writer.h"
#include "server/linger.h"
#include "tls/failure.h"

namespace brisk::internal {

size_t AppendPlainHttpAnswer(bool head, int64_t unix_seconds, std::string* out) {
  constexpr std::string_view kBody = "The plain HTTP request was sent to HTTPS port\n";
  const std::string date = http::HttpDate::Format(unix_seconds);
  http::ResponseOptions options;
  options.keep_alive = false;
  options.head = head;
  options.date = date;
  http::AppendResponse(http::Response::Text(400, std::string(kBody)), options, out);
  return head ? 0 : kBody.size();
}
namespace {

// Plaintext per record: TLS's maximum, so a large answer's progress is seen
// record by record.
constexpr size_t kRecordPlaintext = 16 * 1024;
// Plaintext buffer capacity kept between answers.
constexpr size_t kKeepOutputCapacity = 16 * 1024;

// One plaintext buffer per thread, lent to the stream being read: an idle
// connection holds none. Taken by move, so a nested use (none is expected)
// would only allocate its own.
constexpr size_t kKeepScratchCapacity = 256 * 1024;

std::string& ScratchHome() {
  thread_local std::string scratch;
  return scratch;
}
std::string TakeScratch() {
  std::string s = std::move(ScratchHome());
  s.clear();
  return s;
}
void ReturnScratch(std::string s) {
  if (s.capacity() <= kKeepScratchCapacity) ScratchHome() = std::move(s);
}

}  // namespace

std::unique_ptr<TlsStream> TlsStream::Create(
    net::EventLoop* loop, std::unique_ptr<tls::TlsServerSession> session,
    net::StreamCallbacks* callbacks, const TlsStreamOptions& options,
    TlsStreamHooks hooks,
    absl::FunctionRef<std::unique_ptr<net::Stream>(net::StreamCallbacks*)>
        make_transport) {
  std::unique_ptr<TlsStream> s(new TlsStream(loop, std::move(session), callbacks,
                                             options, std::move(hooks)));
  s->transport_ = make_transport(s.get());
  return s;
}

TlsStream::TlsStream(net::EventLoop* loop,
                     std::unique_ptr<tls::TlsServerSession> session,
                     net::StreamCallbacks* callbacks,
                     const TlsStreamOptions& options, TlsStreamHooks hooks)
    : loop_(loop),
      session_(std::move(session)),
      callbacks_(callbacks),
      options_(options),
      hooks_(std::move(hooks)) {}

TlsStream::~TlsStream() { CloseTransport(); }

void TlsStream::Start() {
  if (options_.handshake_timeout > std::chrono::nanoseconds::zero()) {
    // From the clock, not the iteration's cached time: a connection
    // accepted late in a long iteration gets its whole timeout.
    timer_ = loop_->RunAt(
        loop_->clock().Now() +
            std::chrono::ceil<net::Duration>(options_.handshake_timeout),
        [this] { OnHandshakeTimer(); });
  }
  transport_->Start();  // may deliver at once
}

template <typename Append>
auto TlsStream::AppendWire(Append&& append) {
  std::string& wire = transport_->output();
  const size_t before = wire.size();
  auto result = append(&wire);
  wire_appended_ += wire.size() - before;
  return result;
}

// ------------------------------------------------------------------ input

void TlsStream::OnStreamData(std::string_view ciphertext) {
  if (lingering_) {
    if (!lingered_.Drop(ciphertext.size())) EndLinger();  // the close resets
    return;
  }
  if (closed_ || input_ended_) return;
  std::string plain = TakeScratch();
  absl::Cleanup give_back = [&plain] { ReturnScratch(std::move(plain)); };
  const absl::Status s = AppendWire([&](std::string* wire) {
    return session_->OnReceived(ciphertext, &plain, wire);
  });
  if (!s.ok()) {
    Fail(EPROTO, /*peer_closed=*/false);
    return;
  }
  // Handshake messages, tickets, a KeyUpdate's answer: send them now. A
  // send the kernel refuses (the client reset) ends the stream as a reset
  // does, a handshake under way counted as truncated.
  if (transport_->pending_output() > 0 && !transport_->Flush()) {
    OnStreamError(EPIPE);
    return;
  }
  if (!established_ && session_->handshake_done()) OnEstablished();
  if (!plain.empty()) {
    callbacks_->OnStreamData(plain);
    if (closed_) return;
  }
  if (session_->peer_closed() && !input_ended_) {
    input_ended_ = true;  // close_notify: the client's end of data
    callbacks_->OnStreamEof();
    return;
  }
  // Handshake messages, a ticket, a record's first part: nothing for the
  // owner, but the input it may be waiting for was taken (a drain closed a
  // connection mid-handshake only at its handshake timeout, 10 s, when the
  // ClientHello had been unread at the drain).
  if (plain.empty()) callbacks_->OnStreamInputTaken();
}

void TlsStream::OnStreamInputTaken() {
  if (closed_ || input_ended_ || lingering_) return;
  callbacks_->OnStreamInputTaken();
}

void TlsStream::OnEstablished() {
  established_ = true;
  CancelTimer();
  if (hooks_.on_established) hooks_.on_established(*session_);
}

void TlsStream::OnStreamEof() {
  if (lingering_) {
    EndLinger();  // the client read the 400 (or gave up) and closed
    return;
  }
  if (closed_ || input_ended_) return;
  const absl::Status s = session_->OnEof();
  if (!s.ok()) {  // before the handshake completed: counted by reason
    Fail(0, /*peer_closed=*/true);
    return;
  }
  input_ended_ = true;
  callbacks_->OnStreamEof();
}

void TlsStream::OnStreamError(int error) {
  if (lingering_) {
    EndLinger();
    return;
  }
  if (closed_ || broken_) return;
  if (!input_ended_) {
    input_ended_ = true;
    CancelTimer();
    // kTransportRefused: the layer below (a PROXY protocol header) refused
    // the connection and counted it; no handshake began.
    if (!established_ && !session_->failed() && error != net::kTransportRefused) {
      // A reset in the middle of the handshake is a truncated handshake.
      if (!session_->OnEof().ok() && hooks_.on_failure) {
        hooks_.on_failure(*session_, /*established=*/false);
      }
      if (closed_) return;
    }
  }
  // After the end of input too: a send the kernel refused (the client
  // left; io_uring reports it when the send completes) means the output
  // will never drain, and the connection must close now, not at its write
  // timeout.
  ReportBroken(error);
}

void TlsStream::ReportBroken(int error) {
  broken_ = true;
  callbacks_->OnStreamError(error);
}

void TlsStream::OnHandshakeTimer() {
  timer_ = net::kInvalidTimerId;
  if (closed_ || input_ended_ || established_) return;
  if (HeldBelow()) {
    // No handshake began. The layer below counts it when closed.
    input_ended_ = true;
    ReportBroken(ETIMEDOUT);
    return;
  }
  session_->OnHandshakeTimeout();
  Fail(ETIMEDOUT, /*peer_closed=*/false);
}

void TlsStream::Fail(int error, bool peer_closed) {
  input_ended_ = true;
  CancelTimer();
  if (session_->failure() == tls::TlsFailure::kPlainHttp &&
      options_.answer_plain_http) {
    size_t body_bytes = 0;
    AppendWire([&](std::string* wire) {
      // HEAD, or a first read too short to tell ("HEA"): no content (no
      // other method starts with 'H').
      const std::string_view first = session_->first_bytes().substr(0, 5);
      body_bytes = AppendPlainHttpAnswer(std::string_view("HEAD ").starts_with(first),
                                         static_cast<int64_t>(std::time(nullptr)), wire);
      return true;
    });
    if (hooks_.on_plain_http_answered) {
      hooks_.on_plain_http_answered(session_->first_bytes(), body_bytes);
    }
  }
  // The alert (or answer), if any: the kernel takes these few bytes at once
  // on a connection that has sent nothing else. A send it refuses (the
  // client reset) says no callback will (net/stream.h): no linger then.
  const bool sent = transport_->pending_output() == 0 || transport_->Flush();
  if (hooks_.on_failure) hooks_.on_failure(*session_, established_);
  if (closed_) return;
  if (peer_closed) {
    callbacks_->OnStreamEof();
  } else if (sent && session_->failure() == tls::TlsFailure::kPlainHttp &&
             options_.answer_plain_http) {
    LingerAfterPlainAnswer();
  } else {
    ReportBroken(error);
  }
}

void TlsStream::LingerAfterPlainAnswer() {
  lingering_ = true;
  transport_->ShutdownWrite();  // FIN after the 400
  timer_ = loop_->RunAt(loop_->clock().Now() + kLingerTimeout, [this] {
    timer_ = net::kInvalidTimerId;
    EndLinger();
  });
}

void TlsStream::EndLinger() {
  lingering_ = false;
  CancelTimer();
  ReportBroken(EPROTO);  // as every failure of a first read reports it
}

// ----------------------------------------------------------------- output

bool TlsStream::EncryptOutput() {
  std::string_view rest = plain_out_;
  while (!rest.empty()) {
    const std::string_view piece = rest.substr(0, kRecordPlaintext);
    const absl::Status s = AppendWire(
        [&](std::string* wire) { return session_->Encrypt(piece, wire); });
    if (!s.ok()) return false;
    records_.push_back(Record{wire_appended_, piece.size()});
    unsent_plain_ += piece.size();
    rest.remove_prefix(piece.size());
  }
  if (plain_out_.capacity() > kKeepOutputCapacity) {
    std::string().swap(plain_out_);
  } else {
    plain_out_.clear();
  }
  return true;
}

bool TlsStream::Flush() {
  if (closed_ || session_->failed()) return false;
  // Before the handshake there is nothing to say (HTTP answers requests,
  // which come after it): anything queued waits for it.
  if (!plain_out_.empty() && session_->handshake_done() && !EncryptOutput()) {
    return false;
  }
  if (transport_->pending_output() > 0 && !transport_->Flush()) return false;
  if (pending_output() > 0) wants_drained_ = true;
  return true;
}

void TlsStream::Settle() const {
  if (records_.empty()) return;
  const size_t unsent_wire = transport_->pending_output();
  if (unsent_wire == 0) {
    records_.clear();
    unsent_plain_ = 0;
    return;
  }
  const uint64_t taken = wire_appended_ - unsent_wire;
  while (!records_.empty() && records_.front().wire_end <= taken) {
    unsent_plain_ -= records_.front().plain;
    records_.pop_front();
  }
}

size_t TlsStream::pending_output() const {
  if (transport_ == nullptr || transport_->closed()) return 0;
  Settle();
  return plain_out_.size() + unsent_plain_;
}

void TlsStream::OnStreamDrained() {
  if (closed_) return;
  Settle();
  if (wants_drained_ && pending_output() == 0) {
    wants_drained_ = false;
    callbacks_->OnStreamDrained();
  }
}

// ------------------------------------------------------------ the rest

void TlsStream::SetReading(bool reading) { transport_->SetReading(reading); }

bool TlsStream::reading() const { return transport_->reading(); }

void TlsStream::ShutdownWrite() {
  if (closed_) return;
  if (session_->handshake_done()) {
    if (!plain_out_.empty()) EncryptOutput();
    if (!truncated_) {
      AppendWire([&](std::string* wire) {
        session_->Shutdown(wire);  // close_notify
        return true;
      });
    }
    if (transport_->pending_output() > 0) transport_->Flush();
  }
  transport_->ShutdownWrite();  // FIN after the queued records
}

void TlsStream::Close() {
  if (closed_) return;
  // Closed by the server mid-handshake (its drain past the grace, a stop):
  // a counted failure and a log line, as every other way a handshake ends
  // without a connection (it was in no series before: accepted connections
  // did not add up). Not when no handshake began (HeldBelow): the layer
  // below counts it when closed, as at the handshake timer.
  if (transport_ != nullptr && !established_ && !input_ended_ && !session_->failed() &&
      !HeldBelow()) {
    session_->OnServerClose();
    if (session_->failed() && hooks_.on_failure) {
      hooks_.on_failure(*session_, /*established=*/false);
    }
  }
  CloseTransport();
}

bool TlsStream::HeldBelow() const {
  // Not bytes still in the kernel: a close on a ClientHello not read yet
  // (a stop; a handshake timer that ran before the read) counted nothing.
  return session_->bytes_received() == 0 && transport_->HoldsInputBack();
}

void TlsStream::CloseTransport() {
  if (closed_) return;
  closed_ = true;
  lingering_ = false;
  CancelTimer();
  if (transport_ == nullptr) return;
  if (!truncated_ && session_->handshake_done() && !transport_->closed()) {
    // Best effort: a client that reads on sees the end was intended. Dropped
    // with the rest of the queue if the kernel does not take it now.
    AppendWire([&](std::string* wire) {
      session_->Shutdown(wire);
      return true;
    });
    transport_->Flush();
  }
  transport_->Close();
  records_.clear();
  unsent_plain_ = 0;
  std::string().swap(plain_out_);
}

int TlsStream::fd() const { return transport_->fd(); }

bool TlsStream::HasUnreadInput() const {
  // Also a record OpenSSL holds the start of: a drain closed an idle
  // connection on a request whose record had arrived in part (plain TCP
  // leaves such a request mid-parse, and it is answered). And the linger
  // after the plain-HTTP 400, whose connection looks idle to its owner: a
  // drain that closed it would reset the client still sending its body;
  // the linger ends by itself within 2 s.
  return lingering_ || transport_->HasUnreadInput() || session_->HasBufferedInput();
}

net::TimePoint TlsStream::receive_time() const { return transport_->receive_time(); }

net::TimePoint TlsStream::last_write_progress() const {
  return transport_->last_write_progress();
}

void TlsStream::CancelTimer() {
  if (timer_ == net::kInvalidTimerId) return;
  loop_->Cancel(timer_);
  timer_ = net::kInvalidTimerId;
}

}  // namespace brisk::internal
