#include "server/exchange.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>

#include "server/forwarded.h"
#include "server/stderr_writer.h"
#include "server/wait_bound.h"

namespace brisk::internal {

std::string ConnectionInfo::ClientAddress(const http::Request& request) const {
  std::string host = peer.HostString();
  if (trusted_proxies == nullptr) return host;
  return ForwardedClient(request, **trusted_proxies, std::move(host));
}

bool LoopHandle::Post(net::Task task) {
  std::lock_guard<std::mutex> lock(mu_);
  if (loop_ == nullptr) return false;
  loop_->Post(std::move(task));
  return true;
}

bool LoopHandle::InLoopThread() {
  std::lock_guard<std::mutex> lock(mu_);
  return loop_ != nullptr && loop_->IsInLoopThread();
}

void LoopHandle::Shut() {
  std::lock_guard<std::mutex> lock(mu_);
  loop_ = nullptr;
}

Exchange::Exchange(http::Request request,
                   std::vector<std::pair<std::string, std::string>> params,
                   SteadyTime parsed, SteadyTime deadline, size_t route_id,
                   std::shared_ptr<LoopHandle> home,
                   std::shared_ptr<const ConnectionInfo> connection,
                   std::shared_ptr<ServerMetrics> metrics,
                   ExchangeOptions options)
    : request_(std::move(request)),
      param_storage_(std::move(params)),
      parsed_(parsed),
      deadline_(deadline),
      route_id_(route_id),
      home_(std::move(home)),
      connection_(std::move(connection)),
      metrics_(std::move(metrics)),
      options_(options),
      context_(&request_, &params_, deadline_, &cancel_, connection_.get()) {
  params_.reserve(param_storage_.size());
  for (const auto& [k, v] : param_storage_) params_.emplace_back(k, v);
}

void Exchange::ScheduleDeliveryLocked() {
  has_update_ = true;
  if (delivery_posted_ || home_ == nullptr) return;
  delivery_posted_ = true;
  // The task keeps the exchange alive until it ran (or the loop is gone).
  home_->Post([self = shared_from_this()] { self->Deliver(); });
}

void Exchange::Deliver() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    delivery_posted_ = false;
  }
  if (sink_ != nullptr) sink_->OnExchangeUpdate(*this);
}

bool Exchange::PastDeadline() const {
  return PastDeadline(std::chrono::steady_clock::now());
}

bool Exchange::PastDeadline(SteadyTime now) const {
  // An answer that comes after the deadline is late even if the deadline
  // timer (on the reactor) has not run yet: it answers 503 when it does.
  return deadline_ != SteadyTime::max() && now > deadline_;
}

bool Exchange::Claim(http::Response head, bool streaming, bool handler) {
  bool late;
  bool claimed = false;
  bool expired = false;
  const SteadyTime now = std::chrono::steady_clock::now();
  const bool past_deadline = PastDeadline(now);
  AnswerObserver observer;
  absl::AnyInvocable<void()> writable;
  // A quick 5xx (a backend down, a breaker open) would teach admission
  // that the route is cheap: its time is learned as a lower bound.
  const bool server_error = head.status >= 500;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The producer's answer, in time or not, is when its work took.
    if (state_ == State::kPending) observer = std::move(answer_observer_);
    if (state_ == State::kPending && !past_deadline) {
      state_ = streaming ? State::kStreaming : State::kAnswered;
      answer_status_ = head.status;
      answered_at_ = now;
      closed_ = !streaming;
      pending_.head = std::move(head);
      pending_.streaming = streaming;
      ScheduleDeliveryLocked();
      claimed = true;
      late = false;
    } else {
      // Answered for it already (deadline, disconnect): a late result. A
      // second answer from the same producer is only dropped.
      late = handler && (state_ == State::kClaimed || state_ == State::kPending);
      late_ = late_ || late;
      if (state_ == State::kPending && !closed_) {
        // Past its deadline before the reactor's timer answered it 503: the
        // producer sees the end now (closed(), cancelled(), Write() false,
        // an OnWritable callback run at once), not a stream that looks open
        // and takes nothing, which a pump that waits for writability would
        // spin or recurse on. The 503 is still the timer's to send.
        closed_ = true;
        expired = true;
        writable = WakeWritersLocked();
      }
    }
  }
  if (expired) cancel_.Cancel();
  RunWritable(writable);
  if (observer) observer(now, /*cut_short=*/server_error);
  if (late && metrics_ != nullptr) {
    metrics_->late_results_dropped.fetch_add(1, std::memory_order_relaxed);
  }
  return claimed;
}

