// Internal: one client connection speaking HTTP/1.1 over a net::Stream,
// owned by its Reactor and used only on the reactor's loop thread. It does
// not know whether its bytes travel over epoll, io_uring or TLS.
//
// The connection is a state machine with one explicit phase:
//
//   kOpen ──(a closing request, a parse error, a timeout, drain)──> kFinishing
//   kFinishing ──(the closing answer written)──> kLingering or kClosed
//   kLingering ──(client EOF, linger timeout, too much input)──> kClosed
//   any ──(client gone, write error, write timeout, Stop)──> kClosed
//
//  - kOpen: bytes received are fed to the incremental parser; each complete
//    request becomes a Slot at the back of the pipeline (at most
//    max_pipeline_depth; beyond, input waits and reading pauses) and is
//    dispatched (see Dispatcher): answered at once, or later through an
//    Exchange.
//  - kFinishing: a request's answer will end the connection, so nothing
//    more is parsed; the answers before it and it are still written.
//  - kLingering: the write side is shut after the last answer and input is
//    read and discarded for a short while (nginx's lingering close), so a
//    client still sending reads its answer instead of a reset.
//
// Everything else follows from the phase and a few facts (the parser's
// state, the pipeline, the stream's pending output) and is derived, not
// stored: whether to read, which timeout applies (header, body stall, idle
// keep-alive, write progress, linger), whether the connection is idle.
//
// Answers leave strictly in request order. Every answer, whatever produced
// it (an inline handler, a worker, a Responder, the deadline timer, a
// refusal, a parse error), goes through Complete() (whole answers) or the
// stream path (StartStream/EndStream), and every Exchange is let go in one
// place (ReleaseExchange), which is where in-flight requests are counted.
// Advance() is the one place that moves answers to the stream, flushes, and
// decides the next phase, the reading state and the timer.
#ifndef BRISK_SERVER_CONNECTION_H_
#define BRISK_SERVER_CONNECTION_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/request.h"
#include "http/request_parser.h"
#include "http/response.h"
#include "http/response_writer.h"
#include "net/event_loop.h"
#include "net/lazy_bytes.h"
#include "net/stream.h"
#include "server/access_log.h"
#include "server/connection_timers.h"
#include "server/dispatcher.h"
#include "server/exchange.h"
#include "server/lifecycle.h"
#include "server/linger.h"
#include "server/metrics.h"

namespace brisk::internal {

class Connection;

// Limits and timeouts of every connection of a server.
struct ConnectionConfig {
  std::chrono::nanoseconds header_timeout = std::chrono::seconds(10);
  std::chrono::nanoseconds idle_timeout = std::chrono::seconds(60);
  std::chrono::nanoseconds write_timeout = std::chrono::seconds(10);
  size_t max_pipeline_depth = 64;
  // Answers written but not taken by the kernel beyond which no more
  // requests are read or parsed until they drain (a client that pipelines
  // and never reads; the write timeout then closes it).
  size_t max_unsent_bytes = 256 * 1024;
  http::ParserLimits parser_limits;
  // ServerOptions::max_body_memory: bytes of request bodies all
  // connections may hold while receiving them.
  size_t max_body_memory = 256 << 20;
  // ServerOptions::trusted_proxies (and _recursive); null: none.
  std::shared_ptr<const TrustedProxies> trusted_proxies;
  // ServerOptions::proxy_protocol.
  bool proxy_protocol = false;
};

// What a connection needs from the reactor that owns it.
class ConnectionOwner {
 public:
  // The current IMF-fixdate for the Date header.
  virtual std::string_view Date() = 0;
  // Called once, from Close(); the owner destroys the connection later
  // (never inside this call).
  virtual void OnConnectionClosed(Connection* connection) = 0;
  // A parser for a request that starts arriving, and its return once the
  // connection has no request in progress: an idle connection holds none
  // (the owner keeps a few for reuse).
  virtual std::unique_ptr<http::RequestParser> TakeParser() = 0;
  virtual void GiveBackParser(std::unique_ptr<http::RequestParser> parser) = 0;
  // The connection's timeout check: Connection::OnTimer() runs at `due`
  // (on the loop thread; Schedule moves an armed check). Both work on the
  // connection's `timer_` slot (Connection::Timers).
  virtual void ScheduleTimeout(Connection* connection, SteadyTime due) = 0;
  virtual void CancelTimeout(Connection* connection) = 0;

