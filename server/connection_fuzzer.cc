// libFuzzer target for the server's HTTP/1.1 connection state machine: one
// real Connection, with the real Dispatcher, route table, admission policy
// and request parser, over a ScriptedTransport and a FakeClock loop. An
// input is a script of events: what the client writes (raw bytes from the
// input, or canned requests), how the network delivers it (pieces of any
// size, EOF, a reset), how much output the kernel takes (window 0, some,
// all), the clock moving (header, idle, write, linger timeouts; request
// deadlines), the worker running the next offloaded job, a Responder
// answering, streaming, or dropped, and the server draining or stopping.
// There are no threads and no sockets: offloaded jobs wait in the admission
// policy (the WorkerPool's own threads are stopped before the first job)
// until the script runs them on this thread, so every run reproduces.
//
// Input: pairs of bytes (op, argument), op % 18:
//   0 the client writes the next `argument` bytes of the input (raw)
//   1 the client writes canned request argument % kCanned
//   2 the network delivers up to argument + 1 written bytes (one read)
//   3 the network delivers everything written (one read), and a pending EOF
//   4 the client half-closes (EOF after what it wrote)
//   5 the connection is reset
//   6 the kernel takes argument * 61 more output bytes
//   7 the kernel takes nothing more (window 0)
//   8 the kernel takes everything (window unlimited)
//   9 the clock advances (see Delay()) and the loop runs once
//  10 a worker runs the next offloaded job (or answers the refused ones)
//  11 a waiting Responder (argument / 16 picks it) sends an answer (some
//     with Connection: close)
//  12 ... is dropped (500, or a cut-off stream)
//  13 ... begins a stream (some heads with Connection: close), writes a
//     piece (when the buffer is full, with argument & 2, asks OnWritable
//     for one more), or finishes it
//  14 the server drains (BeginDrain(argument & 1))
//  15 the server stops (CloseAnsweringPending)
//  16 the connection is closed (Close)
//  17 the client writes canned request argument % kCanned, delivered at once
// Input is delivered only while the connection reads (as a socket would).
//
// Checked after every event (a failed check is __builtin_trap()):
//  - ASan/UBSan findings; no owner callback after the close, one close;
//    nothing queued on the stream after it is closed;
//  - everything the connection produced parses as a sequence of HTTP/1.1
//    responses (http::ResponseParser): valid status lines, no bytes that
//    are not part of a response, and framing that matches (Content-Length
//    or chunked; none for HEAD, 1xx, 204, 304; a close-delimited body only
//    on a closing answer);
//  - answers in request order: the n-th final answer answers the n-th
//    request a parallel RequestParser (fed the same bytes) saw, so there are
//    never more final answers than requests, plus at most one error answer
//    for a request that did not parse (which must close); a 100 Continue
//    only for a request that asked for it; a request that asked to close
//    gets a closing answer; a 200's body belongs to its own request (the
//    handlers echo the request's method, target and body);
//  - a handler's Connection: close (a Responder's answer or stream head)
//    makes its answer a closing one, and nothing follows an answer with
//    Connection: close;
//  - at the end, once every handler answered and all input was delivered,
//    an open connection has answered every request it received, and no
//    request is left counted in flight.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/request.h"
#include "http/request_parser.h"
#include "http/response.h"
#include "http/response_parser.h"
#include "net/clock.h"
#include "net/event_loop.h"
#include "server/admission.h"
#include "server/connection.h"
#include "server/deadline_policy.h"
#include "server/dispatcher.h"
#include "server/exchange.h"
#include "server/handler.h"
#include "server/metrics.h"
#include "server/route_table.h"
#include "server/testing/scripted_transport.h"
#include "server/worker_pool.h"