bool Exchange::Answer(http::Response response) {
  return Claim(std::move(response), /*streaming=*/false);
}

bool Exchange::Refuse(http::Response response) {
  return Claim(std::move(response), /*streaming=*/false, /*handler=*/false);
}

bool Exchange::BeginStream(http::Response head) {
  // 204 and 304 have no content (RFC 9110 §15.3.5, §15.4.5): the head is
  // the whole answer. As a stream it took pieces (Write() true) only for
  // the connection to drop them.
  if (head.status == 204 || head.status == 304) {
    head.body.clear();
    return Claim(std::move(head), /*streaming=*/false);
  }
  return Claim(std::move(head), /*streaming=*/true);
}

bool Exchange::Write(std::string_view piece) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ != State::kStreaming || closed_) return false;
  // A producer told "full" (false) that writes on without waiting would
  // buffer without bound for a client that reads slowly (the write timeout
  // only ends one that stops): past an allowance its stream is cut off, as
  // if its Responder were dropped. Only what it writes after a false, with
  // no room made since, counts: not a backlog of earlier answers on the
  // connection, nor one large piece into a buffer that had room.
  const size_t limit = options_.stream_buffer_limit;
  if (pending_.body.size() + unsent_ < limit) ResetOverrunLocked();
  if (told_full_) {
    const size_t allowance =
        limit > std::numeric_limits<size_t>::max() / ExchangeOptions::kOverrunFactor
            ? std::numeric_limits<size_t>::max()
            : limit * ExchangeOptions::kOverrunFactor;
    if (piece.size() > allowance - written_while_full_) {
      if (metrics_ != nullptr) metrics_->stream_overruns.fetch_add(1, std::memory_order_relaxed);
      writable_cv_.notify_all();  // a WaitWritable() elsewhere: it is closed
      CutOffLocked();
      return false;
    }
    written_while_full_ += piece.size();
  }
  if (!piece.empty()) {
    pending_.body.append(piece);
    ScheduleDeliveryLocked();
  }
  const bool room = pending_.body.size() + unsent_ < limit;
  if (!room) told_full_ = true;
  return room;
}

void Exchange::ResetOverrunLocked() {
  told_full_ = false;
  written_while_full_ = 0;
}

void Exchange::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ != State::kStreaming) return;
  state_ = State::kDone;
  closed_ = true;
  pending_.finished = true;
  ScheduleDeliveryLocked();
}

void Exchange::Abandon() {
  const bool past_deadline = PastDeadline();
  AnswerObserver observer;  // nothing learned: destroyed outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  // Pending and closed: it answered after its deadline, before the
  // reactor's timer did (a late result, counted as such, not a dropped
  // Responder); the timer's 503 is still to come.
  if (state_ == State::kPending && !closed_) {
    observer = std::move(answer_observer_);
    if (metrics_ != nullptr) {
      metrics_->responders_dropped.fetch_add(1, std::memory_order_relaxed);
    }
    // Past the deadline, its 503 is owed (as to a late answer): the
    // deadline timer gives it, not this 500.
    if (past_deadline) return;
    state_ = State::kAnswered;
    closed_ = true;
    pending_.head = http::Response::Status(500);
    pending_.streaming = false;
    ScheduleDeliveryLocked();
  } else if (state_ == State::kStreaming) {
    CutOffLocked();
  }
}

void Exchange::CutOffLocked() {
  state_ = State::kDone;
  closed_ = true;
  pending_.cut_off = true;
  ScheduleDeliveryLocked();
}

bool Exchange::WritableLocked() const {
  // Half the limit, rounded up (a limit of 1 is writable when empty), with
  // no `+ 1` to wrap a limit of SIZE_MAX around to 0.
  const size_t limit = options_.stream_buffer_limit;
  return pending_.body.size() + unsent_ < limit / 2 + limit % 2;
}

