#include "server/testing/fake_request.h"

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "http/request_parser.h"
#include "net/ip_prefix.h"
#include "net/socket.h"
#include "server/exchange.h"

namespace brisk::testing {

struct FakeRequest::State {
  ~State() {
    {
      std::lock_guard<std::mutex> lock(deadline_mu);
      deadline_stop = true;
    }
    deadline_cv.notify_all();
    if (deadline_thread.joinable()) deadline_thread.join();
  }
  std::shared_ptr<internal::Exchange> exchange;
  // With a deadline, a thread does what the server's deadline timer does:
  // at the deadline, unless an answer came first, the request is cancelled
  // (cancelled() is true, SleepFor() wakes, a late Send() is refused) and
  // its answer is the server's 503.
  std::thread deadline_thread;
  std::mutex deadline_mu;
  std::condition_variable deadline_cv;
  bool deadline_stop = false;  // guarded by deadline_mu
  std::atomic<bool> expired{false};
  bool responder_taken = false;
  bool cancelled_by_caller = false;  // Cancel(): closed, not answered
  bool client_reading = true;
  bool answered = false;
  bool streaming = false;
  bool finished = false;
  bool cut_off = false;
  http::Response response;
  std::string body;
};

absl::StatusOr<std::unique_ptr<FakeRequest>> FakeRequest::Parse(
    std::string_view raw, FakeRequestOptions options) {
  http::RequestParser parser;
  http::ParseResult r = parser.Feed(raw);
  if (r.kind == http::ParseResult::kNeedMore) {
    return absl::InvalidArgumentError("incomplete request");
  }
  if (r.kind == http::ParseResult::kError) {
    return absl::InvalidArgumentError("malformed request: status " +
                                      std::to_string(r.status));
  }
  // One request: bytes after it (a second, pipelined) would be ignored.
  if (r.consumed < raw.size()) {
    return absl::InvalidArgumentError(
        "bytes after the request: a FakeRequest is one request (make one per request)");
  }
  auto info = std::make_shared<internal::ConnectionInfo>();
  if (absl::StatusOr<net::SocketAddress> a =
          net::SocketAddress::Parse(options.peer_address, 0);
      a.ok()) {
    info->peer = *a;
  }
  if (!options.trusted_proxies.empty()) {
    absl::StatusOr<net::IpPrefixSet> trusted =
        net::IpPrefixSet::Parse(options.trusted_proxies);
    if (!trusted.ok()) return trusted.status();
    if (trusted->Contains(info->peer)) {
      info->trusted_proxies =
          std::make_unique<const std::shared_ptr<const internal::TrustedProxies>>(
              std::make_shared<const internal::TrustedProxies>(
                  internal::TrustedProxies{*std::move(trusted), false}));
    }
  }
  info->secure = options.secure || options.client_certificate.has_value();
  if (options.client_certificate.has_value()) {
    info->client = std::make_unique<internal::ConnectionInfo::VerifiedClient>(
        internal::ConnectionInfo::VerifiedClient{*std::move(options.client_certificate), "-"});
  }
  std::unique_ptr<FakeRequest> req(new FakeRequest());
  req->state_ = std::make_unique<State>();
  const SteadyTime now = std::chrono::steady_clock::now();
  req->state_->exchange = std::make_shared<internal::Exchange>(
      parser.TakeRequest(), std::move(options.params), now, options.deadline,
      /*route_id=*/0, /*home=*/nullptr, std::move(info), /*metrics=*/nullptr,
      internal::ExchangeOptions{.stream_buffer_limit = options.stream_buffer_bytes});
  req->state_->response.status = 0;  // nothing answered yet
  if (options.deadline != SteadyTime::max()) {
    State* const state = req->state_.get();
    const SteadyTime deadline = options.deadline;
    state->deadline_thread = std::thread([state, deadline] {
      std::unique_lock<std::mutex> lock(state->deadline_mu);
      if (state->deadline_cv.wait_until(lock, deadline,
                                        [state] { return state->deadline_stop; })) {
        return;  // the FakeRequest went first
      }
      if (state->exchange->Expire()) state->expired.store(true);
    });
  }
  return req;
}

namespace {

std::unique_ptr<FakeRequest> OrDie(
    absl::StatusOr<std::unique_ptr<FakeRequest>> r) {
  if (!r.ok()) {
    std::fprintf(stderr, "FakeRequest: %s\n", r.status().ToString().c_str());
    std::abort();
  }
  return *std::move(r);
}

}  // namespace

std::unique_ptr<FakeRequest> FakeRequest::Get(std::string_view target,
                                              FakeRequestOptions options) {
  return OrDie(Parse("GET " + std::string(target) +
                         " HTTP/1.1\r\nHost: test\r\n\r\n",
                     std::move(options)));
}

std::unique_ptr<FakeRequest> FakeRequest::Post(std::string_view target,
                                               std::string_view body,
                                               std::string_view content_type,
                                               FakeRequestOptions options) {
  return OrDie(Parse("POST " + std::string(target) +
                         " HTTP/1.1\r\nHost: test\r\nContent-Type: " +
                         std::string(content_type) + "\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n" +
                         std::string(body),
                     std::move(options)));
}

// As the server does when the client leaves or the server goes away: a
// Responder kept past this sees closed(), and its answers are refused.
FakeRequest::~FakeRequest() { state_->exchange->Unbind(); }

RequestContext& FakeRequest::context() { return state_->exchange->context(); }

void FakeRequest::Cancel() {
  state_->cancelled_by_caller = true;
  state_->exchange->Unbind();
}

Responder FakeRequest::TakeResponder() {
  if (state_->responder_taken) {
    std::fprintf(stderr, "FakeRequest: TakeResponder() called twice\n");
    std::abort();
  }
  state_->responder_taken = true;
  return state_->exchange->MakeResponder();
}

void FakeRequest::Poll() {
  State& s = *state_;
  // Closed with no answer taken and not by Cancel(): the deadline claimed
  // it. Read before the update (an answer closes it too, and is then in
  // the update), and not left to `expired` alone: the deadline thread sets
  // that only after Expire() returns, and Expire() cancels first, so a
  // handler woken by the cancellation could look before it (a TSan run
  // did).
  const bool closed_before = s.exchange->closed() && !s.cancelled_by_caller;
  internal::ExchangeUpdate u = s.exchange->TakeUpdate();
  if (u.head.has_value()) {
    s.answered = true;
    s.streaming = u.streaming;
    s.response = *std::move(u.head);
    if (s.streaming && !s.response.body.empty()) {
      s.body += s.response.body;  // a stream head's body is its first piece
    }
  }
  s.body += u.body;
  if (!s.answered && (closed_before || s.expired.load())) {  // the deadline's
    s.answered = true;
    s.response = http::Response::Text(503, "deadline exceeded\n");
  }
  s.finished = s.finished || u.finished;
  s.cut_off = s.cut_off || u.cut_off;
  if (s.client_reading) s.exchange->SetUnsent(0);
}

bool FakeRequest::answered() {
  Poll();
  return state_->answered;
}

bool FakeRequest::streaming() {
  Poll();
  return state_->streaming;
}

const http::Response& FakeRequest::response() {
  Poll();
  return state_->response;
}

const std::string& FakeRequest::streamed_body() {
  Poll();
  return state_->body;
}

bool FakeRequest::finished() {
  Poll();
  return state_->finished;
}

bool FakeRequest::cut_off() {
  Poll();
  return state_->cut_off;
}

void FakeRequest::SetClientReading(bool reading) {
  state_->client_reading = reading;
  Poll();
}

}  // namespace brisk::testing