namespace {

using brisk::Responder;
using brisk::RequestContext;
using brisk::ServerMetrics;
using brisk::SteadyTime;
using brisk::http::Request;
using brisk::http::Response;
using brisk::http::ResponseParser;
using brisk::internal::Connection;
using brisk::testing::ScriptedTransport;

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

// CONNECTION_FUZZER_TRACE=1 in the environment: each event, each answer and
// the end state go to stderr (to read a crashing input).
const bool kTrace = std::getenv("CONNECTION_FUZZER_TRACE") != nullptr;

template <typename... Args>
void Trace(const char* format, Args... args) {
  if (kTrace) std::fprintf(stderr, format, args...);
}

// Far above any machine's uptime: Exchange also compares deadlines with the
// real steady clock, which must never find a fake deadline passed.
constexpr brisk::net::TimePoint kStart(std::chrono::hours(24 * 365 * 10));
constexpr std::string_view kDate = "Sun, 06 Nov 1994 08:49:37 GMT";

// Small limits, so the script reaches them often.
const brisk::http::ParserLimits kLimits{.max_request_line_bytes = 256,
                                        .max_header_bytes = 512,
                                        .max_header_count = 16,
                                        .max_body_bytes = 2048,
                                        .max_chunk_extension_bytes = 32};

const std::string_view kCanned[] = {
    "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
    "HEAD /hello HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
    "Expect: 100-continue\r\n\r\n",
    "wxyz",
    "GET /async HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /work HTTP/1.1\r\nHost: a\r\nX-Request-Budget-Ms: 300\r\n\r\n",
    "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /stream HTTP/1.0\r\n\r\n",
    "HEAD /stream HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "GET /hello HTTP/1.0\r\n\r\n",
    "GET /async HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    "BREW /hello HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /nowhere HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
    "Expect: 100-continue\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n",
    "GET /hello HTTP/1.1\r\nHost: a\r\nX-Big: "
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    "zz\r\n",
    "GET /empty HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /async HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
    "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /work HTTP/1.1\r\nHost: a\r\nX-Request-Budget-Ms: 1\r\n\r\n",
    "\r\n",
    "GET /hello HTTP/2.0\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
    "Transfer-Encoding: chunked\r\n\r\n",
    "HEAD /nowhere HTTP/1.1\r\nHost: a\r\n\r\n",
    "HEAD /work HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
    "Expect: 100-continue\r\n\r\nabc",
    "GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    // A false precondition: the 200 (a stream's head too) goes as 304/412.
    "GET /stream HTTP/1.1\r\nHost: a\r\nIf-None-Match: *\r\n\r\n",
    "GET /hello HTTP/1.1\r\nHost: a\r\nIf-Match: \"x\"\r\n\r\n",
};
constexpr size_t kCannedCount = sizeof(kCanned) / sizeof(kCanned[0]);

// After the tag, a handler's answer that asked to close the connection.
constexpr std::string_view kCloseMark = "|close";

// What a 200 from every route but /hello starts with: the request itself,
// so an answer given to the wrong request shows.
std::string Tag(const Request& request) {
  std::string tag(request.method());
  tag += ' ';
  tag += request.target();
  tag += '\n';
  tag += request.body();
  return tag;
}

// 0..99: tens of ms; 100..199: tenths of s; 200..255: seconds.
std::chrono::nanoseconds Delay(size_t arg) {
  if (arg < 100) return std::chrono::milliseconds(10 * arg);
  if (arg < 200) return std::chrono::milliseconds(100 * (arg - 100));
  return std::chrono::seconds(arg - 200);
}

// A request as a parallel parser saw it (the server sees the same bytes).
struct SeenRequest {
  bool head = false;
  bool keep_alive = true;
  bool expects_continue = false;
  std::string path;
  std::string tag;
};

class Shadow {
 public:
  void Feed(std::string_view data) {
    while (!data.empty() && !failed_) {
      const brisk::http::ParseResult r = parser_.Feed(data);
      if (r.kind == brisk::http::ParseResult::kNeedMore) return;
      if (r.kind == brisk::http::ParseResult::kError) {
        failed_ = true;
        return;
      }
      data.remove_prefix(r.consumed);
      const Request q = parser_.TakeRequest();
      seen_.push_back({.head = q.is_head(),
                       .keep_alive = q.keep_alive(),
                       .expects_continue = q.expects_continue(),
                       .path = std::string(q.path()),
                       .tag = Tag(q)});
    }
  }
  size_t count() const { return seen_.size(); }
  const SeenRequest& at(size_t i) const { return seen_[i]; }
  // A request is under way (or failed) after the complete ones.
  bool partial() const { return failed_ || !parser_.idle(); }
  bool failed() const { return failed_; }
  bool head_request() const { return parser_.head_request(); }
  bool expects_continue() const { return parser_.expects_continue(); }

