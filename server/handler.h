// What a route handler sees, and the ways it answers.
//
// Three kinds of handler (registered with HttpServer::AddRoute,
// AddAsyncRoute and AddBatchRoute):
//
//   // Synchronous: returns the answer. (Each Add*Route returns an
//   // absl::Status, [[nodiscard]]: a pattern may be malformed or taken.)
//   absl::Status s = server.AddRoute(
//       "GET", "/users/{id}", [](RequestContext& ctx) {
//     return http::Response::Text(200, std::string(*ctx.Param("id")));
//   });
//
//   // Asynchronous: starts work elsewhere and answers later, from any
//   // thread, through the move-only Responder (shared, to fit a
//   // std::function callback, which must be copyable).
//   s = server.AddAsyncRoute("GET", "/quote", [&](RequestContext& ctx,
//                                                 Responder r) {
//     rpc.Call(ctx.Query("sym").value_or("X"),
//              [r = std::make_shared<Responder>(std::move(r))](std::string q) {
//                r->Send(http::Response::Json(200, q));
//              });
//   }, {.run_inline = true});  // it only starts work: no worker needed
//
//   // Streaming (an async handler that writes a chunked body):
//   s = server.AddAsyncRoute("GET", "/feed", [](RequestContext&, Responder r) {
//     r.BeginStream(http::Response::Text(200, ""));
//     while (!r.closed() && More()) {
//       if (!r.Write(NextPiece())) r.WaitWritable(std::chrono::seconds(5));
//     }
//     r.Finish();
//   });
//
// Where handlers run: an offloaded route (the default) runs its handler on a
// worker thread, after admission control; it may block. An inline route
// (RouteOptions::run_inline) runs it on the reactor thread that owns the
// connection: it must never block (microsecond work, or an async handler
// that only starts work elsewhere). Handlers are called concurrently from
// several threads and must be thread-safe.
//
// Deadlines and cancellation: every offloaded or async request has a
// deadline (the route's, or the server's, shortened by the client's
// `X-Request-Budget-Ms`). If no answer has started when it passes, the
// client is answered 503 at that moment, `cancelled()` becomes true and
// whatever the handler produces later is dropped (counted in
// brisk_late_results_dropped_total). A client that disconnects (a reset, or
// a write its kernel refuses) cancels its requests the same way; the end of
// its input alone (a FIN: it may have half-closed and still read) does not,
// and what it sent whole is answered before the connection closes. Once a streamed answer has begun, the deadline no
// longer applies (the head is the answer's start); the write timeout and a
// disconnect still end it. Inline synchronous handlers have no deadline.
//
// Errors: a handler that throws gets its request answered 500 (that request
// only); so does a Responder destroyed without an answer. A stream cut off
// (Responder destroyed before Finish(), or the client gone) ends the
// connection after what was written, so the client sees an incomplete body
// rather than a truncated one that looks whole.
#ifndef BRISK_SERVER_HANDLER_H_
#define BRISK_SERVER_HANDLER_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "http/request.h"
#include "http/response.h"
#include "http/trace_context.h"
#include "tls/peer_identity.h"

namespace brisk {

using SteadyTime = std::chrono::steady_clock::time_point;
using PathParams = std::vector<std::pair<std::string_view, std::string_view>>;

namespace internal {
class CancelState;
class Dispatcher;
class Exchange;
struct ConnectionInfo;
}  // namespace internal
namespace testing {
class FakeRequest;
}  // namespace testing

// One request as a handler sees it. Made by the server (or, in unit tests,
// by brisk::testing::FakeRequest). For a synchronous handler it is valid
// during the call; for an async one as long as its Responder lives.
// Thread-safety: const methods may be called from any thread.
class RequestContext {
 public:
  RequestContext(const RequestContext&) = delete;
  RequestContext& operator=(const RequestContext&) = delete;