 protected:
  ~ConnectionOwner() = default;
};

// The server-wide collaborators, shared by every connection (not owned).
struct ConnectionContext {
  const ConnectionConfig* config = nullptr;
  Dispatcher* dispatcher = nullptr;
  ServerMetrics* metrics = nullptr;
  AccessLog* access_log = nullptr;  // null: no access log
  // The server's drain, read when an answer is written: once draining()
  // says so, the answer says Connection: close even if the reactor has
  // not been told yet (null: only BeginDrain counts).
  const Lifecycle* lifecycle = nullptr;
};

// What every connection of one owner shares, kept by the owner for longer
// than its connections: a connection holds one reference to it instead of
// its own copies (memory per idle connection).
struct ConnectionEnv {
  net::EventLoop* loop = nullptr;
  ConnectionContext context;
  // Where the connections' exchanges post their answers.
  std::shared_ptr<LoopHandle> home;
};

class Connection final : public net::StreamCallbacks, public ExchangeSink {
 public:
  Connection(ConnectionOwner* owner, const ConnectionEnv& env,
             std::shared_ptr<const ConnectionInfo> info);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Takes the stream (created with this connection as its callbacks) and
  // starts serving. May answer and close within the call (a request that
  // was already there). A null stream (the transport could not be set up)
  // closes the connection at once.
  void Start(std::unique_ptr<net::Stream> stream);
  // The stream's TLS handshake completed (a TLS connection, whose
  // ConnectionInfo is secure, waits for this): the header timeout for the
  // first request runs from now. Until then only the handshake's own timer
  // and the idle timeout apply, so --header_timeout does not cut a slow
  // handshake and --tls_handshake_timeout does not eat into the request's
  // time.
  void OnHandshakeDone();
  // Server drain: every answer from now on carries Connection: close (the
  // client reconnects elsewhere) and the connection closes after it. With
  // `close_idle`, a connection with nothing in progress also closes now;
  // without (a soft drain, while load balancers and clients learn to go
  // elsewhere), it waits for one more request or its idle timeout.
  void BeginDrain(bool close_idle);
  // The server stops (its drain timeout passed): requests still waiting for
  // their handlers are answered 503 "shutting down" (the handlers are
  // cancelled), ready answers are written as far as the socket takes them
  // at once, and the connection closes.
  void CloseAnsweringPending();
  // Closes at once, cancelling pending requests.
  void Close();
  bool closed() const { return phase_ == Phase::kClosed; }

  // net::StreamCallbacks.
  void OnStreamData(std::string_view data) override;
  void OnStreamEof() override;
  void OnStreamDrained() override;
  void OnStreamError(int error) override;
  void OnStreamInputTaken() override;
  // ExchangeSink.
  void OnExchangeUpdate(Exchange& exchange) override;

 private:
  enum class Phase : uint8_t { kOpen, kFinishing, kLingering, kClosed };

  // What the access log and the metrics say of an answer whose line waits
  // (Slot::logged): copies, since its request may be gone by then.
  struct LoggedAnswer {
    int status = 0;
    uint64_t body_bytes = 0;
    std::chrono::nanoseconds duration{};
    bool parsed = true;    // a head was read; else `target` is the line seen
    std::string client;    // the client's address ("-" when unknown)
    std::string method;
    std::string target;
    std::string traceparent;
  };