 private:
  brisk::http::RequestParser parser_{kLimits};
  std::vector<SeenRequest> seen_;
  bool failed_ = false;
};

std::optional<std::string_view> Field(const ResponseParser& p,
                                      std::string_view name) {
  for (const auto& [n, v] : p.headers()) {
    if (n.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < n.size() && same; ++i) {
      same = (n[i] | 0x20) == (name[i] | 0x20);
    }
    if (same) return std::string_view(v);
  }
  return std::nullopt;
}

// Parses what the connection produced, response by response, and checks it
// against the requests the shadow parser saw.
class OutputChecker {
 public:
  explicit OutputChecker(const Shadow* shadow) : shadow_(*shadow) {}

  void Add(std::string_view bytes) {
    if (bytes.empty()) return;
    Require(!close_seen_);  // nothing after Connection: close
    wire_.append(bytes);
    while (!wire_.empty()) {
      Require(!close_seen_);
      if (!begun_) Begin();
      const ResponseParser::Result r = parser_.Feed(wire_);
      Require(r.state != ResponseParser::kError);
      wire_.erase(0, r.consumed);
      if (r.state != ResponseParser::kComplete) return;
      Completed(/*at_eof=*/false);
    }
  }
  // The connection closed: a close-delimited body ends here.
  void OnClose() {
    if (begun_ && wire_.empty() && parser_.FinishOnEof()) Completed(/*at_eof=*/true);
  }
  size_t finals() const { return finals_; }
  bool close_seen() const { return close_seen_; }

 private:
  // Whether the request answered next was HEAD (as of its answer's start:
  // a request still under way cannot change what its line said).
  bool HeadRequest() const {
    return finals_ < shadow_.count() ? shadow_.at(finals_).head
                                     : shadow_.head_request();
  }
  void Begin() {
    // Never an answer before its request: a final answer needs a complete
    // request, or one under way that it ends (an error, a timeout).
    Require(finals_ < shadow_.count() ||
            (finals_ == shadow_.count() && shadow_.partial()));
    parser_.BeginResponse(HeadRequest());
    begun_ = true;
  }
  void Completed(bool at_eof) {
    begun_ = false;
    const int status = parser_.status_code();
    Trace("  answer %zu: %d, %zu body bytes, %s%s\n", finals_, status,
          parser_.body().size(), parser_.keep_alive() ? "keep-alive" : "close",
          at_eof ? ", ended by the close" : "");
    Require(status >= 100 && status <= 599);
    const std::optional<std::string_view> length = Field(parser_, "content-length");
    const std::optional<std::string_view> coding = Field(parser_, "transfer-encoding");
    const bool complete = finals_ < shadow_.count();
    if (status < 200) {
      // Only 100 Continue, only to a request that asked, before its body.
      Require(status == 100 && !length && !coding);
      Require(complete ? shadow_.at(finals_).expects_continue
                       : shadow_.expects_continue());
      return;
    }
    const bool head = HeadRequest();
    if (status == 204 || status == 304) Require(!coding);
    if (status == 204) Require(!length);
    if (!head && status != 204 && status != 304) {
      // Framed by Content-Length or chunked, or close-delimited (HTTP/1.0
      // streams) on a closing answer only.
      Require(length.has_value() || coding.has_value() ||
              (at_eof && !parser_.keep_alive()));
    }
    if (!complete) {
      // The answer to a request that did not parse, timed out or was
      // refused on its head: an error, and the last answer.
      Require(status >= 400 && !parser_.keep_alive());
    } else {
      const SeenRequest& q = shadow_.at(finals_);
      if (!q.keep_alive) Require(!parser_.keep_alive());
      if (status == 200 && !head) {
        if (q.path == "/hello") {
          Require(parser_.body() == "hello\n");
        } else if (q.path != "*") {
          Require(std::string_view(parser_.body()).substr(0, q.tag.size()) == q.tag);
          // A handler that asked to close got a closing answer.
          if (std::string_view(parser_.body()).substr(q.tag.size()).starts_with(kCloseMark)) {
            Require(!parser_.keep_alive());
          }
        }
      }
    }
    switch (status) {
      case 400: case 408: case 413: case 414: case 431: case 505:
        Require(!parser_.keep_alive());  // bad input: the connection ends
        break;
      default:
        break;
    }
    if (!parser_.keep_alive()) close_seen_ = true;
    ++finals_;
  }