absl::AnyInvocable<void()> Exchange::WakeWritersLocked() {
  if (!closed_ && !WritableLocked()) return nullptr;
  if (WritableLocked()) ResetOverrunLocked();  // the producer may write again
  writable_cv_.notify_all();
  return std::move(on_writable_);
}

bool Exchange::WaitWritable(std::chrono::nanoseconds timeout) {
  // On the connection's own reactor (an inline handler, an OnWritable
  // callback) nothing drains the buffer while this thread waits: it would
  // only stall every connection of that reactor for `timeout` (forever
  // with nanoseconds::max()). It answers at once instead.
  const bool on_home_thread = home_ != nullptr && home_->InLoopThread();
  std::unique_lock<std::mutex> lock(mu_);
  if (on_home_thread) return !closed_ && WritableLocked();
  writable_cv_.wait_for(lock, WaitBound(timeout),
                        [this] { return closed_ || WritableLocked(); });
  return !closed_ && WritableLocked();
}

void Exchange::OnWritable(absl::AnyInvocable<void()> callback) {
  // A callback this one replaces is destroyed after the lock is released:
  // it may hold the last owner of the Responder, whose destructor locks
  // mu_ (Abandon) and would deadlock this thread.
  absl::AnyInvocable<void()> replaced;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!closed_ && !WritableLocked()) {
      replaced = std::exchange(on_writable_, std::move(callback));
      return;
    }
  }
  RunWritable(callback);
}

void Exchange::RunWritable(absl::AnyInvocable<void()>& callback) {
  if (!callback) return;
  // User code, maybe on a reactor: an exception from it cuts its stream off
  // (as a dropped Responder does) instead of terminating the process.
  try {
    callback();
  } catch (...) {
    internal::SayOnStderr("brisk: an OnWritable callback threw; its answer is cut off");
    Abandon();
  }
}

bool Exchange::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

void Exchange::SetWithdraw(absl::AnyInvocable<void()> withdraw) {
  std::lock_guard<std::mutex> lock(mu_);
  withdraw_ = std::move(withdraw);
}

void Exchange::Unbind() {
  sink_ = nullptr;
  absl::AnyInvocable<void()> callback;
  AnswerObserver observer;  // nothing learned
  absl::AnyInvocable<void()> withdraw;
  {
    std::lock_guard<std::mutex> lock(mu_);
    observer = std::move(answer_observer_);
    withdraw = std::move(withdraw_);
    if (state_ == State::kPending || state_ == State::kStreaming) {
      state_ = State::kClaimed;
    }
    closed_ = true;
    callback = WakeWritersLocked();
  }
  cancel_.Cancel();
  if (withdraw && !started()) withdraw();
  RunWritable(callback);
}

bool Exchange::TryStart() {
  // Past its deadline, with the reactor's timer still to answer it (it
  // fires up to ~1 ms late): its handler's answer could only be late.
  if (PastDeadline()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ != State::kPending || closed_) return false;
  started_.store(true, std::memory_order_release);
  return true;
}

bool Exchange::Expire() {
  absl::AnyInvocable<void()> callback;
  AnswerObserver observer;
  absl::AnyInvocable<void()> withdraw;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ != State::kPending) return false;
    state_ = State::kClaimed;
    closed_ = true;
    callback = WakeWritersLocked();
    observer = std::move(answer_observer_);
    withdraw = std::move(withdraw_);
  }
  cancel_.Cancel();
  if (withdraw && !started()) withdraw();
  RunWritable(callback);
  if (observer) observer(std::chrono::steady_clock::now(), /*cut_short=*/true);
  return true;
}

bool Exchange::WithdrawUnstarted() {
  absl::AnyInvocable<void()> callback;
  absl::AnyInvocable<void()> withdraw;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // TryStart() sets started_ under this lock: a worker either took it
    // before (false here) or finds it claimed and never runs it.
    if (state_ != State::kPending || closed_ || started()) return false;
    state_ = State::kClaimed;
    closed_ = true;
    callback = WakeWritersLocked();
    withdraw = std::move(withdraw_);
  }
  if (withdraw) withdraw();  // its place in the queue, given back
  RunWritable(callback);
  return true;
}

