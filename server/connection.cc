#include "server/connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <utility>

#include "http/response_writer.h"
#include "http/router.h"
#include "server/reactor.h"

namespace brisk {
namespace {

using std::chrono::milliseconds;

constexpr size_t kReadChunk = 256 * 1024;   // per read() round
constexpr int kReadRounds = 4;              // per readiness event (fairness)
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr size_t kMaxLingerBytes = 256 * 1024;

// The client's budget: "X-Request-Budget-Ms: 250" shortens the deadline.
constexpr std::string_view kBudgetHeader = "X-Request-Budget-Ms";

// Parses a positive decimal of at most 9 digits.
std::optional<int64_t> ParseBudgetMs(std::string_view v) {
  if (v.empty() || v.size() > 9) return std::nullopt;
  int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n <= 0) return std::nullopt;
  return n;
}

http::Response ServiceUnavailable(std::string_view why, bool retry_after) {
  http::Response r = http::Response::Text(503, std::string(why) + "\n");
  if (retry_after) r.AddHeader("Retry-After", "1");
  return r;
}

}  // namespace

Connection::Connection(Reactor* reactor, ServerCore* core, uint64_t id,
                       net::UniqueFd fd, std::string peer_host)
    : reactor_(reactor),
      core_(core),
      id_(id),
      fd_(std::move(fd)),
      peer_host_(std::move(peer_host)),
      loop_(reactor->loop()),
      in_(net::IoBufferOptions{.initial_capacity = 4096,
                               .max_capacity = 1 << 20}),
      parser_(http::ParserLimits{
          .max_header_bytes = core->options.max_header_bytes,
          .max_body_bytes = core->options.max_body_bytes}) {}

Connection::~Connection() { Close(); }

absl::Status Connection::Start() {
  last_activity_ = loop_.Now();
  interest_ = net::kReadable;
  absl::Status s = loop_.Watch(fd_.get(), interest_,
                               [this](uint32_t events) { OnEvents(events); });
  if (!s.ok()) return s;
  UpdateInterestAndTimer();
  return absl::OkStatus();
}

RouteMetrics& Connection::MetricsFor(size_t route) {
  return route < core_->metrics->num_routes() ? core_->metrics->route(route)
                                              : core_->metrics->unmatched();
}

// ---------------------------------------------------------------- events

void Connection::OnEvents(uint32_t events) {
  if (closed_) return;
  if (events & net::kError) {
    Close();
    return;
  }
  if ((events & net::kWritable) && output_pending()) {
    Write();
    if (closed_) return;
  }
  if (events & (net::kReadable | net::kHangup)) {
    if ((events & net::kHangup) && !WantRead()) {
      // The peer closed its side while we are not reading (pipeline full, or
      // a closing answer pending). The hang-up is level-triggered and would
      // be reported on every iteration: treat it as the EOF it is (client
      // gone, as for a read of 0), writing what is ready.
      FlushReady();
      if (output_pending()) Write();
      Close();
      return;
    }
    ReadAndProcess();
    if (closed_) return;
  }
  AfterEvent();
}

void Connection::AfterEvent() {
  if (closed_) return;
  FlushReady();
  // Requests already buffered while the pipeline was full.
  if (!in_.empty() && !lingering_ && !stop_parsing_ &&
      pipeline_.size() < core_->options.max_pipeline_depth) {
    ProcessInput();
    if (closed_) return;
    FlushReady();
  }
  if (output_pending()) Write();
  if (closed_) return;
  if (draining_ && pipeline_.empty() && !output_pending() && parser_.idle() &&
      !lingering_) {
    Close();
    return;
  }
  UpdateInterestAndTimer();
}

bool Connection::WantRead() const {
  if (lingering_) return true;
  if (stop_parsing_) return false;
  return pipeline_.size() < core_->options.max_pipeline_depth;
}

void Connection::ReadAndProcess() {
  for (int round = 0; round < kReadRounds; ++round) {
    if (!WantRead()) return;
    net::IoBuffer::ReadResult r =
        in_.ReadFrom(fd_.get(), kReadChunk, /*stop_on_short_read=*/true);
    if (lingering_) {
      // Discard: the client is told to go away and may still be sending.
      lingered_bytes_ += in_.size();
      in_.Clear();
      if (r.status == net::IoBuffer::kEof || r.status == net::IoBuffer::kError ||
          lingered_bytes_ > kMaxLingerBytes) {
        Close();
      }
      if (r.status != net::IoBuffer::kCapReached &&
          r.status != net::IoBuffer::kBufferFull) {
        return;
      }
      continue;
    }
    if (r.bytes > 0) {
      last_activity_ = loop_.Now();
      ProcessInput();
      if (closed_) return;
    }
    switch (r.status) {
      case net::IoBuffer::kWouldBlock:
        return;
      case net::IoBuffer::kEof:
        // The client closed its side. Like nginx, treat it as gone: answers
        // already produced are written if the socket takes them, pending
        // handlers are cancelled, and the connection is closed.
        FlushReady();
        if (output_pending()) Write();
        Close();
        return;
      case net::IoBuffer::kError:
        Close();
        return;
      case net::IoBuffer::kCapReached:
      case net::IoBuffer::kBufferFull:
        break;
    }
  }
}