  const Shadow& shadow_;
  ResponseParser parser_{{.keep_message = true, .skip_interim = false}};
  std::string wire_;  // produced, not parsed yet (a partial line)
  bool begun_ = false;
  bool close_seen_ = false;
  size_t finals_ = 0;
};

// An async request waiting for the script to answer it (any of them may
// answer whole or stream).
struct Waiting {
  // Shared with OnWritable callbacks (weakly), which write one more piece.
  std::shared_ptr<Responder> responder;
  bool streaming = false;  // BeginStream() was called
};

// One input's world: the server pieces, the connection and the client.
class World final : public brisk::internal::ConnectionOwner {
 public:
  World() : clock_(kStart) {
    loop_ = *brisk::net::CreateEpollLoop({.clock = &clock_});
    home_ = std::make_shared<brisk::internal::LoopHandle>(loop_.get());
    timers_ = std::make_unique<Connection::Timers>(loop_.get());
    AddRoutes();
    metrics_ = std::make_shared<ServerMetrics>(routes_.metric_names());
    config_ = {.header_timeout = std::chrono::seconds(2),
               .idle_timeout = std::chrono::seconds(5),
               .write_timeout = std::chrono::seconds(3),
               .max_pipeline_depth = 3,
               .max_unsent_bytes = 2048,
               .parser_limits = kLimits};
    dispatcher_ = std::make_unique<brisk::internal::Dispatcher>(
        &routes_, metrics_,
        brisk::internal::DispatchOptions{
            .request_deadline = std::chrono::seconds(1),
            .exchange = {.stream_buffer_limit = 1024}});
    brisk::internal::DeadlinePolicyOptions policy{.capacity = 3, .workers = 1};
    for (size_t i = 0; i < routes_.size(); ++i) {
      policy.max_concurrency.push_back(0);
      policy.initial_estimate.push_back(std::chrono::milliseconds(50));
      policy.batch.push_back(std::nullopt);
    }
    pool_ = std::make_unique<brisk::internal::WorkerPool>(
        1, 3, std::make_unique<brisk::internal::DeadlinePolicy>(std::move(policy)),
        dispatcher_.get(), metrics_.get());
    // The pool's thread is stopped before any job: jobs wait in the policy
    // until the script runs them (RunWorker), on this thread.
    pool_->Shutdown();
    dispatcher_->set_pools(pool_.get(), nullptr);
    context_ = {.config = &config_,
                .dispatcher = dispatcher_.get(),
                .metrics = metrics_.get()};
    env_ = {.loop = loop_.get(), .context = context_, .home = home_};
    connection_ = std::make_unique<Connection>(this, env_, nullptr);
    auto transport = std::make_unique<ScriptedTransport>(connection_.get());
    transport_ = transport.get();
    connection_->Start(std::move(transport));
  }