bool Exchange::ObserveAnswer(AnswerObserver observer) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ != State::kPending) return false;
  answer_observer_ = std::move(observer);
  return true;
}

ExchangeUpdate Exchange::TakeUpdate() {
  std::lock_guard<std::mutex> lock(mu_);
  ExchangeUpdate update = std::move(pending_);
  pending_ = ExchangeUpdate();
  has_update_ = false;
  // Taken bytes count as unsent until the connection says otherwise.
  unsent_ += update.body.size();
  return update;
}

std::optional<SteadyTime> Exchange::answered_at() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (answered_at_ == SteadyTime{}) return std::nullopt;
  return answered_at_;
}

Exchange::~Exchange() {
  if (body_held_ != nullptr && body_bytes_ != 0) {
    body_held_->fetch_sub(body_bytes_, std::memory_order_relaxed);
  }
  if (metrics_ != nullptr && charged_ > std::chrono::nanoseconds(0)) {
    metrics_->route(charged_route_)
        .worker_ns[static_cast<size_t>(outcome())]
        .fetch_add(static_cast<uint64_t>(charged_.count()),
                   std::memory_order_relaxed);
  }
}

void Exchange::ChargeWorkerTime(size_t metrics_route,
                                std::chrono::nanoseconds share) {
  charged_route_ = metrics_route;
  charged_ += share;
}

void Exchange::MarkLate() {
  std::lock_guard<std::mutex> lock(mu_);
  late_ = true;
}

int Exchange::answer_status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return answer_status_;
}

Exchange::Outcome Exchange::outcome() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (late_) return Outcome::kLate;
  if (answer_status_ >= 200 && answer_status_ < 300) return Outcome::kUseful;
  return Outcome::kOther;
}

bool Exchange::HasUpdate() const {
  std::lock_guard<std::mutex> lock(mu_);
  return has_update_;
}

void Exchange::SetUnsent(size_t bytes) {
  absl::AnyInvocable<void()> callback;
  {
    std::lock_guard<std::mutex> lock(mu_);
    unsent_ = bytes;
    callback = WakeWritersLocked();
  }
  RunWritable(callback);
}

}  // namespace brisk::internal

namespace brisk {

Responder::Responder(std::shared_ptr<internal::Exchange> exchange)
    : exchange_(std::move(exchange)) {}

Responder::Responder(Responder&& other) noexcept = default;

Responder& Responder::operator=(Responder&& other) noexcept {
  if (this != &other) {
    if (exchange_ != nullptr) exchange_->Abandon();
    exchange_ = std::move(other.exchange_);
  }
  return *this;
}

Responder::~Responder() {
  if (exchange_ != nullptr) exchange_->Abandon();
}

bool Responder::Send(http::Response response) {
  return exchange_ != nullptr && exchange_->Answer(std::move(response));
}

bool Responder::BeginStream(http::Response head) {
  return exchange_ != nullptr && exchange_->BeginStream(std::move(head));
}

bool Responder::Write(std::string_view piece) {
  return exchange_ != nullptr && exchange_->Write(piece);
}

void Responder::Finish() {
  if (exchange_ != nullptr) exchange_->Finish();
}

bool Responder::WaitWritable(std::chrono::nanoseconds timeout) {
  return exchange_ != nullptr && exchange_->WaitWritable(timeout);
}

void Responder::OnWritable(absl::AnyInvocable<void()> callback) {
  if (exchange_ == nullptr) {
    if (callback) callback();  // nothing to write to: "the stream is gone"
    return;
  }
  exchange_->OnWritable(std::move(callback));
}

bool Responder::closed() const {
  return exchange_ == nullptr || exchange_->closed();
}

RequestContext& Responder::context() {
  if (exchange_ == nullptr) {  // a broken precondition of the caller's
    internal::Stderr().Flush(std::chrono::milliseconds(200));  // what led here
    std::fprintf(stderr, "brisk: Responder::context() on an empty Responder\n");
    std::abort();
  }
  return exchange_->context();
}

}  // namespace brisk