  // One request of the pipeline, from parse to its answer's last byte
  // handed to the stream.
  struct Slot {
    enum class State : uint8_t { kWaiting, kStreaming, kDone };
    State state = State::kWaiting;
    bool close_after = false;  // this answer ends the connection
    bool truncated = false;    // cut short: MarkTruncated() once at the front
    bool head = false;         // a HEAD request: no body is sent
    bool unsafe = false;       // its method is not safe (RFC 9110 §9.2.1)
    bool chunked = false;      // streamed body: chunked (else until close)
    bool quiet = false;        // answers below 400 are not logged
    int version_minor = 1;
    int stream_status = 0;     // a streamed answer's status (for the log)
    size_t metrics_route = 0;
    uint64_t streamed_bytes = 0;
    SteadyTime parsed{};
    std::string bytes;  // answer bytes waiting for the slots before it
    std::shared_ptr<Exchange> exchange;  // the answer comes through it
    // A 2xx answer or stream head (and the stream pieces after it) that
    // came, with a deadline, while answers before it were still going out:
    // applied when the slot reaches the front, where the deadline is
    // checked again, so a 2xx that waited behind a slower answer is never
    // written after its deadline (it becomes the deadline's 503).
    std::optional<ExchangeUpdate> held;
    net::TimerId deadline_timer = net::kInvalidTimerId;
    // The log line and count of an answer produced while an answer before
    // it could still end the connection first (one still coming, or a
    // closing one): taken when its bytes reach the stream, or, if they
    // never do, logged as a request the connection ended before its answer.
    std::unique_ptr<LoggedAnswer> logged;
    // The request the end of the input cut off behind this one (the last
    // slot): its line (499, or 500) follows this slot's, so a connection's
    // lines keep its requests' order. Logged when this slot leaves the
    // pipeline, however it leaves (LogCutOffAfter).
    std::unique_ptr<Slot> cut_off_after;
  };