  ~World() {
    if (connection_ != nullptr) connection_->Close();
    waiting_.clear();
    loop_->RunOnce(brisk::net::Duration::zero());  // the deferred destruction
    Require(connection_ == nullptr);
    Require(metrics_->in_flight.load() == 0);
    for (size_t route = 0; route <= metrics_->num_routes(); ++route) {
      Require(metrics_->route(route).in_flight.load() == 0);
    }
    pool_.reset();
    timers_.reset();
    home_->Shut();
  }

  void Run(std::string_view script) {
    while (script.size() >= 2) {
      const int op = static_cast<uint8_t>(script[0]) % 18;
      const size_t arg = static_cast<uint8_t>(script[1]);
      script.remove_prefix(2);
      Trace("op %d arg %zu\n", op, arg);
      Step(op, arg, &script);
      Check();
    }
    Settle();
  }

  // ConnectionOwner.
  std::string_view Date() override { return kDate; }
  void OnConnectionClosed(Connection* connection) override {
    Require(!closed_ && connection == connection_.get());
    // What the kernel took before the close, then the close itself.
    Check();
    closed_ = true;
    Require(transport_ == nullptr || transport_->pending_output() == 0);
    checker_.OnClose();
    fin_sent_ = transport_ != nullptr && transport_->fin_sent;
    transport_ = nullptr;
    // As the reactor does: destroyed later, never inside its own call.
    loop_->Post([this] { connection_.reset(); });
  }
  std::unique_ptr<brisk::http::RequestParser> TakeParser() override {
    Require(!closed_);
    if (spare_.empty()) return std::make_unique<brisk::http::RequestParser>(kLimits);
    std::unique_ptr<brisk::http::RequestParser> p = std::move(spare_.back());
    spare_.pop_back();
    return p;
  }
  void GiveBackParser(std::unique_ptr<brisk::http::RequestParser> parser) override {
    Require(!closed_);
    parser->Reset();
    spare_.push_back(std::move(parser));
  }
  void ScheduleTimeout(Connection* connection, SteadyTime due) override {
    Require(!closed_);
    timers_->Schedule(connection, due);
  }
  void CancelTimeout(Connection* connection) override {
    timers_->Cancel(connection);
  }

 private:
  void AddRoutes() {
    using brisk::internal::Route;
    auto add = [&](Route r) { Require(routes_.Add(std::move(r)).ok()); };
    add({.method = "GET", .pattern = "/hello",
         .handler = [](RequestContext&) { return Response::Text(200, "hello\n"); },
         .options = {.run_inline = true}});
    add({.method = "GET", .pattern = "/empty",
         .handler = [](RequestContext&) { return Response::Status(204); },
         .options = {.run_inline = true}});
    add({.method = "POST", .pattern = "/echo",
         .handler = [](RequestContext& ctx) {
           return Response::Text(200, Tag(ctx.request()));
         }});
    auto park = [this](RequestContext&, Responder r) {
      waiting_.push_back({std::make_shared<Responder>(std::move(r))});
    };
    add({.method = "GET", .pattern = "/async", .async = park,
         .options = {.run_inline = true, .deadline = std::chrono::seconds(2)}});
    add({.method = "POST", .pattern = "/async", .async = park,
         .options = {.run_inline = true}});
    add({.method = "GET", .pattern = "/work", .async = park,
         .options = {.deadline = std::chrono::milliseconds(500)}});
    add({.method = "GET", .pattern = "/stream", .async = park,
         .options = {.run_inline = true}});
  }

  // Where the transport is, while the connection lives.
  bool Open() const { return !closed_ && transport_ != nullptr; }

