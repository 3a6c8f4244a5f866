#include "server/connection.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>
#include <optional>
#include <utility>

#include "http/conditional.h"
#include "http/response_writer.h"
#include "http/trace_context.h"
#include "server/linger.h"
#include "server/log_limiter.h"
#include "server/stderr_writer.h"

namespace brisk::internal {
namespace {

// The 304 or 412 standing in for `response` (http::ConditionalAnswer); the
// wall clock, which reads a request's two-digit years, only for requests
// with a conditional field.
std::optional<http::Response> ConditionalFor(const http::Request& request,
                                             const http::Response& response) {
  if (!http::HasConditionalField(request)) return std::nullopt;
  return http::ConditionalAnswer(request, response, static_cast<int64_t>(std::time(nullptr)));
}

// Every open connection holds one, idle ones too: the memory per idle
// connection (README: tools/bench/idle_memory.sh, beside nginx's) counts on
// this size (192 bytes: a 208-byte block of glibc's allocator). A field
// added grows every connection; make room for it, or move rare state off
// the object as held_request_ is. (It had grown to 224 unnoticed: 48
// bytes more per idle connection in an outside review's measurement.)
static_assert(sizeof(Connection) <= 192, "Connection grew: see the comment above");

// The access log's and metrics' status of a request whose connection ended
// before its answer was given (nginx's 499).
constexpr int kStatusConnectionClosed = 499;

// The request's valid W3C traceparent (a view into it), or empty.
std::string_view TraceParentOf(const http::Request* request) {
  if (request == nullptr) return {};
  return http::RequestTraceParent(*request).value_or(std::string_view());
}

// A final answer's status: 2xx to 5xx. A handler's 1xx would be taken for
// an interim response (the request left without a final one; 101 claims a
// protocol switch), and codes outside 100..599 are invalid (RFC 9110 §15):
// either is the handler's error, answered 500.
bool IsFinalStatus(int status) { return status >= 200 && status <= 599; }

}  // namespace

Connection::Connection(ConnectionOwner* owner, const ConnectionEnv& env,
                       std::shared_ptr<const ConnectionInfo> info)
    : owner_(owner), env_(env), info_(std::move(info)) {}

Connection::~Connection() { Close(); }

void Connection::Start(std::unique_ptr<net::Stream> stream) {
  stream_ = std::move(stream);
  if (stream_ == nullptr) {
    Close();
    return;
  }
  // The clock, not the iteration's cached time: a connection accepted late
  // in a long iteration would have its header timeout start before it.
  last_activity_ = ClockNow();
  head_started_ = last_activity_;  // the first request's clock
  awaiting_handshake_ = info_ != nullptr && info_->secure;
  stream_->Start();  // may deliver (and even finish) at once
  if (phase_ == Phase::kClosed) return;
  UpdateReadingAndTimer();
}

void Connection::OnHandshakeDone() {
  if (phase_ == Phase::kClosed || !awaiting_handshake_) return;
  awaiting_handshake_ = false;
  // As a plain connection's accept: the first request's head (and, while
  // silent, the connection) gets the whole header timeout from now.
  last_activity_ = ClockNow();
  head_started_ = last_activity_;
  UpdateReadingAndTimer();
}

SteadyTime Connection::ClockNow() const {
  return std::max(loop().clock().Now(), loop().Now());
}

RouteMetrics& Connection::MetricsFor(size_t route) {
  ServerMetrics& m = *context().metrics;
  return route < m.num_routes() ? m.route(route) : m.unmatched();
}

// ------------------------------------------------------------------ input

void Connection::OnStreamData(std::string_view data) {
  if (phase_ == Phase::kClosed) return;
  // When these bytes reached the machine: the kernel's receive time, or the
  // time of this read when unknown; once per read (not per request: a
  // pipelined read holds many) into the receive lag. The clock is read
  // now, not the iteration's cached time: an iteration may have begun
  // before these bytes existed (a connection accepted late in a long one),
  // and a deadline or a timeout (header, body stall) counted from it would
  // start before its request.
  const SteadyTime read_at = ClockNow();
  // Empty lines between requests, which the parser skips (RFC 9112 §2.2),
  // are not activity: a client sending "\r\n" every few seconds held an
  // idle keep-alive connection open forever (acceptance review).
  if (!OnlyLineEndsBetweenRequests(data)) last_activity_ = read_at;
  SteadyTime arrival = read_at;
  if (const SteadyTime received = stream_->receive_time(); received != SteadyTime{}) {
    arrival = std::min(received, read_at);
    context().metrics->receive_lag.Observe(read_at - arrival);
  }
  if (phase_ == Phase::kLingering) {
    // Discard: the client was told to go away and may still be sending.
    if (!lingered_.Drop(data.size())) Close();
    return;
  }
  ProcessInput(data, arrival);
  Advance();
}

bool Connection::OnlyLineEndsBetweenRequests(std::string_view data) const {
  if (phase_ != Phase::kOpen || !pipeline_.empty() || !stash_.empty() || !ParserIdle()) {
    return false;
  }
  return data.find_first_not_of("\r\n") == std::string_view::npos;
}

void Connection::ProcessInput(std::string_view data, SteadyTime arrival) {
  while (!data.empty()) {
    if (phase_ != Phase::kOpen || pipeline_.size() >= config().max_pipeline_depth ||
        OutputBacklogged() || UnsafeRequestPending()) {
      stash_.append(data);  // parsed once the pipeline (or the output) has room
      return;
    }
    if (parser_ == nullptr) parser_ = owner_->TakeParser();
    const bool was_idle = parser_->idle();
    http::ParseResult r = parser_->Feed(data);
    if (r.kind != http::ParseResult::kError && !HoldBodyMemory()) {
      // Bodies arriving on every connection together would take more
      // memory than the server may give them: refused (503, Retry-After)
      // rather than risk the process (an allocation failure ends it). A
      // status the head alone decides (404, 405, 421, 501) is the answer
      // instead, as with Expect: 100-continue: a request that cannot
      // succeed is not told to retry (503, Retry-After).
      stash_.clear();
      std::optional<http::Response> final =
          context().dispatcher->RoutingAnswer(parser_->request(), info_.get());
      const bool routed = !final.has_value();
      AnswerWithoutRequest(routed ? RefuseBodyMemory() : *std::move(final), parser_->head_request(),
                           &parser_->request(), routed);
      ReleaseParser();  // nothing more is parsed; its request is answered
      return;
    }
    if (r.kind == http::ParseResult::kNeedMore) {
      // A head starts arriving: the header timeout runs from this read (the
      // clock, not the iteration's possibly older cached time).
      if (was_idle && !parser_->idle()) {
        head_started_ = ClockNow();
      }
      MaybeSendContinue();
      return;
    }
    if (r.kind == http::ParseResult::kError) {
      stash_.clear();
      context().metrics->bad_requests.fetch_add(1, std::memory_order_relaxed);
      // After the head (a 413 for its declared length, a bad chunk): the
      // log line names the request, and its route counts the error.
      AnswerWithoutRequest(http::Response::Status(r.status),
                           parser_->head_request(),
                           parser_->head_read() ? &parser_->request() : nullptr);
      // Answered (its log line copied): a parser left in its error state
      // looked mid-request to the timers, whose 408 for it, at the idle
      // timeout behind a slow request ahead, was logged with the request
      // of a head refused before it was whole (offsets into a read long
      // gone: heap bytes in the log).
      ReleaseParser();
      return;
    }
    data.remove_prefix(r.consumed);
    continue_sent_ = false;
    input_after_ = !data.empty();  // more requests may follow this one
    http::Request request = parser_->TakeRequest();
    // None in progress: the parser goes; the request's body stays held
    // (Dispatch() passes it on).
    if (data.empty() && parser_->idle()) ReleaseParser(/*keep_body_memory=*/true);
    if (!pipeline_.empty() && !request.is_safe() && AnyInFlight()) {
      // Processed after those before it (RFC 9112 §9.3.2), if at all; the
      // rest of the input waits for it (its body stays held).
      held_request_ = std::make_unique<HeldRequest>(HeldRequest{std::move(request), arrival});
      stash_.append(data);
      input_after_ = false;
      return;
    }
    Dispatch(std::move(request), arrival);
    input_after_ = false;
    if (phase_ == Phase::kClosed) return;
    // An answer given at once (inline) leaves the front, and the next one
    // goes straight to the stream: counted by the output check above. Left
    // in its slot, every answer behind the first was held aside unseen, so
    // a client that pipelines and never reads made the server hold up to
    // max_pipeline_depth answers, not max_unsent_bytes (outside review).
    if (!data.empty() && !pipeline_.empty() && pipeline_.front().state == Slot::State::kDone) {
      MoveReadyOutput();
      if (phase_ == Phase::kClosed) return;
      if (phase_ != Phase::kOpen) {  // it was open at the loop's top
        // A closing answer: nothing after it is processed (as the rest of
        // the pipeline when it reached the front); the close lingers.
        input_dropped_ = true;
        return;
      }
    }
  }
}

void Connection::MaybeSendContinue() {
  if (continue_sent_ || phase_ != Phase::kOpen || !pipeline_.empty() ||
      parser_ == nullptr || !parser_->expects_continue()) {
    return;
  }
  continue_sent_ = true;
  // A status the head alone decides (no route: 404, 405, 501) goes now
  // instead of 100 (RFC 9110 §10.1.1), with Connection: close: the client
  // need not send the body, and what it sends anyway is not read.
  std::optional<http::Response> final =
      context().dispatcher->RoutingAnswer(parser_->request(), info_.get());
  const bool routed = !final.has_value();
  if (!final.has_value() &&
      !BodyMemoryFor(parser_->request().content_length().value_or(0))) {
    // The body would not fit in max_body_memory now: refused before the
    // client sends it, rather than after.
    final = RefuseBodyMemory();
  }
  if (final.has_value()) {
    AnswerWithoutRequest(*final, parser_->head_request(), &parser_->request(), routed);
    ReleaseParser();
    // Done at once, alone in the pipeline: off it now, whoever called (from
    // Advance() nothing else would take it off on epoll, and the closing
    // answer would never close the connection).
    MoveReadyOutput();
    return;
  }
  std::string& out = stream_->output();
  const size_t before = out.size();
  http::AppendContinue(&out);
  appended_ += out.size() - before;
}

void Connection::Dispatch(http::Request request, SteadyTime arrival) {
  // Not before the request arrived (the iteration's time may be older).
  const SteadyTime now = std::max(loop().Now(), arrival);
  any_request_ = true;
  pipeline_.emplace_back();
  Slot& slot = pipeline_.back();
  slot.parsed = now;
  slot.head = request.is_head();
  slot.unsafe = !request.is_safe();
  slot.version_minor = request.version_minor();
  slot.close_after = !request.keep_alive();
  if (slot.close_after) phase_ = Phase::kFinishing;  // parse nothing after it

  Dispatcher::Outcome outcome = context().dispatcher->Dispatch(
      request, arrival, now, DispatchHome{env_.home, info_, this});
  slot.metrics_route = outcome.metrics_route;
  slot.quiet = outcome.quiet;
  if (outcome.response.has_value()) {
    ReleaseBodyMemory();  // answered: the body goes with the request
    Complete(slot, *outcome.response, &request);
    return;
  }
  slot.exchange = std::move(outcome.exchange);
  // The body stays counted while it waits for a worker and while its
  // handler has it: the exchange gives it back when it goes.
  slot.exchange->HoldBodyMemory(&context().metrics->body_bytes_held,
                                static_cast<int64_t>(std::exchange(body_reserved_, 0)));
  context().metrics->in_flight.fetch_add(1, std::memory_order_relaxed);
  context().metrics->route(slot.metrics_route).in_flight.fetch_add(1, std::memory_order_relaxed);
  Exchange* exchange = slot.exchange.get();
  if (exchange->deadline() != SteadyTime::max()) {
    // First at the latest time it can start and still make its deadline
    // (if it is still queued then, it is refused: OnDeadline), then at the
    // deadline itself.
    slot.deadline_timer =
        loop().RunAt(std::min(exchange->latest_useful_start(), exchange->deadline()),
                     [this, exchange] { OnDeadline(exchange); });
  }
  // An inline async handler may have answered within the call.
  if (exchange->HasUpdate()) ApplyUpdate(slot, exchange->TakeUpdate());
}

void Connection::AnswerWithoutRequest(const http::Response& response, bool head,
                                      const http::Request* request, bool routed) {
  any_request_ = true;
  phase_ = Phase::kFinishing;
  abort_input_ = true;  // the client may be in the middle of a request
  pipeline_.emplace_back();
  Slot& slot = pipeline_.back();
  slot.parsed = loop().Now();
  slot.head = head;  // no content in any answer to HEAD (RFC 9110 §9.3.2)
  slot.close_after = true;
  slot.metrics_route = request != nullptr && routed ? context().dispatcher->MetricsRouteOf(*request)
                                                    : context().metrics->num_routes();
  if (request != nullptr) slot.version_minor = request->version_minor();
  Complete(slot, response, request);
}

// ---------------------------------------------------------------- answers

std::string* Connection::OutputFor(Slot& slot) {
  // At the front of the pipeline an answer goes straight to the stream.
  return &slot == &pipeline_.front() ? &stream_->output() : &slot.bytes;
}

SteadyTime Connection::AnswerTime(const Slot& slot) {
  // Never before the request was parsed: one read late in a long iteration
  // is parsed after the iteration's cached time (a negative duration
  // otherwise). No clock read per inline answer: answered in the iteration
  // that read it, its duration is the time since the read, taken as zero.
  // An offloaded one reads the clock: its answer may be applied in the
  // very iteration that parsed it (the handler finished while the
  // iteration was still at work), whose cached time predates the handler.
  return std::max(slot.exchange != nullptr ? loop().clock().Now() : loop().Now(),
                  slot.parsed);
}

bool Connection::AnswerMayBeDropped(const Slot& slot) const {
  // Answers before it that are whole and keep the connection open will be
  // sent before it (the usual pipeline of inline answers); one still to
  // come may turn out to end the connection (an HTTP/1.0 stream ends with
  // it, a stream cut short closes it), and what is behind it is never sent.
  // One before it whose own line is kept: this one's follows it, so a
  // connection's lines keep its requests' order. `slot` is in the
  // pipeline (a slot outside it is logged with LogAnswerNow()). The walk
  // stops at the first slot not whole: whole ones at the front leave for
  // the output at once, unless the output is backlogged, and the pipeline
  // holds at most max_pipeline_depth slots.
  for (const Slot& s : pipeline_) {
    if (&s == &slot) return false;
    if (s.state != Slot::State::kDone || s.close_after || s.logged != nullptr) return true;
  }
  return false;
}

void Connection::LogAnswer(Slot& slot, const http::Request* request, int status,
                           uint64_t body_bytes) {
  if (!AnswerMayBeDropped(slot)) {
    LogAnswerNow(slot, request, status, body_bytes);
    return;
  }
  // Its line and count wait for its bytes to reach the stream: a request
  // whose answer was dropped behind a closing one was logged 200 and
  // counted as answered though the client never got a byte of it.
  slot.logged = KeepAnswer(slot, request, status, body_bytes);
}

std::unique_ptr<Connection::LoggedAnswer> Connection::KeepAnswer(const Slot& slot,
                                                                 const http::Request* request,
                                                                 int status, uint64_t body_bytes) {
  auto kept = std::make_unique<LoggedAnswer>();
  kept->status = status;
  kept->body_bytes = body_bytes;
  kept->duration = AnswerTime(slot) - slot.parsed;
  if (context().access_log != nullptr) {
    kept->parsed = request != nullptr;
    if (request != nullptr) {
      kept->client = info_ != nullptr ? info_->ClientAddress(*request) : "-";
      kept->method = std::string(request->method());
      kept->target = std::string(request->target());
      kept->traceparent = std::string(TraceParentOf(request));
    } else {
      kept->client = info_ != nullptr ? info_->peer.HostString() : "-";
      if (parser_ != nullptr) kept->target = std::string(parser_->request_line_seen());
    }
  }
  return kept;
}

void Connection::LogAnswerNow(const Slot& slot, const http::Request* request, int status,
                              uint64_t body_bytes) {
  const SteadyTime now = AnswerTime(slot);
  RouteMetrics& m = MetricsFor(slot.metrics_route);
  m.RecordStatus(status);
  m.total.Observe(now - slot.parsed);
  if (slot.quiet && status < 400) return;  // RouteOptions::access_log
  if (context().access_log != nullptr && request == nullptr) {
    // Refused or timed out before a head was read: what came as its
    // request line stands for it.
    context().access_log->LogUnparsed(
        info_ != nullptr ? info_->peer.HostString() : std::string("-"),
        info_ != nullptr ? info_->log_user() : "-",
        parser_ != nullptr ? parser_->request_line_seen() : std::string_view(),
        status, slot.head ? 0 : body_bytes, now - slot.parsed);
  } else if (context().access_log != nullptr) {
    context().access_log->Log(
        info_ != nullptr ? info_->ClientAddress(*request) : std::string("-"),
        info_ != nullptr ? info_->log_user() : "-", request->method(),
        request->target(), slot.version_minor,
        status, slot.head ? 0 : body_bytes, now - slot.parsed,
        TraceParentOf(request));
  }
}

void Connection::LogKept(const Slot& slot, const LoggedAnswer& answer, int status,
                         uint64_t body_bytes) {
  RouteMetrics& m = MetricsFor(slot.metrics_route);
  m.RecordStatus(status);
  m.total.Observe(answer.duration);
  if (context().access_log == nullptr || (slot.quiet && status < 400)) return;
  const std::string_view user = info_ != nullptr ? info_->log_user() : "-";
  if (!answer.parsed) {
    context().access_log->LogUnparsed(answer.client, user, answer.target, status,
                                      slot.head ? 0 : body_bytes, answer.duration);
  } else {
    context().access_log->Log(answer.client, user, answer.method, answer.target,
                              slot.version_minor, status,
                              slot.head ? 0 : body_bytes, answer.duration,
                              answer.traceparent);
  }
}

void Connection::LogUnanswered(Slot& slot, bool reached_stream) {
  // Requests the connection ends before their answer still get their log
  // line and count: a stream cut short with its status and the bytes sent,
  // a request never answered with 499 (nginx's "client closed request"; a
  // timeout that closed a connection whose client stopped reading, or a
  // request pipelined behind a closing answer, ends here too). An answer
  // produced behind one that ended the connection, never sent, is one of
  // them: its kept line says so.
  const int unanswered = server_error_ ? 500 : kStatusConnectionClosed;
  if (slot.logged != nullptr) {
    if (reached_stream) {
      LogKept(slot, *slot.logged, slot.logged->status, slot.logged->body_bytes);
    } else {
      LogKept(slot, *slot.logged, unanswered, 0);
    }
    return;
  }
  if (slot.exchange == nullptr || slot.state == Slot::State::kDone) return;
  const http::Request* request = &slot.exchange->context().request();
  if (slot.state == Slot::State::kStreaming && reached_stream) {
    slot.quiet = false;  // a truncation is logged on a quiet route too (EndStream)
    LogAnswerNow(slot, request, slot.stream_status, slot.streamed_bytes);
  } else {
    LogAnswerNow(slot, request, unanswered, 0);
  }
}

bool Connection::UploadInProgress() const {
  // Not one already answered (a 408, 413, 503 body_memory: abort_input_),
  // nor a head still incomplete.
  return parser_ != nullptr && !abort_input_ && parser_->headers_complete();
}

void Connection::LogCutOffRequest() {
  // A request whose head was read (and routed) but whose body the end of
  // the connection cut off: the client left mid-upload. Logged and counted
  // like any request the connection ended before its answer (499, or 500
  // for an error of the server's), or an abandoned upload leaves no trace
  // (outside review).
  if (!UploadInProgress()) return;
  const http::Request& request = parser_->request();
  Slot slot;
  slot.parsed = loop().Now();  // as a 408 for a stalled body: 0 duration
  slot.head = request.is_head();
  slot.unsafe = !request.is_safe();
  slot.version_minor = request.version_minor();
  slot.metrics_route = context().dispatcher->MetricsRouteOf(request);
  const int status = server_error_ ? 500 : kStatusConnectionClosed;
  if (pipeline_.empty()) {
    LogAnswerNow(slot, &request, status, 0);
    return;
  }
  // Requests before it still to be answered (a half-close behind a slow
  // request): its line follows theirs, as a connection's lines keep its
  // requests' order (it was logged at once, before theirs).
  slot.logged = KeepAnswer(slot, &request, status, 0);
  pipeline_.back().cut_off_after = std::make_unique<Slot>(std::move(slot));
}

void Connection::LogCutOffAfter(Slot& slot) {
  if (slot.cut_off_after == nullptr) return;
  const std::unique_ptr<Slot> cut = std::move(slot.cut_off_after);
  LogUnanswered(*cut, /*reached_stream=*/true);  // its kept line, as kept
}

http::ResponseOptions Connection::HeadOptions(Slot& slot,
                                              const http::Request* request) {
  // While draining, or once the client's input ended, the connection's
  // last answer says so: the last slot, with no further request bytes
  // received. The server's flag too: an
  // answer may reach this reactor before the drain (or handover) does.
  if (!draining_ && context().lifecycle != nullptr && context().lifecycle->closing_connections()) {
    draining_ = true;
    MarkHeldLastAnswerClose();
  }
  if ((draining_ || input_ended_) && &slot == &pipeline_.back() &&
      NoRequestAfterLast()) {
    slot.close_after = true;
  }
  if (slot.close_after && phase_ == Phase::kOpen) phase_ = Phase::kFinishing;
  http::ResponseOptions opt;
  opt.date = owner_->Date();
  opt.keep_alive = !slot.close_after;
  opt.head = slot.head;
  opt.request_version_minor = slot.version_minor;
  opt.traceparent = TraceParentOf(request);
  return opt;
}

template <typename Append>
void Connection::Emit(Slot& slot, Append&& append) {
  std::string* out = OutputFor(slot);
  const size_t before = out->size();
  append(out);
  if (out == &stream_->output()) appended_ += out->size() - before;
}

void Connection::Complete(Slot& slot, const http::Response& response,
                          const http::Request* request) {
  // The handler's last answer (also when a 500 stands in for it).
  if (response.AsksToClose()) slot.close_after = true;
  if (!IsFinalStatus(response.status)) {
    Complete(slot, http::Response::Status(500), request);
    return;
  }
  // A 200 to GET or HEAD whose request's precondition is false (RFC 9110
  // §13.1) goes as the 304 or 412 standing in for it: the method is safe,
  // so judging after the handler ran is as judging before it.
  if (request != nullptr) {
    if (std::optional<http::Response> c = ConditionalFor(*request, response)) {
      Complete(slot, *c, request);
      return;
    }
  }
  LogAnswer(slot, request, response.status, response.body.size());
  const http::ResponseOptions opt = HeadOptions(slot, request);
  Emit(slot, [&](std::string* out) { http::AppendResponse(response, opt, out); });
  slot.state = Slot::State::kDone;
}

void Connection::StartStream(Slot& slot, const http::Response& head,
                             const http::Request& request) {
  // Nothing to stream: a whole answer (or not a final status: 500, or a
  // 304 or 412 for a false precondition: what the producer sends is
  // dropped).
  if (http::StatusHasNoContent(head.status) || !IsFinalStatus(head.status) ||
      ConditionalFor(request, head).has_value()) {
    Complete(slot, head, &request);
    ReleaseExchange(slot);
    return;
  }
  slot.chunked = slot.version_minor >= 1;
  // An HTTP/1.0 body without a length ends when the connection closes.
  if (!slot.chunked || head.AsksToClose()) slot.close_after = true;
  const http::ResponseOptions opt = HeadOptions(slot, &request);
  Emit(slot, [&](std::string* out) { http::AppendStreamHead(head, opt, out); });
  slot.state = Slot::State::kStreaming;
  slot.stream_status = head.status;
  if (slot.head) {
    // A HEAD request gets the head only: the stream is over for it.
    LogAnswer(slot, &request, head.status, 0);
    slot.state = Slot::State::kDone;
    ReleaseExchange(slot);
    return;
  }
  if (!head.body.empty()) AppendStreamBody(slot, head.body);
}

void Connection::AppendStreamBody(Slot& slot, std::string_view body) {
  if (body.empty()) return;
  slot.streamed_bytes += body.size();
  Emit(slot, [&](std::string* out) {
    if (slot.chunked) {
      http::AppendChunk(body, out);
    } else {
      out->append(body);
    }
  });
}

void Connection::EndStream(Slot& slot, bool cut_off) {
  if (cut_off) slot.quiet = false;  // a truncation is logged on a quiet route too
  LogAnswer(slot, &slot.exchange->context().request(), slot.stream_status,
            slot.streamed_bytes);
  if (cut_off) {
    // The body is incomplete: end the connection after what was written,
    // without the last chunk (nor, over TLS, close_notify: an HTTP/1.0
    // stream has no chunks), so the client cannot take it for whole.
    slot.close_after = true;
    abort_input_ = true;
    if (&slot == &pipeline_.front()) {
      if (stream_ != nullptr) stream_->MarkTruncated();
    } else {
      slot.truncated = true;  // its bytes reach the stream later, if ever
    }
  } else if (slot.chunked) {
    Emit(slot, [](std::string* out) { http::AppendLastChunk(out); });
  }
  if (slot.close_after && phase_ == Phase::kOpen) phase_ = Phase::kFinishing;
  slot.state = Slot::State::kDone;
  ReleaseExchange(slot);
}

void Connection::ApplyUpdate(Slot& slot, ExchangeUpdate update) {
  if (slot.held.has_value()) {
    // Still waiting for the answers before it: stream pieces join the head.
    slot.held->body += update.body;
    slot.held->finished = slot.held->finished || update.finished;
    slot.held->cut_off = slot.held->cut_off || update.cut_off;
    return;
  }
  if (update.head.has_value()) {
    if (slot.deadline_timer != net::kInvalidTimerId) {
      loop().Cancel(slot.deadline_timer);
      slot.deadline_timer = net::kInvalidTimerId;
    }
    const http::Request& request = slot.exchange->context().request();
    // Never a 2xx after the deadline, even one produced just before it
    // whose way home took longer, a stream's head included (what follows
    // it is dropped; the producer sees the stream closed). The clock is
    // read now, not the iteration's cached time: a busy iteration may have
    // started well before this answer is written.
    const bool deadline_bound_2xx =  // the answers a deadline holds back
        update.head->status >= 200 && update.head->status < 300 &&
        slot.exchange->deadline() != SteadyTime::max();
    if (deadline_bound_2xx && loop().clock().Now() > slot.exchange->deadline()) {
      // The 503 stands in for it, its Connection: close included.
      if (update.head->AsksToClose()) slot.close_after = true;
      slot.exchange->MarkLate();  // its worker time was wasted
      context().metrics->late_results_dropped.fetch_add(1, std::memory_order_relaxed);
      context().metrics->deadline_exceeded.fetch_add(1, std::memory_order_relaxed);
      MetricsFor(slot.metrics_route).deadline_exceeded.fetch_add(1, std::memory_order_relaxed);
      Complete(slot, http::Response::Text(503, "deadline exceeded\n"), &request);
      ReleaseExchange(slot);
      return;
    }
    // In time now, but written only after the answers before it: checked
    // again when it reaches the front (MoveReadyOutput).
    if (deadline_bound_2xx && &slot != &pipeline_.front()) {
      slot.held = std::move(update);
      return;
    }
    if (!update.streaming) {
      Complete(slot, *update.head, &request);
      ReleaseExchange(slot);
      return;
    }
    StartStream(slot, *update.head, request);
    if (slot.state != Slot::State::kStreaming) return;
  }
  if (slot.state != Slot::State::kStreaming) return;
  AppendStreamBody(slot, update.body);
  if (update.finished || update.cut_off) EndStream(slot, update.cut_off);
}

void Connection::ApplyQueuedUpdate(Slot& slot) {
  if (slot.exchange != nullptr && slot.exchange->HasUpdate()) {
    ApplyUpdate(slot, slot.exchange->TakeUpdate());
  }
}

Connection::Slot* Connection::FindSlot(const Exchange* exchange) {
  for (Slot& s : pipeline_) {
    if (s.exchange.get() == exchange) return &s;
  }
  return nullptr;
}

void Connection::OnExchangeUpdate(Exchange& exchange) {
  if (phase_ == Phase::kClosed) return;
  Slot* slot = FindSlot(&exchange);
  if (slot == nullptr) return;
  ApplyUpdate(*slot, exchange.TakeUpdate());
  Advance();
}

void Connection::OnDeadline(Exchange* exchange) {
  Slot* slot = FindSlot(exchange);
  if (slot == nullptr) return;
  slot->deadline_timer = net::kInvalidTimerId;
  if (loop().Now() < exchange->deadline()) {
    // Its latest useful start: still queued, it can no longer make its
    // deadline, so it is refused now (expired_in_queue, as a worker would
    // when it came to it) rather than answered 503 at its deadline, and no
    // worker takes it. Started (or answered) meanwhile: the deadline
    // stands.
    if (exchange->WithdrawUnstarted()) {
      Dispatcher& dispatcher = *context().dispatcher;
      dispatcher.CountShed(slot->metrics_route, ShedReason::kExpiredInQueue);
      Complete(*slot, dispatcher.Refusal(ShedReason::kExpiredInQueue),
               &exchange->context().request());
      ReleaseExchange(*slot);
      Advance();
      return;
    }
    slot->deadline_timer =
        loop().RunAt(exchange->deadline(), [this, exchange] { OnDeadline(exchange); });
    return;
  }
  // An answer that claimed the exchange first is on its way: it wins.
  if (!exchange->Expire()) return;
  ServerMetrics& m = *context().metrics;
  m.deadline_exceeded.fetch_add(1, std::memory_order_relaxed);
  MetricsFor(slot->metrics_route).deadline_exceeded.fetch_add(1, std::memory_order_relaxed);
  if (!exchange->started()) {
    // It never ran: a refusal, whatever the policy.
    m.deadline_in_queue.fetch_add(1, std::memory_order_relaxed);
    m.RecordShed(slot->metrics_route,
                 static_cast<size_t>(ShedReason::kExpiredInQueue));
  }
  Complete(*slot, http::Response::Text(503, "deadline exceeded\n"),
           &exchange->context().request());
  ReleaseExchange(*slot);
  Advance();
}

void Connection::ReleaseExchange(Slot& slot) {
  if (slot.exchange == nullptr) return;
  if (slot.deadline_timer != net::kInvalidTimerId) {
    loop().Cancel(slot.deadline_timer);
    slot.deadline_timer = net::kInvalidTimerId;
  }
  slot.exchange->Unbind();
  slot.exchange.reset();
  context().metrics->in_flight.fetch_sub(1, std::memory_order_relaxed);
  context().metrics->route(slot.metrics_route).in_flight.fetch_sub(1, std::memory_order_relaxed);
}

// ------------------------------------------------------- output and phase

void Connection::MoveReadyOutput() {
  while (!pipeline_.empty()) {
    Slot& front = pipeline_.front();
    if (front.held.has_value()) {
      ExchangeUpdate update = *std::move(front.held);
      front.held.reset();
      ApplyUpdate(front, std::move(update));  // 503 if now past the deadline
    }
    if (!front.bytes.empty()) {
      stream_->output().append(front.bytes);
      appended_ += front.bytes.size();
      std::string().swap(front.bytes);
    }
    if (front.truncated) stream_->MarkTruncated();
    if (front.logged != nullptr) {
      // Its bytes are at the stream now: its line and count are due.
      LogKept(front, *front.logged, front.logged->status, front.logged->body_bytes);
      front.logged.reset();
    }
    if (front.state != Slot::State::kDone) return;  // waiting or streaming
    const bool close = front.close_after;
    LogCutOffAfter(front);
    pipeline_.pop_front();
    // The idle timeout runs from the last answer, not from the read of its
    // request (an answer slower than the timeout would otherwise leave the
    // connection idle "since long ago", closed as soon as it is written).
    // The iteration's time: the answer came no earlier.
    if (pipeline_.empty()) last_activity_ = std::max(last_activity_, loop().Now());
    if (close) {
      // Nothing after a closing answer is sent: let the rest go. The client
      // pipelined them, and may be sending more: the close lingers.
      if (!pipeline_.empty() || !stash_.empty() || held_request_ != nullptr) {
        input_dropped_ = true;
      }
      // Not processed: a client may send it again (RFC 9112 §9.6).
      DropHeldRequest();
      for (Slot& rest : pipeline_) {
        LogUnanswered(rest, /*reached_stream=*/false);
        LogCutOffAfter(rest);
        ReleaseExchange(rest);
      }
      pipeline_.clear();
      stash_.clear();
      if (phase_ == Phase::kOpen) phase_ = Phase::kFinishing;
      return;
    }
  }
}

void Connection::Advance() {
  if (phase_ == Phase::kClosed) return;
  MoveReadyOutput();
  for (;;) {
    // A request with an unsafe method whose turn came: every request before
    // it is answered (and none ended the connection, or it was dropped).
    if (held_request_ != nullptr && phase_ == Phase::kOpen && !AnyInFlight()) {
      const std::unique_ptr<HeldRequest> held = std::move(held_request_);
      Dispatch(std::move(held->request), held->arrival);
      if (phase_ == Phase::kClosed) return;
      MoveReadyOutput();
    }
    // Requests received while the pipeline was full, as long as answering
    // them inline keeps making room.
    while (phase_ == Phase::kOpen && !stash_.empty() &&
           pipeline_.size() < config().max_pipeline_depth && !UnsafeRequestPending()) {
      if (OutputBacklogged()) {
        // Answers pile up unsent (a client that pipelines and does not
        // read): the kernel takes what it can, and the rest of the stash
        // waits for the output to drain (OnStreamDrained), or the write
        // timeout. Answering it all at once grew memory without bound.
        if (!stream_->Flush()) {
          Close();  // the client is gone (EPIPE, reset)
          return;
        }
        if (OutputBacklogged()) break;
      }
      std::string pending = stash_.Take();
      // Stashed while the pipeline was full: its arrival time is gone; the
      // time it is taken now is the conservative stand-in (the wait in the
      // stash is not taken from the budget). The clock, not the iteration's
      // cached time: the stash may have been filled, by a connection accepted
      // late in a long iteration, after that iteration began.
      ProcessInput(pending, ClockNow());
      if (phase_ == Phase::kClosed) return;
      MoveReadyOutput();
    }
    // A request held while the stash was parsed may have its turn at once:
    // every answer before it was in (answers held back until they reach
    // the front are moved out by MoveReadyOutput above), and no event would
    // come for it later (a pipeline stalled for good, seen under TSan).
    if (held_request_ == nullptr || phase_ != Phase::kOpen || AnyInFlight()) break;
  }
  // The end of input cut the last request off (once the requests stashed
  // before it are parsed): it never completes.
  if (input_ended_ && stash_.empty() && !ParserIdle()) {
    LogCutOffRequest();
    ReleaseParser();
  }
  MaybeSendContinue();
  if (stream_->pending_output() > 0 && !stream_->Flush()) {
    Close();  // the client is gone (EPIPE, reset)
    return;
  }
  const size_t pending = stream_->pending_output();
  if (pending > config().max_unsent_bytes) output_paused_ = true;
  if (pending == 0) {
    output_paused_ = false;
    write_progress_at_ = SteadyTime{};
  } else if (write_progress_at_ == SteadyTime{}) {
    // Output just got stuck: now by the clock (the iteration's cached time
    // may be older, and the write timeout would start before the stall).
    write_progress_at_ = ClockNow();
    sent_at_check_ = appended_ - pending;
  }
  // A streamed answer at the front learns how much of it is unsent.
  if (!pipeline_.empty() && pipeline_.front().exchange != nullptr &&
      pipeline_.front().state == Slot::State::kStreaming) {
    pipeline_.front().exchange->SetUnsent(pending);
  }
  if (phase_ == Phase::kFinishing && pipeline_.empty() && pending == 0) {
    Finish();
    if (phase_ == Phase::kClosed) return;
  }
  // Idle, and told to close so (a drain): unless the next request has
  // reached the socket already and only waits for the loop to read it
  // (epoll learns of it a turn later) — it is read, answered with
  // Connection: close, and the connection closes after it. Closing with it
  // unread would send a reset and lose it.
  if (phase_ == Phase::kOpen && Idle() &&
      (input_ended_ || (close_idle_ && !stream_->HasUnreadInput()))) {
    Close();  // a FIN after the last answer, which the client may read
    return;
  }
  UpdateReadingAndTimer();
}

void Connection::Finish() {
  // Linger only when the client may still be sending (input unparsed,
  // unread or dropped behind a closing answer, or an aborted request);
  // otherwise a plain close sends FIN, not a reset. Requests pipelined
  // behind a closing answer (a handler's or the client's Connection: close)
  // say the client may send more: closing with input in the socket would
  // reset the connection and could destroy the answer before the client
  // reads it (RFC 9112 §9.6). Not once the client's FIN was read: it sends
  // nothing more, and a loop that reports the end of input once (io_uring)
  // would leave the close to the linger's 2 s.
  const bool may_send_more = !input_ended_ && (abort_input_ || input_dropped_ || !stash_.empty() ||
                                               !ParserIdle() || stream_->HasUnreadInput());
  if (!may_send_more) {
    Close();
    return;
  }
  stream_->ShutdownWrite();
  phase_ = Phase::kLingering;
  linger_started_ = ClockNow();  // the linger's 2 s run from now
  stash_.clear();
  // An upload cut off by the close (behind a handler's closing answer) is
  // logged and counted as the end of the connection would.
  LogCutOffRequest();
  ReleaseParser();
}

void Connection::ReleaseParser(bool keep_body_memory) {
  if (!keep_body_memory) ReleaseBodyMemory();
  if (parser_ != nullptr) owner_->GiveBackParser(std::move(parser_));
}

bool Connection::HoldBodyMemory() {
  // A body is counted as its buffer grows with the bytes that arrive (its
  // capacity: what it takes), so a client that declares a large body but
  // sends little holds little.
  if (!parser_->headers_complete()) return true;
  // A request without a body bytes yet holds no body buffer of its own:
  // not counted (nor touched, the shared counter, on the hot path). A
  // pooled parser may keep the buffer of an earlier request (up to 64 KiB):
  // counted only once this request's body uses it (a GET /healthz was
  // refused for the buffer an abandoned upload left in its parser).
  static const size_t kInline = std::string().capacity();
  const size_t capacity = parser_->request().body_capacity();
  const size_t body =
      capacity > kInline && !parser_->request().body().empty() ? capacity : 0;
  if (body <= body_reserved_) return true;
  std::atomic<int64_t>& total = context().metrics->body_bytes_held;
  const auto more = static_cast<int64_t>(body - body_reserved_);
  // A limit past INT64_MAX (SIZE_MAX: no limit) is no limit, not -1.
  const auto limit = static_cast<int64_t>(
      std::min<size_t>(config().max_body_memory, std::numeric_limits<int64_t>::max()));
  if (total.fetch_add(more, std::memory_order_relaxed) + more > limit) {
    total.fetch_sub(more, std::memory_order_relaxed);
    return false;
  }
  body_reserved_ = body;
  return true;
}

http::Response Connection::RefuseBodyMemory() {
  context().dispatcher->CountShed(context().dispatcher->MetricsRouteOf(parser_->request()),
                                  ShedReason::kBodyMemory);
  return context().dispatcher->Refusal(ShedReason::kBodyMemory);
}

bool Connection::BodyMemoryFor(uint64_t bytes) const {
  const int64_t held = context().metrics->body_bytes_held.load(std::memory_order_relaxed);
  return held >= 0 && bytes <= config().max_body_memory &&
         static_cast<uint64_t>(held) + bytes <= config().max_body_memory;
}

void Connection::ReleaseBodyMemory() {
  if (body_reserved_ == 0) return;
  context().metrics->body_bytes_held.fetch_sub(
      static_cast<int64_t>(body_reserved_), std::memory_order_relaxed);
  body_reserved_ = 0;
}

bool Connection::Idle() const {
  return pipeline_.empty() && stash_.empty() && ParserIdle() && held_request_ == nullptr &&
         stream_->pending_output() == 0;
}

bool Connection::AnyInFlight() const {
  for (const Slot& s : pipeline_) {
    if (s.state != Slot::State::kDone) return true;
  }
  return false;
}

void Connection::DropHeldRequest() {
  if (held_request_ == nullptr) return;
  held_request_.reset();
  ReleaseBodyMemory();  // its body's share of max_body_memory
}

bool Connection::WantRead() const {
  switch (phase_) {
    case Phase::kLingering:
      return true;
    case Phase::kOpen:
      return !input_ended_ && stash_.empty() && !UnsafeRequestPending() &&
             pipeline_.size() < config().max_pipeline_depth && !OutputBacklogged();
    default:
      return false;
  }
}

void Connection::Close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  owner_->CancelTimeout(this);
  const bool cut_short = !pipeline_.empty() && pipeline_.front().state == Slot::State::kStreaming;
  bool front = true;
  for (Slot& s : pipeline_) {
    const bool is_front = std::exchange(front, false);
    // Answers the client will not get whole are wasted work, not useful: a
    // stream cut short (its client left or stopped reading, or the drain
    // cut it: what it had not read, in our buffers or the kernel's, is
    // lost), and an answer a handler gave that was not applied yet (its
    // delivery task still queued, a stream's head or pieces included).
    // Handlers still at work are late when they answer (Exchange::Claim).
    if (s.exchange != nullptr && ((is_front && cut_short) || s.exchange->HasUpdate())) {
      s.exchange->MarkLate();
    }
    LogUnanswered(s, /*reached_stream=*/is_front);
    LogCutOffAfter(s);
    ReleaseExchange(s);  // the client is gone
  }
  pipeline_.clear();
  DropHeldRequest();
  stash_.clear();
  LogCutOffRequest();
  ReleaseParser();
  if (stream_ != nullptr) {
    // A streamed answer under way is cut short: its client must not read
    // the close as its end (an HTTP/1.0 stream ends only there; over TLS a
    // close_notify would say the body is whole, RFC 9112 §9.8).
    if (cut_short) stream_->MarkTruncated();
    stream_->Close();
  }
  owner_->OnConnectionClosed(this);
}