  // Input.
  // `arrival`: when the bytes reached the machine (the kernel's receive
  // time of the read, or the loop's time when unknown). A request's arrival
  // is that of the bytes that completed it (its head, or its body when it
  // has one), so a request that waited in its socket while the reactor was
  // busy has that wait counted against its budget.
  void ProcessInput(std::string_view data, SteadyTime arrival);
  void Dispatch(http::Request request, SteadyTime arrival);
  // An answer with Connection: close before the request was read whole
  // (parser error, 408, or a final status instead of 100 Continue); the
  // rest of the input is not read. `head`: the request line named HEAD, so
  // the answer has no content; `request`: its head if it was parsed (for
  // the access log), else null. `routed`: false for a routing failure
  // (404, 405, 421, 501), counted under "unmatched" as Dispatch() counts it.
  void AnswerWithoutRequest(const http::Response& response, bool head,
                            const http::Request* request = nullptr, bool routed = true);
  void MaybeSendContinue();
  // Answers.
  void Complete(Slot& slot, const http::Response& response,
                const http::Request* request);
  void StartStream(Slot& slot, const http::Response& head,
                   const http::Request& request);
  void AppendStreamBody(Slot& slot, std::string_view body);
  void EndStream(Slot& slot, bool cut_off);
  void ApplyUpdate(Slot& slot, ExchangeUpdate update);
  // An update (an answer, stream pieces) that reached the slot's exchange
  // but whose delivery task is still queued: applied now, before a close
  // (Stop, the client's EOF) would drop it.
  void ApplyQueuedUpdate(Slot& slot);
  void OnDeadline(Exchange* exchange);
  // Lets go of the slot's exchange (the one place in-flight is counted).
  void ReleaseExchange(Slot& slot);
  Slot* FindSlot(const Exchange* exchange);
  // Where an answer for `slot` is written now: the stream at the front of
  // the pipeline, the slot's own buffer behind it.
  std::string* OutputFor(Slot& slot);
  // Runs `append(out)` on OutputFor(slot), counting what reaches the stream.
  template <typename Append>
  void Emit(Slot& slot, Append&& append);
  // Serializer options for the slot's answer head (and the drain's
  // Connection: close on the last answer).
  http::ResponseOptions HeadOptions(Slot& slot, const http::Request* request);
  // A drain or the client's end of input came after the last answer was
  // written, held behind slower ones, with Connection: keep-alive: it says
  // close instead, since the connection ends after it (RFC 9112 9.6).
  void MarkHeldLastAnswerClose();
  // A slot the connection lets go of before its answer was written whole.
  // `reached_stream`: the slot was at the front, so what it produced went
  // to the stream; one behind it never had a byte sent.
  void LogUnanswered(Slot& slot, bool reached_stream);
  // The request in the parser, head read, body cut off by the end of the
  // connection: logged 499 (500 for the server's error), after the lines
  // of the requests before it (Slot::cut_off_after).
  void LogCutOffRequest();
  // Logs `slot`'s cut_off_after, if any; `slot` is leaving the pipeline.
  void LogCutOffAfter(Slot& slot);
  // The kept line and count of an answer whose logging waits.
  std::unique_ptr<LoggedAnswer> KeepAnswer(const Slot& slot, const http::Request* request,
                                           int status, uint64_t body_bytes);
  // A request in the parser with its head read and its body still coming,
  // not answered already.
  bool UploadInProgress() const;
  // Logs and counts `slot`'s answer, produced now; or, when an answer
  // before it may still end the connection first (AnswerMayBeDropped),
  // keeps its line in the slot until its bytes reach the stream.
  void LogAnswer(Slot& slot, const http::Request* request, int status,
                 uint64_t body_bytes);
  // Logs and counts an answer at once (a slot outside the pipeline too).
  void LogAnswerNow(const Slot& slot, const http::Request* request, int status,
                    uint64_t body_bytes);
  // Writes a kept line: `status` and `body_bytes` as given (what the
  // connection's end made of it), the rest as produced.
  void LogKept(const Slot& slot, const LoggedAnswer& answer, int status,
               uint64_t body_bytes);
  // Whether `slot`'s bytes may never be sent although it is answered: an
  // answer before it is still to come, or ends the connection.
  bool AnswerMayBeDropped(const Slot& slot) const;
  // When `slot`'s answer is taken as produced, for its duration.
  SteadyTime AnswerTime(const Slot& slot);
  // Output and phase.
  void Advance();
  void MoveReadyOutput();
  void Finish();
  void UpdateReadingAndTimer();
  // Whether the connection reads now (WantRead()): the header and body
  // timers measure the client, and stop while the server itself does not
  // read (its pipeline full, its output backlogged, stashed input waiting);
  // when it reads again they go on where they stopped.
  void NoteReading(bool reading);
  SteadyTime NextTimeout() const;
  void OnTimer();
  bool WantRead() const;
  // Answers pile up unsent: no request is read or parsed until they drain.
  // With hysteresis: paused once over max_unsent_bytes, reading again only
  // once all of it went (OnStreamDrained), not as soon as it dips below the
  // limit (a timer's re-check used to resume reading then, and a client
  // that does not read got its stashed requests parsed and answered into
  // the same stuck output, just before its write timeout).
  bool OutputBacklogged() const {
    const size_t pending = stream_->pending_output();
    return pending > config().max_unsent_bytes || (output_paused_ && pending > 0);
  }
  bool Idle() const;
  // Some request in the pipeline is still being processed (not answered).
  bool AnyInFlight() const;
  // The held request is let go unprocessed (a closing answer before it, or
  // the connection's close), with its body's memory.
  void DropHeldRequest();
  // Nothing more is parsed for now: a request with an unsafe method waits
  // for those before it, or is still processed itself (RFC 9112 §9.3.2).
  bool UnsafeRequestPending() const {
    return held_request_ != nullptr || (!pipeline_.empty() && pipeline_.back().unsafe &&
                                        pipeline_.back().state != Slot::State::kDone);
  }
  bool ParserIdle() const { return parser_ == nullptr || parser_->idle(); }
  // `data`, just read, is only CR and LF bytes and comes between requests
  // (none in progress, none waiting): empty lines (CRLF) the parser will
  // skip; a bare LF is refused by the parser anyway.
  bool OnlyLineEndsBetweenRequests(std::string_view data) const;
  // No byte of a further request was received after the last one parsed
  // (none unparsed, stashed or in the parser): the last slot is the last.
  bool NoRequestAfterLast() const {
    return !input_after_ && stash_.empty() && ParserIdle() && held_request_ == nullptr;
  }
  bool HeadersComplete() const {
    return parser_ != nullptr && parser_->headers_complete();
  }
  // Gives the parser back (no request in progress any more), and what its
  // body held of max_body_memory unless `keep_body_memory` (a request just
  // taken from it, whose dispatch passes it on).
  void ReleaseParser(bool keep_body_memory = false);
  // Holds the body received so far against max_body_memory; false (and
  // nothing held) when that would go past it.
  bool HoldBodyMemory();
  void ReleaseBodyMemory();
  // Whether a body of `bytes` would fit in max_body_memory now.
  bool BodyMemoryFor(uint64_t bytes) const;
  // The refusal of the request being received for max_body_memory,
  // counted under its route.
  http::Response RefuseBodyMemory();
  RouteMetrics& MetricsFor(size_t route);
  // The time now, read from the clock: never before the loop iteration's
  // cached time, which may be older than the bytes or the connection a
  // decision is about (a connection accepted late in a long iteration).
  SteadyTime ClockNow() const;
  const ConnectionConfig& config() const { return *env_.context.config; }
  const ConnectionContext& context() const { return env_.context; }
  net::EventLoop& loop() const { return *env_.loop; }