void Connection::ProcessInput() {
  while (!in_.empty() && !stop_parsing_ &&
         pipeline_.size() < core_->options.max_pipeline_depth) {
    http::ParseResult r = parser_.Feed(in_.readable());
    if (r.kind == http::ParseResult::kNeedMore) {
      in_.Consume(in_.size());
      if (!parser_.idle() && !in_head_) {
        in_head_ = true;
        header_start_ = loop_.Now();
      }
      MaybeSendContinue();
      return;
    }
    if (r.kind == http::ParseResult::kError) {
      in_.Clear();
      OnParseError(r.status);
      return;
    }
    in_.Consume(r.consumed);
    in_head_ = false;
    continue_sent_ = false;
    Dispatch(parser_.TakeRequest());
    if (closed_) return;
  }
}

void Connection::MaybeSendContinue() {
  if (continue_sent_ || !parser_.expects_continue() || !pipeline_.empty() ||
      stop_parsing_) {
    return;
  }
  continue_sent_ = true;
  http::AppendContinue(&out_);
}

// -------------------------------------------------------------- dispatch

void Connection::Dispatch(http::Request request) {
  const SteadyTime now = loop_.Now();
  Slot& slot = pipeline_.emplace_back();
  slot.sequence = next_sequence_++;
  slot.parsed = now;
  slot.head = request.is_head();
  slot.version_minor = request.version_minor();
  slot.close_after = !request.keep_alive();
  slot.metrics_route = core_->metrics->num_routes();
  if (slot.close_after) stop_parsing_ = true;

  http::RouteMatch match = core_->router.Match(request.method(), request.path());
  if (match.kind != http::RouteMatch::kFound) {
    http::Response r = http::Response::Status(
        match.kind == http::RouteMatch::kNotFound ? 404 : 405);
    if (match.kind == http::RouteMatch::kMethodNotAllowed) {
      r.AddHeader("Allow", match.allow);
    }
    Complete(slot, r, &request);
    return;
  }
  const RouteEntry& route = core_->routes[match.route_id];
  slot.metrics_route = match.route_id;
  if (!route.options.run_inline) {
    DispatchOffloaded(slot, std::move(request), route, match.route_id, match);
    return;
  }
  PathParams params(match.params.begin(), match.params.end());
  RequestContext ctx(&request, &params, SteadyTime::max(), nullptr);
  http::Response response;
  try {
    response = route.handler(ctx);
  } catch (...) {
    core_->metrics->handler_exceptions.fetch_add(1, std::memory_order_relaxed);
    response = http::Response::Status(500);
  }
  Complete(slot, response, &request);
}

void Connection::DispatchOffloaded(Slot& slot, http::Request request,
                                   const RouteEntry& route, size_t route_id,
                                   const http::RouteMatch& match) {
  const SteadyTime now = slot.parsed;
  auto call = std::make_shared<Call>();
  std::chrono::nanoseconds budget = route.options.deadline.count() > 0
                                        ? route.options.deadline
                                        : core_->options.request_deadline;
  if (auto v = request.Header(kBudgetHeader)) {
    if (auto ms = ParseBudgetMs(*v)) {
      budget = std::min<std::chrono::nanoseconds>(budget, milliseconds(*ms));
    }
  }
  call->request = std::move(request);
  // The match's values point into the moved-from request's path: copy them
  // before anything else touches it.
  call->param_storage.reserve(match.params.size());
  for (const auto& [k, v] : match.params) {
    call->param_storage.emplace_back(std::string(k), std::string(v));
  }
  for (const auto& [k, v] : call->param_storage) call->params.emplace_back(k, v);
  call->route = &route;
  call->route_id = route_id;
  call->parsed = now;
  call->deadline = now + budget;
  call->reactor = reactor_;
  call->connection_id = id_;
  call->sequence = slot.sequence;

  if (!core_->Admit(call, now)) {
    core_->metrics->shed_queue_full.fetch_add(1, std::memory_order_relaxed);
    Complete(slot, ServiceUnavailable("overloaded: queue full", true),
             &call->request);
    return;
  }
  slot.call = call;
  const uint64_t seq = slot.sequence;
  slot.deadline_timer = loop_.RunAt(call->deadline, [this, seq] {
    OnDeadline(seq);
  });
}