void Connection::CloseAnsweringPending() {
  if (phase_ == Phase::kClosed) return;
  if (phase_ != Phase::kLingering) {
    draining_ = true;  // what is written now says Connection: close
    for (Slot& s : pipeline_) {
      // An answer (or stream pieces) that reached the exchange but whose
      // delivery task is still queued behind this one: take it now, or the
      // close would drop an answer that was already given. (A handler
      // freed by the cancellations below, or a worker finishing just now,
      // may have answered a request queued behind it.)
      ApplyQueuedUpdate(s);
      if (s.exchange == nullptr) continue;
      // Requests still waiting for a handler (queued or running): 503, and
      // the handler is cancelled. A streamed answer already under way
      // cannot be replaced; it ends with the connection.
      if (s.state != Slot::State::kWaiting) continue;
      if (!s.exchange->Expire()) {
        // Answered by its handler between the check above and now: that
        // answer is in the mailbox.
        ApplyQueuedUpdate(s);
        continue;
      }
      Complete(s, http::Response::Text(503, "shutting down\n"),
               &s.exchange->context().request());
      ReleaseExchange(s);
    }
    // A request held behind them (an unsafe method waits for the answers
    // before its own, RFC 9112 §9.3.2) was never processed: it is told so,
    // 503 as the last answer with Connection: close, instead of being
    // dropped unanswered behind a keep-alive 503, which left its client
    // unable to tell whether its POST had run (outside review).
    if (held_request_ != nullptr) {
      const std::unique_ptr<HeldRequest> held = std::move(held_request_);
      AnswerWithoutRequest(http::Response::Text(503, "shutting down\n"), /*head=*/false,
                           &held->request);
      ReleaseBodyMemory();  // its body's share of max_body_memory
    } else if (UploadInProgress()) {
      // An upload still arriving (its head read, its body not) gets the
      // same answer, rather than being cut off and logged 499 as if its
      // client had left (white-box review).
      AnswerWithoutRequest(http::Response::Text(503, "shutting down\n"),
                           parser_->head_request(), &parser_->request());
    }
    MoveReadyOutput();
    if (stream_->pending_output() > 0) stream_->Flush();  // as far as it goes
  }
  Close();
}