  void Deliver(size_t max_bytes) {
    if (!Open() || !transport_->reading()) return;
    const size_t n = std::min(max_bytes, outbox_.size());
    if (n > 0) {
      const std::string bytes = outbox_.substr(0, n);
      outbox_.erase(0, n);
      shadow_.Feed(bytes);
      transport_->Deliver(bytes);
    }
    if (Open() && outbox_.empty() && eof_pending_ && transport_->reading()) {
      eof_pending_ = false;
      eof_delivered_ = true;
      transport_->DeliverEof();
    }
  }

  // One worker turn, as WorkerPool::RunAvailable takes jobs: refusals of
  // queued jobs first, then the next job unless its request was answered.
  bool RunWorker() {
    brisk::internal::AdmissionPolicy& policy = pool_->policy();
    const SteadyTime now = clock_.Now();
    std::vector<brisk::internal::Refusal> refused;
    std::optional<brisk::internal::Job> job = policy.Next(now, &refused);
    for (brisk::internal::Refusal& r : refused) {
      if (!r.job.exchange->cancelled()) dispatcher_->Refuse(*r.job.exchange, r.reason);
    }
    if (!job.has_value()) return !refused.empty();
    brisk::internal::Exchange& exchange = *job->exchange;
    if (!exchange.cancelled()) {
      exchange.MarkStarted();
      dispatcher_->Run(exchange);
    }
    policy.Finished(*job, std::chrono::milliseconds(1), now);
    return true;
  }

  Waiting* Pick(size_t arg) {
    if (waiting_.empty()) return nullptr;
    return &waiting_[(arg / 16) % waiting_.size()];
  }
  void Forget(Waiting* w) {
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
      if (&*it == w) {
        waiting_.erase(it);
        return;
      }
    }
  }

  void Send(Waiting* w, size_t kind) {
    const std::string tag = Tag(w->responder->context().request());
    // Statuses a handler should not give (no final answer is 1xx; HTTP
    // has no status below 100 or above 599) come too: the client must still
    // get a well-framed final answer.
    static constexpr int kOdd[] = {0, 99, 100, 101, 103, 199, 600, 1000};
    switch (kind % 16) {
      case 0:
        // With the top bit, the handler asks to close (RFC 9112 §9.6).
        w->responder->Send(kind & 0x80 ? Response::Text(200, tag + std::string(kCloseMark))
                                             .AddHeader("Connection", "close")
                                       : Response::Text(200, tag));
        break;
      case 1: w->responder->Send(Response::Status(204)); break;
      case 2: w->responder->Send(Response::Status(304)); break;
      case 3: w->responder->Send(Response::Status(500)); break;
      case 4: w->responder->Send(Response::Text(200, tag + std::string(3000, 'b'))); break;
      case 5: w->responder->Send(Response::Status(205)); break;
      case 6: w->responder->Send(Response::Text(404, "")); break;
      case 7: w->responder->Send(Response::Status(503)); break;
      default: w->responder->Send(Response::Text(kOdd[kind % 8], "odd\n")); break;
    }
    // A Send() on a stream under way does nothing; the Responder then goes
    // unfinished.
    Drop(w);
  }

  // The Responder goes without another word: a stream under way is cut
  // off, which ends the connection (its head may not have reached the
  // client yet).
  void Drop(Waiting* w) {
    if (w->streaming) disrupted_ = true;
    Forget(w);
  }