Connection::Slot* Connection::FindSlot(uint64_t sequence) {
  for (Slot& s : pipeline_) {
    if (s.sequence == sequence) return &s;
  }
  return nullptr;
}

void Connection::OnCallDone(uint64_t sequence, http::Response response) {
  Slot* slot = FindSlot(sequence);
  if (closed_ || slot == nullptr || slot->ready || slot->call == nullptr) {
    core_->metrics->late_results_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  loop_.Cancel(slot->deadline_timer);
  std::shared_ptr<Call> call = std::move(slot->call);
  core_->metrics->in_flight.fetch_sub(1, std::memory_order_relaxed);
  Complete(*slot, response, &call->request);
  AfterEvent();
}

void Connection::OnCallShed(uint64_t sequence) {
  Slot* slot = FindSlot(sequence);
  if (closed_ || slot == nullptr || slot->ready || slot->call == nullptr) return;
  loop_.Cancel(slot->deadline_timer);
  std::shared_ptr<Call> call = std::move(slot->call);
  core_->metrics->in_flight.fetch_sub(1, std::memory_order_relaxed);
  Complete(*slot, ServiceUnavailable("overloaded: queue timeout", true),
           &call->request);
  AfterEvent();
}

void Connection::OnDeadline(uint64_t sequence) {
  Slot* slot = FindSlot(sequence);
  if (closed_ || slot == nullptr || slot->ready || slot->call == nullptr) return;
  slot->deadline_timer = net::kInvalidTimerId;
  std::shared_ptr<Call> call = std::move(slot->call);
  call->cancel.Cancel();
  core_->metrics->in_flight.fetch_sub(1, std::memory_order_relaxed);
  core_->metrics->deadline_exceeded.fetch_add(1, std::memory_order_relaxed);
  if (!call->started.load(std::memory_order_acquire)) {
    core_->metrics->deadline_in_queue.fetch_add(1, std::memory_order_relaxed);
  }
  Complete(*slot, ServiceUnavailable("deadline exceeded", false),
           &call->request);
  AfterEvent();
}

void Connection::OnParseError(int status) {
  core_->metrics->bad_requests.fetch_add(1, std::memory_order_relaxed);
  AnswerWithoutRequest(status);
}

void Connection::AnswerWithoutRequest(int status) {
  stop_parsing_ = true;
  linger_on_close_ = true;  // the client may be mid-request
  in_head_ = false;
  Slot& slot = pipeline_.emplace_back();
  slot.sequence = next_sequence_++;
  slot.parsed = loop_.Now();
  slot.close_after = true;
  slot.metrics_route = core_->metrics->num_routes();
  http::Response r = http::Response::Status(status);
  Complete(slot, r, nullptr);
}

void Connection::Complete(Slot& slot, const http::Response& response,
                          const http::Request* request) {
  const SteadyTime now = loop_.Now();
  RouteMetrics& m = MetricsFor(slot.metrics_route);
  m.RecordStatus(response.status);
  m.total.Observe(now - slot.parsed);
  if (core_->access_log != nullptr) {
    core_->access_log->Log(
        peer_host_, request ? request->method() : "-",
        request ? request->target() : "-", slot.version_minor, response.status,
        slot.head ? 0 : response.body.size(), now - slot.parsed);
  }
  // While draining, the last answer of the connection says so: the last
  // slot, with no further request bytes already received.
  if (draining_ && &slot == &pipeline_.back() && in_.empty() &&
      parser_.idle()) {
    slot.close_after = true;
    stop_parsing_ = true;
  }
  http::ResponseOptions opt;
  opt.date = reactor_->Date();
  opt.keep_alive = !slot.close_after;
  opt.head = slot.head;
  opt.request_version_minor = slot.version_minor;
  // At the front of the pipeline the answer goes straight to the output.
  std::string* dst = &slot == &pipeline_.front() ? &out_ : &slot.bytes;
  http::AppendResponse(response, opt, dst);
  slot.ready = true;
}

// ---------------------------------------------------------------- output

void Connection::FlushReady() {
  while (!pipeline_.empty() && pipeline_.front().ready) {
    Slot& s = pipeline_.front();
    if (!s.bytes.empty()) out_.append(s.bytes);
    const bool close = s.close_after;
    pipeline_.pop_front();
    if (close) {
      close_after_flush_ = true;
      stop_parsing_ = true;
      // Nothing after a closing answer is sent: cancel what is left.
      for (Slot& rest : pipeline_) {
        if (rest.call) {
          rest.call->cancel.Cancel();
          loop_.Cancel(rest.deadline_timer);
          core_->metrics->in_flight.fetch_sub(1, std::memory_order_relaxed);
        }
      }
      pipeline_.clear();
      break;
    }
  }
  MaybeSendContinue();
}

void Connection::Write() {
  while (out_pos_ < out_.size()) {
    const ssize_t n = ::send(fd_.get(), out_.data() + out_pos_,
                             out_.size() - out_pos_, MSG_NOSIGNAL);
    if (n > 0) {
      out_pos_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!write_blocked_) {
        write_blocked_ = true;
        write_blocked_since_ = loop_.Now();
      }
      // Keep memory bounded while a large answer trickles out.
      if (out_pos_ > (256u << 10) && out_pos_ * 2 > out_.size()) {
        out_.erase(0, out_pos_);
        out_pos_ = 0;
      }
      return;
    }
    Close();  // EPIPE, ECONNRESET, ...
    return;
  }
  out_.clear();
  out_pos_ = 0;
  write_blocked_ = false;
  last_activity_ = loop_.Now();
  if (close_after_flush_) StartClosing();
}