void Connection::MarkHeldLastAnswerClose() {
  if (pipeline_.empty() || !NoRequestAfterLast()) return;
  Slot& last = pipeline_.back();
  // Still to come (HeadOptions marks it), or already at the stream: an
  // answer the client may be reading cannot be changed.
  if (last.close_after || last.state == Slot::State::kWaiting ||
      &last == &pipeline_.front() || last.bytes.empty()) {
    return;
  }
  // The bytes held behind the slots before it begin with its head, which
  // ends with the Connection field (http::AppendResponse).
  static constexpr std::string_view kKeepAlive = "Connection: keep-alive\r\n\r\n";
  static constexpr std::string_view kClose = "Connection: close\r\n\r\n";
  const size_t end = last.bytes.find("\r\n\r\n");
  if (end == std::string::npos || end + 4 < kKeepAlive.size()) return;
  const size_t at = end + 4 - kKeepAlive.size();
  if (std::string_view(last.bytes).substr(at, kKeepAlive.size()) != kKeepAlive) return;
  last.bytes.replace(at, kKeepAlive.size(), kClose);
  last.close_after = true;
  if (phase_ == Phase::kOpen) phase_ = Phase::kFinishing;
}

void Connection::BeginDrain(bool close_idle) {
  if (phase_ == Phase::kClosed) return;
  draining_ = true;
  close_idle_ = close_idle_ || close_idle;
  MarkHeldLastAnswerClose();
  // A busy connection marks its last answer Connection: close (HeadOptions)
  // and closes after it; an idle one closes now if asked (Advance).
  Advance();
}