  void StreamStep(Waiting* w, size_t arg) {
    if (!w->streaming) {
      w->streaming = true;
      const std::string tag = Tag(w->responder->context().request());
      static constexpr int kOdd[] = {0, 101, 103, 600};
      switch (arg % 8) {
        case 0: w->responder->BeginStream(Response::Text(200, tag)); break;
        case 1: w->responder->BeginStream(Response::Status(204)); break;
        case 2: w->responder->BeginStream(Response::Text(206, "")); break;
        case 3:
          w->responder->BeginStream(arg & 0x80 ? Response::Text(200, tag + std::string(kCloseMark))
                                                     .AddHeader("Connection", "close")
                                               : Response::Text(200, tag + "x"));
          break;
        default: w->responder->BeginStream(Response::Text(kOdd[arg % 4], "")); break;
      }
    } else if (arg & 1) {
      if (!w->responder->Write(std::string(arg * 7, 's')) && (arg & 2)) {
        // Back-pressure: one more piece once the connection has room (the
        // callback runs on the loop, inside the connection's own calls).
        w->responder->OnWritable(
            [weak = std::weak_ptr<Responder>(w->responder)] {
              if (std::shared_ptr<Responder> r = weak.lock()) r->Write("w");
            });
      }
    } else {
      w->responder->Finish();
      Forget(w);
    }
  }

  void Step(int op, size_t arg, std::string_view* script) {
    switch (op) {
      case 0: {
        const size_t n = std::min(arg, script->size());
        outbox_.append(script->substr(0, n));
        script->remove_prefix(n);
        break;
      }
      case 1: outbox_.append(kCanned[arg % kCannedCount]); break;
      case 2: Deliver(arg + 1); break;
      case 3: Deliver(SIZE_MAX); break;
      case 4:
        eof_pending_ = true;
        Deliver(0);
        break;
      case 5:
        if (Open()) transport_->DeliverError(104);
        disrupted_ = true;
        break;
      case 6: if (Open()) transport_->Release(arg * 61); break;
      case 7: if (Open()) transport_->window = 0; break;
      case 8:
        if (Open()) {
          transport_->window = SIZE_MAX;
          transport_->Release(0);
        }
        break;
      case 9:
        clock_.Advance(Delay(arg));
        loop_->RunOnce(brisk::net::Duration::zero());
        break;
      case 10: RunWorker(); break;
      case 11: if (Waiting* w = Pick(arg)) Send(w, arg); break;
      case 12:
        if (Waiting* w = Pick(arg)) Drop(w);
        break;
      case 13: if (Waiting* w = Pick(arg)) StreamStep(w, arg); break;
      case 14:
        if (!closed_) connection_->BeginDrain(arg & 1);
        disrupted_ = true;
        break;
      case 15:
        if (!closed_) connection_->CloseAnsweringPending();
        disrupted_ = true;
        break;
      case 16:
        if (!closed_) connection_->Close();
        disrupted_ = true;
        break;
      case 17:
        outbox_.append(kCanned[arg % kCannedCount]);
        Deliver(SIZE_MAX);
        break;
    }
  }

  // What the connection produced since the last check, to the checker.
  void Check() {
    if (transport_ == nullptr) return;
    if (transport_->closed()) Require(transport_->pending_output() == 0);
    // Answers piled up unsent: no more requests are read (a client that
    // pipelines and never reads grew the server's memory without bound).
    // A lingering connection reads only to discard.
    Require(!transport_->reading() || transport_->write_shut() ||
            transport_->pending_output() <= config_.max_unsent_bytes);
    // ...and stay unread until the output drained, not only dipped below
    // the limit (hysteresis: Connection::OutputBacklogged).
    if (transport_->drains != drains_seen_ || transport_->pending_output() == 0) {
      output_paused_ = false;  // it all went since the last check
      drains_seen_ = transport_->drains;
    }
    if (transport_->pending_output() > config_.max_unsent_bytes) output_paused_ = true;
    Require(!transport_->reading() || transport_->write_shut() || !output_paused_);
    produced_ += transport_->TakeSent();
    const std::string& queued = transport_->output();
    const size_t total = produced_.size() + queued.size();
    if (total <= checked_) return;
    // New bytes: the end of what was sent, then of what is still queued.
    std::string fresh;
    if (checked_ < produced_.size()) fresh = produced_.substr(checked_);
    const size_t queued_from = checked_ > produced_.size() ? checked_ - produced_.size() : 0;
    fresh.append(queued, queued_from, std::string::npos);
    checked_ = total;
    checker_.Add(fresh);
  }

