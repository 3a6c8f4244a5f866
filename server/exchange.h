// Internal: one request whose answer comes from somewhere other than the
// reactor's own call stack (a worker, an async handler's Responder, a
// batch), and the way that answer finds its way home.
//
// An Exchange is shared (shared_ptr) by the connection that owns the request
// and by whoever produces the answer. The producer side (any thread) posts
// what it has — a whole answer, or a stream head, body pieces and the end —
// into a small mailbox and, once per batch of updates, a task to the
// exchange's home loop; that task hands the exchange to its sink (the
// connection), which takes the update on the loop thread. Nothing here
// knows about reactors, connection ids or sockets: the way home is the
// LoopHandle and the sink.
//
// First answer wins: the deadline timer (Expire), a close of the connection
// (Unbind), a refusal and the handler's answer race; whichever claims the
// exchange first decides what the client gets, and later answers are
// dropped (and counted as late).
//
// Thread-safety: methods marked "any thread" take the exchange's mutex;
// methods marked "loop thread" run only on the home loop's thread.
#ifndef BRISK_SERVER_EXCHANGE_H_
#define BRISK_SERVER_EXCHANGE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "http/request.h"
#include "http/response.h"
#include "net/event_loop.h"
#include "net/socket.h"
#include "server/cancel_state.h"
#include "server/forwarded.h"
#include "server/handler.h"
#include "server/metrics.h"
#include "tls/peer_identity.h"

namespace brisk::internal {

// What a handler can learn about the connection its request came on.
// Made at accept; the TLS fields are written once, on the reactor thread,
// when the handshake completes (before the first request is parsed), and
// are constant afterwards.
struct ConnectionInfo {
  net::SocketAddress peer;
  bool secure = false;  // TLS
  // Came through a PROXY protocol balancer (ServerOptions::proxy_protocol):
  // `peer` is the client its header named, and whether the client's own
  // connection was secure is not known here.
  bool proxied = false;
  // The client the server verified (mutual TLS): its certificate and its
  // name for the access log. Null without one (a pointer: plain connections
  // pay 8 bytes for it).
  struct VerifiedClient {
    tls::PeerIdentity certificate;
    std::string log_user;
  };
  std::unique_ptr<const VerifiedClient> client;
  // The peer is one of ServerOptions::trusted_proxies: the set, to find
  // the client it forwarded for (null otherwise; behind a pointer, as for
  // `client`: 8 bytes, and the set lives as long as a request that may
  // outlive the server).
  std::unique_ptr<const std::shared_ptr<const TrustedProxies>> trusted_proxies;

  const tls::PeerIdentity* client_certificate() const {
    return client != nullptr ? &client->certificate : nullptr;
  }
  // The access log's user field ("-" when there is no verified client).
  std::string_view log_user() const {
    return client != nullptr ? std::string_view(client->log_user) : "-";
  }
  // The client's address: the peer's, or the one a trusted proxy
  // forwarded `request` for (forwarded.h).
  std::string ClientAddress(const http::Request& request) const;
};

// Posts tasks to one loop while it runs; once Shut(), posts are dropped.
// Shared by everything that may try to reach the loop after it is gone (a
// Responder kept by user code past the server's Stop()). Any thread.
class LoopHandle {
 public:
  explicit LoopHandle(net::EventLoop* loop) : loop_(loop) {}
  // False (and `task` destroyed) once shut.
  bool Post(net::Task task);
  // Whether the calling thread is the loop's (false once shut).
  bool InLoopThread();
  void Shut();

 private:
  std::mutex mu_;
  net::EventLoop* loop_ ABSL_GUARDED_BY(mu_);
};

class Exchange;

// Receives an exchange's updates on its home loop's thread.
class ExchangeSink {
 public:
  virtual void OnExchangeUpdate(Exchange& exchange) = 0;