  ConnectionOwner* const owner_;
  // The owner's (it outlives its connections).
  const ConnectionEnv& env_;
  const std::shared_ptr<const ConnectionInfo> info_;
  std::unique_ptr<net::Stream> stream_;
  // The parser exists while a request is being received (see
  // ConnectionOwner::TakeParser); the pipeline allocates nothing when empty
  // (std::deque would allocate ~600 bytes up front).
  std::unique_ptr<http::RequestParser> parser_;
  // A request with an unsafe method parsed while requests before it were
  // still being processed: it is dispatched once they are all answered
  // (RFC 9112 §9.3.2: only safe methods run in parallel), and never if one
  // of them ends the connection (§9.6: no request after a closing answer is
  // processed). Nothing after it is parsed meanwhile.
  struct HeldRequest {
    http::Request request;
    SteadyTime arrival;
  };
  std::unique_ptr<HeldRequest> held_request_;  // (rare: kept off the object)
  std::list<Slot> pipeline_;
  // Input received while parsing is paused (pipeline full): allocated only
  // then, and freed once parsed (an idle connection holds 8 bytes for it).
  net::LazyBytes stash_;
  // Body bytes of the request being received, held against
  // ConnectionConfig::max_body_memory (ServerMetrics::body_bytes_held).
  size_t body_reserved_ = 0;

  // The state's flags are bits, and sit with the phase and the linger's
  // count in 8 bytes: every idle connection holds them (see the
  // static_assert on sizeof(Connection) in connection.cc). Touched on the
  // reactor's thread only, like everything here.
  Phase phase_ = Phase::kOpen;
  // The output went over max_unsent_bytes and has not drained since.
  bool output_paused_ : 1 = false;
  // While ProcessInput() dispatches a request: bytes follow it.
  bool input_after_ : 1 = false;
  bool draining_ : 1 = false;    // answers carry Connection: close
  bool close_idle_ : 1 = false;  // ...and an idle connection closes
  // The connection ends on an error: the client may still be sending.
  bool abort_input_ : 1 = false;
  // Requests (or their bytes) were dropped behind a closing answer: the
  // client may still be sending, so Finish() lingers.
  bool input_dropped_ : 1 = false;
  bool continue_sent_ : 1 = false;  // for the request being received
  // A due header or idle timeout waits for bytes already received (OnTimer).
  bool timeout_deferred_ : 1 = false;
  // A request came (dispatched, or answered without one): before it, the
  // header timeout runs from the accept (head_started_).
  bool any_request_ : 1 = false;
  // TLS: the handshake is not done yet (OnHandshakeDone()).
  bool awaiting_handshake_ : 1 = false;
  // The client ended its input (OnStreamEof): the requests received whole
  // are answered, then the connection closes.
  bool input_ended_ : 1 = false;
  // The stream ended on an error of the server's own (OnStreamError).
  bool server_error_ : 1 = false;
  // Bytes read and dropped while lingering.
  LingerBytes lingered_;

  // The next timeout check, in the owner's ConnectionTimers (armed: a check
  // is due no later than timer_.due; it re-checks then).
  TimerSlot timer_;
  SteadyTime last_activity_{};
  SteadyTime head_started_{};
  // Since when the server has not read a request's bytes of its own accord
  // (NoteReading); {} while it reads.
  SteadyTime read_paused_at_{};
  // Output: bytes handed to the stream so far; write progress since the
  // output last got stuck.
  uint64_t appended_ = 0;
  uint64_t sent_at_check_ = 0;
  SteadyTime write_progress_at_{};
  SteadyTime linger_started_{};

 public:
  // The owner's timer heap for its connections (see ScheduleTimeout).
  using Timers = ConnectionTimers<Connection, &Connection::timer_, &Connection::OnTimer>;
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_CONNECTION_H_