  // The end: every handler answers and every written byte arrives; an open
  // connection then has answered every request it received.
  void Settle() {
    // Until nothing moves: answers free pipeline slots, which let stashed
    // requests in, whose handlers answer in the next round.
    for (bool moved = true; moved && Open();) {
      const size_t produced_before = checked_;
      const size_t outbox_before = outbox_.size();
      moved = !waiting_.empty();
      transport_->window = SIZE_MAX;
      transport_->Release(0);
      Deliver(SIZE_MAX);
      moved = moved || outbox_.size() != outbox_before;
      while (RunWorker()) moved = true;
      while (!waiting_.empty()) {
        Waiting& w = waiting_.front();
        if (w.streaming) {
          w.responder->Finish();
          waiting_.pop_front();
        } else {
          Send(&w, 0);
        }
      }
      loop_->RunOnce(brisk::net::Duration::zero());
      Check();
      moved = moved || checked_ != produced_before;
    }
    Trace("end: %zu answers, %zu requests%s, %s%s\n", checker_.finals(),
          shadow_.count(), shadow_.partial() ? " + 1 partial" : "",
          Open() ? "open" : "closed", checker_.close_seen() ? ", closing answer" : "");
    // (A connection that shut its write side is finishing: a closing
    // answer, or a stream cut off without its last chunk.)
    if (Open() && !transport_->fin_sent && !checker_.close_seen() &&
        !shadow_.failed() && outbox_.empty()) {
      Require(checker_.finals() == shadow_.count());
    }
    // The client's end of input ends its requests, not its answers: open
    // or closed since, the connection answered every request it received
    // whole, unless something else ended it (a reset, a drain, a stop, a
    // write timeout, a closing answer or a stream cut off: dropped, or
    // overrun by a producer that wrote on while told the buffer was full).
    const bool fin_sent = transport_ != nullptr ? transport_->fin_sent : fin_sent_;
    if (eof_delivered_ && !disrupted_ && !fin_sent && !checker_.close_seen() &&
        !shadow_.failed() && metrics_->timeouts_write.load() == 0 &&
        metrics_->stream_overruns.load() == 0 && outbox_.empty()) {
      Require(checker_.finals() == shadow_.count());
    }
  }

  brisk::net::FakeClock clock_;
  std::unique_ptr<brisk::net::EventLoop> loop_;
  std::shared_ptr<brisk::internal::LoopHandle> home_;
  std::unique_ptr<Connection::Timers> timers_;
  brisk::internal::RouteTable routes_;
  std::shared_ptr<ServerMetrics> metrics_;
  brisk::internal::ConnectionConfig config_;
  std::unique_ptr<brisk::internal::Dispatcher> dispatcher_;
  std::unique_ptr<brisk::internal::WorkerPool> pool_;
  brisk::internal::ConnectionContext context_;
  brisk::internal::ConnectionEnv env_;
  std::vector<std::unique_ptr<brisk::http::RequestParser>> spare_;
  std::deque<Waiting> waiting_;
  std::unique_ptr<Connection> connection_;
  ScriptedTransport* transport_ = nullptr;
  bool closed_ = false;

  // The client.
  std::string outbox_;  // written, not delivered yet
  bool eof_pending_ = false;
  bool eof_delivered_ = false;  // the client's end of input reached the connection
  bool disrupted_ = false;      // a reset, a drain, a stop or a close was scripted
  bool fin_sent_ = false;       // the transport's write side was shut at the close
  Shadow shadow_;
  bool output_paused_ = false;  // over max_unsent_bytes, not drained since
  uint64_t drains_seen_ = 0;
  std::string produced_;  // what the kernel took
  size_t checked_ = 0;    // bytes of the output given to the checker
  OutputChecker checker_{&shadow_};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World world;
  world.Run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