 protected:
  ~ExchangeSink() = default;
};

// An update taken by the sink: what arrived since the last one.
struct ExchangeUpdate {
  // A whole answer (streaming == false) or the head of a stream.
  std::optional<http::Response> head;
  bool streaming = false;
  std::string body;       // stream pieces, concatenated
  bool finished = false;  // the stream ended normally
  bool cut_off = false;   // the stream ended without Finish()
};

struct ExchangeOptions {
  // Stream bytes buffered (taken or not) before Write() says "full". A
  // producer that writes more than kOverrunFactor times this after a
  // "full", with no room made since, is cut off.
  size_t stream_buffer_limit = 256 * 1024;
  static constexpr size_t kOverrunFactor = 4;
};

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  // `home` may be null (unit tests): updates then wait for TakeUpdate().
  // `metrics` may be null; shared, because a Responder may outlive the
  // server.
  Exchange(http::Request request, std::vector<std::pair<std::string, std::string>> params,
           SteadyTime parsed, SteadyTime deadline, size_t route_id,
           std::shared_ptr<LoopHandle> home,
           std::shared_ptr<const ConnectionInfo> connection,
           std::shared_ptr<ServerMetrics> metrics,
           ExchangeOptions options = {});
  ~Exchange();
  // The request's body counts `bytes` in `held` (ServerOptions::
  // max_body_memory) until the exchange goes. Reactor thread, once.
  void HoldBodyMemory(std::atomic<int64_t>* held, int64_t bytes) {
    body_held_ = held;
    body_bytes_ = bytes;
  }
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // ---- producer side: any thread ----
  bool Answer(http::Response response);
  // The server's own refusal of a request no handler took (admission at
  // dequeue, a batch member dropped before its batch ran): like Answer, but
  // when something answered first it is no late handler result.
  bool Refuse(http::Response response);
  bool BeginStream(http::Response head);
  bool Write(std::string_view piece);
  void Finish();
  // The producer is gone (Responder destroyed): an unanswered exchange is
  // answered 500, an unfinished stream is cut off.
  void Abandon();
  bool WaitWritable(std::chrono::nanoseconds timeout);
  void OnWritable(absl::AnyInvocable<void()> callback);
  bool closed() const;
  // A Responder for this exchange.
  Responder MakeResponder() { return Responder(shared_from_this()); }

  RequestContext& context() { return context_; }
  const CancelState& cancel_state() const { return cancel_; }
  SteadyTime deadline() const { return deadline_; }
  SteadyTime parsed() const { return parsed_; }
  size_t route_id() const { return route_id_; }
  const std::shared_ptr<ServerMetrics>& metrics() const { return metrics_; }
  // Set by the scheduler when the request is queued / a worker takes it.
  void set_enqueued(SteadyTime t) { enqueued_ = t; }
  SteadyTime enqueued() const { return enqueued_; }
  // The latest time it can start and still answer by its deadline, by its
  // route's estimate when admission queued it (SteadyTime::max(): no such
  // time: a batch member, a probe, a route whose cost is not known yet, or
  // a policy that sets none, CoDel). Set by the worker pool as the
  // reactor submits it; read by the reactor.
  void set_latest_useful_start(SteadyTime t) { latest_useful_start_ = t; }
  SteadyTime latest_useful_start() const { return latest_useful_start_; }
  // A handler starts on the reactor (an inline asynchronous route): nothing
  // can have answered it yet.
  void MarkStarted() { started_.store(true, std::memory_order_release); }
  // A worker takes it: true, and started, unless something settled it first
  // (the deadline's 503, a disconnect, an answer) or its deadline has passed
  // (the timer's 503 is on its way), when its handler must not run. Checked
  // and set under the lock Expire() and Unbind() take, so a 503 counted as
  // "never ran" never has a handler run after it.
  bool TryStart();
  bool started() const { return started_.load(std::memory_order_acquire); }
  bool cancelled() const { return cancel_.cancelled(); }

  // ---- connection side: the home loop's thread ----
  void Bind(ExchangeSink* sink) { sink_ = sink; }
  // The connection lets go (it closed, or the slot was discarded): the
  // request is cancelled and later answers are dropped.
  void Unbind();
  // The deadline passed: claims an unanswered exchange (true: answer 503
  // now; the handler is cancelled). False if an answer already claimed it.
  bool Expire();
  // Its latest useful start passed while it waited for a worker: claims
  // the exchange if no worker has taken it (true: withdrawn from the
  // queue, the caller answers the refusal). False if a worker started it
  // or an answer claimed it first.
  bool WithdrawUnstarted();
  ExchangeUpdate TakeUpdate();
  // Bytes of this answer's stream taken by the connection and not yet
  // accepted by the kernel.
  void SetUnsent(size_t bytes);
  // Whether an update is waiting (after a handler ran inline).
  bool HasUpdate() const;

  // How the producer's work ended, for the useful-work accounting (after
  // the handler returned): its answer (or stream) was taken and had a 2xx
  // status; it was dropped because the deadline or a disconnect answered
  // first; or anything else (a non-2xx answer, an async answer still to
  // come).
  enum class Outcome { kUseful, kLate, kOther };
  Outcome outcome() const;
  // The status of the answer given through Answer(), Refuse() or
  // BeginStream() (a stream's head), 0 before one was or when the deadline
  // or a disconnect settled the exchange first.
  int answer_status() const;
  // When the producer's answer (or stream head) was accepted, if it was:
  // a streamed handler answers long before it returns.
  std::optional<SteadyTime> answered_at() const;