void Connection::OnStreamEof() {
  if (phase_ == Phase::kClosed) return;
  if (phase_ == Phase::kLingering) {  // the client saw our end: done
    Close();
    return;
  }
  // The client closed its sending side: it sends no more requests. A
  // server cannot tell shutdown(SHUT_WR) (a client that still reads its
  // answers: `nc -N`, a script that reads until EOF) from close() (a client
  // that left). The first must not lose its answers; the second is found
  // out at the first write (its kernel answers with a reset, and the
  // requests behind it are cancelled), and the deadline bounds the work
  // meanwhile. So every request received whole is answered, in order (an
  // answer produced from now on says Connection: close), and then the
  // connection closes. A request the end of input cut off is dropped by
  // Advance() (RFC 9112 section 8: it is incomplete).
  input_ended_ = true;
  MarkHeldLastAnswerClose();
  Advance();
}

void Connection::OnStreamInputTaken() {
  // Only a drain waits for unread input before it closes an idle
  // connection (Advance); a PROXY header or a TLS handshake message taken
  // below is no request, and the connection may close now.
  if (phase_ != Phase::kOpen || !close_idle_) return;
  Advance();
}

void Connection::OnStreamDrained() {
  if (phase_ == Phase::kClosed) return;
  last_activity_ = ClockNow();  // the idle timeout runs from now
  Advance();
}