  const http::Request& request() const { return *request_; }
  // Mutable access, e.g. to move the body out instead of copying it
  // (std::move(ctx.mutable_request().mutable_body())). Moving the whole
  // request out leaves it empty, so the access log line of this request
  // shows no request line; and it is the handler's only until its answer:
  // the server reads it then (access log, preconditions).
  http::Request& mutable_request() { return *request_; }

  // A path parameter bound by the route pattern ("{id}"), or nullopt. The
  // path is percent-decoded before routing, so the value is too; an
  // encoded "%2F" is a '/' that separates segments, never part of a value.
  std::optional<std::string_view> Param(std::string_view name) const;
  // The first query parameter `name`, percent-decoded ('+' is a space), or
  // nullopt. "?a=1&b" gives Query("b") == "".
  std::optional<std::string> Query(std::string_view name) const;

  // When the client must have its answer (steady clock). Inline synchronous
  // handlers get SteadyTime::max().
  SteadyTime deadline() const { return deadline_; }
  // Time left before the deadline (zero or negative once passed).
  std::chrono::nanoseconds remaining() const;
  // True once the deadline passed without an answer or the client went away,
  // and also once the answer was delivered and the connection let go of the
  // request (nothing more of it is needed): work a handler goes on with
  // after answering must not take cancelled() for a failure.
  bool cancelled() const;
  // Sleeps `d`, waking early on cancellation. True if the full time elapsed.
  // nanoseconds::max() sleeps until cancelled.
  bool SleepFor(std::chrono::nanoseconds d) const;

  // The address of the connection's other end ("127.0.0.1", "::1"), or ""
  // if unknown. Behind a load balancer, the balancer's; with
  // ServerOptions::proxy_protocol, the client its PROXY header names.
  std::string peer_address() const;
  // The client's address: peer_address(), or, when the peer is one of
  // ServerOptions::trusted_proxies, the client it forwarded the request for
  // in X-Forwarded-For (the rightmost entry that is not a trusted proxy
  // itself: what the client wrote there is not believed). The access log
  // shows this address.
  std::string client_address() const;
  // True if the request came over TLS (HTTPS).
  bool secure() const;
  // The client certificate the server verified (mutual TLS: subject,
  // issuer, SANs, fingerprint), or nullptr: plain HTTP, or TLS without a
  // client certificate.
  const tls::PeerIdentity* client_certificate() const;
  // The request's W3C traceparent, if it carries a valid one (the answer
  // echoes it and the access log records its trace id). For a downstream
  // call made on behalf of this request, send trace()->Child(your_span_id).
  std::optional<http::TraceParent> trace() const;

 private:
  friend class internal::Exchange;
  friend class testing::FakeRequest;
  friend class internal::Dispatcher;
  RequestContext(http::Request* request, const PathParams* params,
                 SteadyTime deadline, const internal::CancelState* cancel,
                 const internal::ConnectionInfo* connection)
      : request_(request),
        params_(params),
        deadline_(deadline),
        cancel_(cancel),
        connection_(connection) {}

  http::Request* request_;
  const PathParams* params_;
  SteadyTime deadline_;
  const internal::CancelState* cancel_;          // nullptr: never cancelled
  const internal::ConnectionInfo* connection_;   // nullptr: unknown peer
};

// The answer channel of one asynchronous request. Move-only; every method
// may be called from any thread (one thread at a time per Responder, as for
// any object). It keeps the request (and its RequestContext) alive.
//
// Either Send() one whole answer, or BeginStream() and then Write() body
// pieces and Finish(). The first answer to arrive wins: after the deadline
// answered 503, Send() returns false and the answer is dropped.
class Responder {
 public:
  Responder() = default;
  // A moved-from Responder is empty (valid() false). Assigning onto one
  // that still owes its answer does what its destructor does.
  Responder(Responder&&) noexcept;
  Responder& operator=(Responder&&) noexcept;
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;
  // Unanswered: the client gets 500. Mid-stream: the stream is cut off.
  ~Responder();

  // The whole answer. True if it was accepted (it then goes out in request
  // order); false if the request was already answered (deadline), the client
  // went away, or this Responder is empty.
  bool Send(http::Response response);