  // Worker time spent on this exchange (its share of a batch), added to the
  // worker_ns of route `metrics_route` in this exchange's metrics under its
  // final outcome when the exchange is destroyed: the outcome may still
  // change after the handler returned (an async answer still to come, or
  // an answer given in time that the connection could only write after the
  // deadline). Nothing is counted without metrics.
  void ChargeWorkerTime(size_t metrics_route, std::chrono::nanoseconds share);
  // The connection answered the deadline's 503 in place of the producer's
  // answer (given in time, written too late), or the connection closed
  // before the answer reached its client whole (an answer not yet applied,
  // a stream cut short): the work was wasted.
  void MarkLate();

  // Set by the worker pool once the request is queued: called once, outside
  // the lock, on the thread that lets the exchange go (Unbind: the client
  // reset or left) or claims it at its deadline (Expire) while no worker
  // has started it, so the queue gives its place back at once rather than
  // when a worker finds it dead.
  void SetWithdraw(absl::AnyInvocable<void()> withdraw);

  // For a handler that returned without answering (an async one, whose
  // answer comes later from elsewhere): `observer` is called once, outside
  // the lock, on the thread that settles the exchange: with the time the
  // producer's answer came (late or not; cut_short false, unless it was a
  // 5xx: a server error's time is no measure of the work, only a lower
  // bound of it), or the time the deadline answered for it (cut_short: the
  // answer would have taken
  // longer), or nullopt when the connection lets go or the producer drops
  // its Responder (nothing learned). Returns false, keeping nothing, if the
  // exchange was settled already.
  using AnswerObserver =
      absl::AnyInvocable<void(std::optional<SteadyTime> at, bool cut_short)>;
  bool ObserveAnswer(AnswerObserver observer);

 private:
  enum class State : uint8_t {
    kPending,    // nothing decided yet
    kAnswered,   // a whole answer was given
    kStreaming,  // a stream head was given; pieces may follow
    kDone,       // the stream ended (finished or cut off)
    kClaimed,    // the connection answered for it (deadline) or let go
  };

  // Posts one delivery task per batch of updates. Requires mu_.
  void ScheduleDeliveryLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Deliver();
  bool WritableLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ResetOverrunLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends a stream without its last chunk (the client sees it incomplete).
  void CutOffLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Wakes writers if the buffer is writable or the stream gone. Returns the
  // callback to run (outside the lock), if any.
  absl::AnyInvocable<void()> WakeWritersLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The deadline passed (the clock, not the reactor's timer).
  bool PastDeadline() const;
  bool PastDeadline(SteadyTime now) const;
  // Answer() and BeginStream(): the first producer answer wins.
  // `handler`: from the request's producer (false: the server's refusal).
  bool Claim(http::Response head, bool streaming, bool handler = true);

  http::Request request_;
  std::vector<std::pair<std::string, std::string>> param_storage_;
  PathParams params_;  // views into param_storage_
  const SteadyTime parsed_;
  const SteadyTime deadline_;
  const size_t route_id_;
  const std::shared_ptr<LoopHandle> home_;
  const std::shared_ptr<const ConnectionInfo> connection_;
  const std::shared_ptr<ServerMetrics> metrics_;
  const ExchangeOptions options_;
  std::atomic<int64_t>* body_held_ = nullptr;
  int64_t body_bytes_ = 0;
  CancelState cancel_;
  RequestContext context_;
  SteadyTime enqueued_{};
  SteadyTime latest_useful_start_ = SteadyTime::max();  // loop thread only
  absl::AnyInvocable<void()> withdraw_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> started_{false};
  // ChargeWorkerTime(): set by the worker before it lets go of the exchange.
  size_t charged_route_ = 0;
  std::chrono::nanoseconds charged_{0};
  ExchangeSink* sink_ = nullptr;  // loop thread only

  mutable std::mutex mu_;
  std::condition_variable writable_cv_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kPending;
  int answer_status_ ABSL_GUARDED_BY(mu_) = 0;  // the producer's, once given
  SteadyTime answered_at_ ABSL_GUARDED_BY(mu_){};  // when it was given
  bool late_ ABSL_GUARDED_BY(mu_) = false;       // a producer answer dropped
  bool delivery_posted_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;  // nothing more is delivered
  ExchangeUpdate pending_ ABSL_GUARDED_BY(mu_);
  bool has_update_ ABSL_GUARDED_BY(mu_) = false;
  size_t unsent_ ABSL_GUARDED_BY(mu_) = 0;
  // Write() said "full" and no room was made since; what was written since.
  bool told_full_ ABSL_GUARDED_BY(mu_) = false;
  size_t written_while_full_ ABSL_GUARDED_BY(mu_) = 0;
  absl::AnyInvocable<void()> on_writable_ ABSL_GUARDED_BY(mu_);
  // Calls a writable callback taken from on_writable_ (outside mu_).
  void RunWritable(absl::AnyInvocable<void()>& callback);
  AnswerObserver answer_observer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_EXCHANGE_H_