void Connection::StartClosing() {
  // Linger only when the client may still be sending (unread input or an
  // aborted request); otherwise a plain close sends FIN, not RST.
  const bool may_send_more =
      linger_on_close_ || !in_.empty() || !parser_.idle();
  if (!may_send_more) {
    Close();
    return;
  }
  ::shutdown(fd_.get(), SHUT_WR);
  lingering_ = true;
  linger_start_ = loop_.Now();
  in_.Clear();
}

void Connection::Close() {
  if (closed_) return;
  closed_ = true;
  if (timer_ != net::kInvalidTimerId) loop_.Cancel(timer_);
  timer_ = net::kInvalidTimerId;
  for (Slot& s : pipeline_) {
    if (s.call) {
      s.call->cancel.Cancel();  // the client is gone
      loop_.Cancel(s.deadline_timer);
      core_->metrics->in_flight.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  pipeline_.clear();
  if (fd_.valid()) {
    loop_.Unwatch(fd_.get()).IgnoreError();
    fd_.reset();
  }
  core_->metrics->open_connections.fetch_sub(1, std::memory_order_relaxed);
  core_->ConnectionClosed();
  reactor_->RemoveConnection(id_);
}

void Connection::BeginDrain() {
  if (closed_ || draining_) return;
  draining_ = true;
  // An idle connection closes now (AfterEvent). A busy one keeps answering
  // what it receives until its last answer, which carries Connection: close
  // (see Complete); the drain timeout bounds the whole.
  AfterEvent();
}

// ---------------------------------------------------------------- timers

SteadyTime Connection::NextTimeout() const {
  const ServerOptions& o = core_->options;
  if (lingering_) return linger_start_ + kLingerTimeout;
  if (write_blocked_) return write_blocked_since_ + o.write_timeout;
  if (in_head_) return header_start_ + o.header_timeout;
  if (parser_.headers_complete()) return last_activity_ + o.idle_timeout;
  if (pipeline_.empty() && !output_pending()) {
    return last_activity_ + o.idle_timeout;
  }
  return SteadyTime::max();  // waiting for handlers: their deadlines rule
}

void Connection::UpdateInterestAndTimer() {
  if (closed_) return;
  uint32_t want = 0;
  if (WantRead()) want |= net::kReadable;
  if (output_pending()) want |= net::kWritable;
  if (want != interest_) {
    interest_ = want;
    loop_.Modify(fd_.get(), want).IgnoreError();
  }
  const SteadyTime due = NextTimeout();
  if (due == SteadyTime::max()) return;  // an armed timer re-checks when due
  if (timer_ != net::kInvalidTimerId && timer_due_ <= due) return;
  if (timer_ != net::kInvalidTimerId) loop_.Cancel(timer_);
  timer_due_ = due;
  timer_ = loop_.RunAt(due, [this] { OnTimer(); });
}

void Connection::OnTimer() {
  timer_ = net::kInvalidTimerId;
  if (closed_) return;
  const SteadyTime now = loop_.Now();
  const SteadyTime due = NextTimeout();
  if (now < due) {  // the state moved on since the timer was set
    UpdateInterestAndTimer();
    return;
  }
  ServerMetrics& m = *core_->metrics;
  if (lingering_) {
    Close();
  } else if (write_blocked_) {
    m.timeouts_write.fetch_add(1, std::memory_order_relaxed);
    Close();
  } else if (in_head_ || parser_.headers_complete()) {
    // Slowloris (head) or a stalled body: 408, then close.
    m.timeouts_header.fetch_add(1, std::memory_order_relaxed);
    parser_.Reset();
    AnswerWithoutRequest(408);
    AfterEvent();
  } else {
    m.timeouts_idle.fetch_add(1, std::memory_order_relaxed);
    Close();
  }
}

}  // namespace brisk