  // Starts a streamed answer: status and headers of `head` now, the body in
  // pieces (chunked for HTTP/1.1; for HTTP/1.0 until the connection closes).
  // head.body, if not empty, is the first piece. False as for Send(). A
  // 204 or 304 head has no content: it is the whole answer (head.body
  // dropped), and Write() returns false; so is a 200 head to GET or HEAD
  // whose request has a false precondition (it goes as 304 or 412, the
  // pieces written are dropped: see server/README.md).
  bool BeginStream(http::Response head);
  // Queues one body piece. True while the connection's buffer for this
  // answer is below its limit; false once it is at or over it (the piece was
  // still queued: wait with WaitWritable() or OnWritable() before writing
  // more) or when the stream is gone (closed() is then true). Before a
  // BeginStream() that returned true (or after Send()), false and the
  // piece is dropped: there is no stream to write to. A producer that
  // ignores false and writes more than 4x the limit on, with no room made
  // since, has its stream cut off, as a dropped Responder does
  // (brisk_stream_overruns_total): memory stays bounded however slowly the
  // client reads.
  bool Write(std::string_view piece);
  // Ends the streamed body.
  void Finish();
  // Blocks until the buffer is below half its limit, the stream is gone, or
  // `timeout` passed (nanoseconds::max(): no timeout); true if writable.
  // For handlers on worker threads: on the connection's reactor (an inline
  // handler, an OnWritable callback), where waiting would only stall the
  // reactor that drains the buffer, it returns at once whether the stream
  // is writable (use OnWritable() there).
  bool WaitWritable(std::chrono::nanoseconds timeout);
  // Calls `callback` once, on the connection's reactor thread, when the
  // buffer drops below half its limit or the stream is gone (at once, on
  // this thread, if that is already so). It must not block. One callback
  // waits at a time: a later call replaces one not yet called. If it
  // throws, the answer is cut off as if the Responder were dropped.
  void OnWritable(absl::AnyInvocable<void()> callback);
  // True when nothing more will be delivered: the client went away, the
  // deadline passed (also when a Send() or BeginStream() found it passed,
  // before its 503 went out), or the answer is complete.
  bool closed() const;

  // The request this Responder answers. Only on a valid() Responder (an
  // empty one aborts with a message).
  RequestContext& context();
  // False for a default-constructed or moved-from Responder.
  bool valid() const { return exchange_ != nullptr; }