namespace {

// An error of the server's own making (out of memory, of epoll watches or
// of buffers; a descriptor it lost), as opposed to the peer's (a reset, a
// protocol error, a timeout).
bool IsServerSideError(int error) {
  switch (error) {
    case ENOMEM: case ENOSPC: case ENOBUFS: case EMFILE: case ENFILE:
    case EBADF: case EINVAL: case EFAULT: case EIO:
      return true;
    default:
      return false;
  }
}

}  // namespace

void Connection::OnStreamError(int error) {
  if (IsServerSideError(error)) {
    // Counted and said (one stderr line per 10 s, process-wide), and what
    // it cuts short is logged 500, not 499 ("the client left").
    server_error_ = true;
    context().metrics->connection_errors.fetch_add(1, std::memory_order_relaxed);
    static LogLimiter log;
    if (const uint64_t n = log.Count(); n != 0) {
      SayOnStderr(
          "connection from %s ended by an error of the server's: %s (%llu "
          "such since the last line like this; "
          "brisk_connection_errors_total counts them all)",
          info_ != nullptr ? info_->peer.HostString().c_str() : "-", std::strerror(error),
          static_cast<unsigned long long>(n));
    }
  }
  Close();
}

// ----------------------------------------------------------------- timers

SteadyTime Connection::NextTimeout() const {
  switch (phase_) {
    case Phase::kClosed:
      return SteadyTime::max();
    case Phase::kLingering:
      return linger_started_ + kLingerTimeout;
    default:
      break;
  }
  if (stream_->pending_output() > 0 && write_progress_at_ != SteadyTime{}) {
    return write_progress_at_ + config().write_timeout;
  }
  // A request arriving (only while requests are read: one answered
  // already is no longer waited for, and the client is not timed while the
  // server does not read what it sends).
  const bool timing_client = phase_ == Phase::kOpen && read_paused_at_ == SteadyTime{};
  if (timing_client && !ParserIdle() && !HeadersComplete()) {
    return head_started_ + config().header_timeout;  // slowloris
  }
  if (timing_client && HeadersComplete()) {
    return last_activity_ + config().idle_timeout;  // body stalled
  }
  if (pipeline_.empty() && !any_request_) {
    // A TLS handshake under way: its own timer (in the stream, always armed
    // by the server: handshake_timeout > 0) cuts it off, counted and logged
    // as a handshake timeout; the header timeout starts when it ends
    // (OnHandshakeDone). The idle timeout ran too and, when the shorter,
    // cut handshakes off before --tls_handshake_timeout, as header timeouts.
    if (awaiting_handshake_) return SteadyTime::max();
    // A connection that has sent nothing yet: the header timeout from its
    // accept, as nginx's client_header_timeout, so a silent one does not
    // hold a slot for a whole idle timeout.
    return std::min(head_started_ + config().header_timeout,
                    last_activity_ + config().idle_timeout);
  }
  if (pipeline_.empty()) return last_activity_ + config().idle_timeout;
  return SteadyTime::max();  // waiting for handlers: their deadlines rule
}