 private:
  friend class internal::Exchange;
  friend class testing::FakeRequest;
  explicit Responder(std::shared_ptr<internal::Exchange> exchange);
  std::shared_ptr<internal::Exchange> exchange_;
};

using Handler = std::function<http::Response(RequestContext&)>;
using AsyncHandler = std::function<void(RequestContext&, Responder)>;

// A batch route's handler: it gets the requests of one batch (at least
// one; their contexts are valid during the call) and returns one response
// per request, in the same order (a per-request error is that request's
// 4xx/5xx response). A handler that throws, or returns a different number
// of responses, has every request of that batch answered 500.
using BatchHandler = std::function<std::vector<http::Response>(
    const std::vector<RequestContext*>& batch)>;

// How a batch route forms its batches (see HttpServer::AddBatchRoute).
struct BatchOptions {
  enum class Policy {
    // A batch goes to a free worker when it is full, when it is as large as
    // the arrival rate needs (so a lone request under light load goes at
    // once, as does one no company can join: when every client that sent
    // to the route lately has a request there, as clients that each send
    // the next request after the last answer do), when waiting longer would make its earliest deadline miss, or
    // at max_delay (if set).
    kDeadline,
    // Triton's dynamic batcher: wait up to max_delay for max_batch.
    kFixed,
  };
  Policy policy = Policy::kDeadline;
  // max_batch is 1..kMaxBatch: no larger batch could form (the queue
  // capacity's bound).
  static constexpr size_t kMaxBatch = size_t{1} << 20;
  size_t max_batch = 32;
  // kDeadline: an optional cap on the oldest request's wait (0 = none).
  // kFixed: how long to wait for a full batch (must be > 0). Never < 0.
  std::chrono::nanoseconds max_delay{0};
  // The batch cost a + b*n assumed until batches are measured (the model
  // is then fitted online).
  std::chrono::nanoseconds expected_fixed_cost{0};
  std::chrono::nanoseconds expected_per_item_cost{0};
};

struct RouteOptions {
  // Run the handler on the reactor thread: it must never block. Inline
  // synchronous routes skip admission control and have no deadline:
  // AddRoute() refuses deadline, max_concurrency, expected_service_time and
  // service_time_hint on one (InvalidArgument) rather than ignore them.
  bool run_inline = false;
  // This route's default deadline; 0 = the server's request_deadline;
  // nanoseconds::max() (anything over a century) = never. Negative values
  // here and in max_concurrency make AddRoute() fail (InvalidArgument).
  std::chrono::nanoseconds deadline{0};
  // Deadline admission (the default policy): the most workers this route
  // may hold at once; 0 = all but one while other routes are busy, all of
  // them when it is alone.
  int max_concurrency = 0;
  // Deadline admission: the handler time assumed until the first ones are
  // measured (0, or a negative value: admit on the queue's work alone until
  // then). A seed above every budget the route's clients send refuses them
  // all at once, and none runs to measure the route: it is then probed as
  // a measured estimate is (DeadlinePolicyOptions::probe_interval): trusted
  // for up to a second from the first such refusal, then one arrival runs
  // alone and its time replaces the seed. nanoseconds::max() means "never
  // in time" and is never probed.
  std::chrono::nanoseconds expected_service_time{0};
  // Deadline admission: the handler time of one request, when the request
  // itself says what it will cost (a sleep or a row limit in its query, the
  // size of its body). Called on the reactor for every arrival, before
  // admission: it must be cheap and must not block. A value is that
  // request's cost in every prediction (its own, and what it adds ahead of
  // later arrivals while queued or running), from its first arrival on,
  // with no measurement needed; nullopt (or no function) = the route's
  // learned estimate (so does a hint that throws; it is counted in
  // brisk_handler_exceptions_total). Handler times are still measured. Not
  // used by batch routes or by the CoDel policy.
  //   .service_time_hint = [](const RequestContext& ctx)
  //       -> std::optional<std::chrono::nanoseconds> {
  //     return std::chrono::microseconds(2 * RowsOf(ctx));
  //   }
  std::function<std::optional<std::chrono::nanoseconds>(const RequestContext&)>
      service_time_hint;
  // Run on the background workers (ServerOptions::background_workers), at
  // their lower CPU priority: for long handlers with slack (reports,
  // exports) that must not take the CPU from short, tight-deadline routes
  // sharing the cores. The kernel cannot preempt a handler for another
  // route's sake otherwise: two busy workers on one core split it evenly,
  // whatever their deadlines. Without background workers, ignored; with
  // run_inline, AddRoute refuses the route.
  bool background = false;
  // The largest request body this route takes, in bytes, in place of the
  // server's max_body_bytes (above or below it): 413 Content Too Large
  // beyond, from a declared Content-Length as soon as the head is read
  // (before a 100 Continue, and before the body is sent or stored), or as a
  // chunked body grows past it. 0 = the server's. More than the server's
  // max_body_memory (one largest body must fit) makes AddRoute fail
  // (InvalidArgument).
  size_t max_body_bytes = 0;
  // false: this route's answers below 400 are not written to the access
  // log (health checks and scrapes every few seconds would fill it); its
  // errors and refusals (4xx, 5xx, 499) and streams cut short still are,
  // and every answer is still counted in the metrics. ServerOptions::access_log_quiet_paths
  // does the same for routes by pattern (the built-in ones included).
  bool access_log = true;
};

}  // namespace brisk

#endif  // BRISK_SERVER_HANDLER_H_