void Connection::UpdateReadingAndTimer() {
  if (phase_ == Phase::kClosed) return;
  const bool reading = WantRead();
  stream_->SetReading(reading);
  NoteReading(reading);
  const SteadyTime due = NextTimeout();
  if (due == SteadyTime::max()) return;  // an armed timer re-checks when due
  if (timer_.armed() && timer_.due <= due) return;
  owner_->ScheduleTimeout(this, due);
}

void Connection::NoteReading(bool reading) {
  if (phase_ != Phase::kOpen || input_ended_) {
    read_paused_at_ = SteadyTime{};  // no request is read any more
    return;
  }
  if (!reading) {
    if (read_paused_at_ == SteadyTime{}) read_paused_at_ = ClockNow();
    return;
  }
  if (read_paused_at_ == SteadyTime{}) return;
  // Reading again: the pause is taken off the head's and the body's clocks
  // (the part of it after each started). A body stashed behind a full
  // pipeline, parsed once a slot freed, was cut off at once (408) when the
  // pipeline had taken longer than the idle timeout to make room.
  const SteadyTime now = ClockNow();
  for (SteadyTime* started : {&head_started_, &last_activity_}) {
    *started += now - std::max(*started, read_paused_at_);
  }
  read_paused_at_ = SteadyTime{};
}

void Connection::OnTimer() {
  if (phase_ == Phase::kClosed) return;
  const SteadyTime now = loop().Now();
  ServerMetrics& m = *context().metrics;
  const size_t pending = stream_->pending_output();
  if (phase_ != Phase::kLingering && pending > 0 &&
      write_progress_at_ != SteadyTime{}) {
    // The write timeout bounds a stall, not a long transfer: progress since
    // the last check restarts it (as nginx's send_timeout).
    const uint64_t sent = appended_ - pending;
    if (sent > sent_at_check_) {
      sent_at_check_ = sent;
      // From the last progress the stream saw, if it knows (a stall that
      // began right after a partial send times out write_timeout after
      // it, not a whole check later); else from this check.
      const SteadyTime progress = stream_->last_write_progress();
      write_progress_at_ = progress != SteadyTime{}
                               ? std::max(write_progress_at_, progress)
                               : now;
    }
  }
  if (now < NextTimeout()) {  // the state moved on since the timer was set
    timeout_deferred_ = false;
    UpdateReadingAndTimer();
    return;
  }
  // The client's bytes are here, unread because this reactor fell behind
  // (a long iteration, a starved thread): it was not silent. They are read
  // first, and the timeout is checked again after them (the next
  // iteration's timers run after its IO). Once per timeout: bytes kept in
  // flight (empty lines, a head dribbled in) do not hold a connection open.
  // (Under ThreadSanitizer, a reactor stalled past the 1 s header timeout
  // closed connections whose whole request had been waiting for it.)
  if (phase_ == Phase::kOpen && pending == 0 && !timeout_deferred_ && stream_->HasUnreadInput()) {
    timeout_deferred_ = true;
    owner_->ScheduleTimeout(this, now);
    return;
  }
  if (phase_ == Phase::kLingering) {
    Close();
  } else if (pending > 0) {
    m.timeouts_write.fetch_add(1, std::memory_order_relaxed);
    Close();
  } else if (phase_ == Phase::kOpen && !ParserIdle()) {
    // Slowloris (head) or a stalled body: 408, then close. A body stall is
    // the idle timeout's (the longest pause while a body arrives).
    (HeadersComplete() ? m.timeouts_idle : m.timeouts_header)
        .fetch_add(1, std::memory_order_relaxed);
    // Answered before the parser goes: the log line names a stalled
    // body's request (and its route counts it), or shows the unfinished
    // request line.
    const bool head = parser_ != nullptr && parser_->head_request();
    AnswerWithoutRequest(http::Response::Status(408), head,
                         HeadersComplete() ? &parser_->request() : nullptr);
    ReleaseParser();
    Advance();
  } else {
    // Silent since its accept: the header timeout; else an idle keep-alive.
    (any_request_ ? m.timeouts_idle : m.timeouts_header)
        .fetch_add(1, std::memory_order_relaxed);
    Close();
  }
}

}  // namespace brisk::internal
