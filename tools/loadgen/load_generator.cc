#include "tools/loadgen/load_generator.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "http/ascii.h"
#include "http/response_parser.h"
#include "net/event_loop.h"
#include "net/io_buffer.h"
#include "net/socket.h"
#include "tools/loadgen/schedule.h"

namespace brisk::loadgen {
namespace {

using net::Duration;
using net::TimePoint;

// Largest read per readiness event, for fairness between connections.
constexpr size_t kReadCap = 256 * 1024;

using http::IsToken;
using http::ResponseParser;

bool HasControlOrSpace(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
  });
}

bool HasCrLfOrNul(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// One connection of the pool: a small state machine on the loop thread.
struct Connection {
  enum class State { kClosed, kConnecting, kIdle, kBusy };

  int id = 0;
  State state = State::kClosed;
  net::UniqueFd fd;
  net::IoBuffer in;
  net::IoBuffer out;
  ResponseParser parser;
  ScheduledRequest request;  // the outstanding request when kBusy
  net::TimerId timeout_timer = net::kInvalidTimerId;
  net::TimerId reconnect_timer = net::kInvalidTimerId;
  bool initial = true;  // its first connect is still unresolved
};

// One event loop's share of the load. Lives and runs on one thread.
class Runner {
 public:
  Runner(const LoadOptions& options, const net::SocketAddress& address,
         uint64_t rate, int connections)
      : options_(options), address_(address), rate_(rate) {
    for (int i = 0; i < connections; ++i) {
      conns_.push_back(std::make_unique<Connection>());
      conns_.back()->id = i;
      // The whole request must fit: Append() refuses beyond max_capacity.
      conns_.back()->out = net::IoBuffer(
          {.max_capacity = std::max<size_t>(1 << 20, options.request.size())});
    }
  }

  absl::StatusOr<RunStats> Run();

 private:
  void Start();
  void StartConnect(Connection& c);
  void OnEvents(Connection& c, uint32_t events);
  void OnConnectResult(Connection& c, int error);
  void InitialConnectResolved(Connection& c);
  void BecomeIdle(Connection& c);
  void Send(Connection& c, const ScheduledRequest& r);
  void Flush(Connection& c);
  void OnReadable(Connection& c);
  void OnResponse(Connection& c);
  // Ends the outstanding request of `c` with an error of `kind`, then closes
  // and reopens the connection.
  void FailRequest(Connection& c, uint64_t ErrorCounts::*kind);
  void Close(Connection& c);
  // Connects `c` again now / after reconnect_delay, unless the run is over.
  void Reopen(Connection& c);
  void ReopenLater(Connection& c);
  void Dispatch();
  void ArmTick();
  void MaybeFinish();

  bool Counted(const ScheduledRequest& r) const { return r.time >= measure_start_; }
  void SetInterest(Connection& c, uint32_t interest) {
    loop_->Modify(c.fd.get(), interest).IgnoreError();
  }

  const LoadOptions options_;
  const net::SocketAddress address_;
  const uint64_t rate_;
  std::unique_ptr<net::EventLoop> loop_;
  std::vector<std::unique_ptr<Connection>> conns_;
  std::deque<Connection*> idle_;  // may hold stale entries; state is checked
  std::optional<Schedule> schedule_;
  TimePoint measure_start_;
  int initial_pending_ = 0;
  int busy_ = 0;
  bool finished_ = false;
  // The tick: a timerfd armed at the next due time. The loop's own timers
  // wake epoll_wait with millisecond granularity; the timerfd fires within
  // microseconds, so requests leave on time without busy-waiting.
  net::UniqueFd tick_fd_;
  bool tick_armed_ = false;
  TimePoint tick_time_;
  RunStats stats_;
};

absl::StatusOr<RunStats> Runner::Run() {
  absl::StatusOr<std::unique_ptr<net::EventLoop>> loop = net::CreateEpollLoop();
  if (!loop.ok()) return loop.status();
  loop_ = std::move(*loop);
  tick_fd_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!tick_fd_.valid()) {
    return absl::InternalError(absl::StrCat("timerfd_create: errno ", errno));
  }
  absl::Status watched = loop_->Watch(tick_fd_.get(), net::kReadable, [this](uint32_t) {
    uint64_t expirations;
    while (read(tick_fd_.get(), &expirations, sizeof(expirations)) > 0) {
    }
    tick_armed_ = false;
    Dispatch();
  });
  if (!watched.ok()) return watched;
  initial_pending_ = static_cast<int>(conns_.size());
  for (auto& c : conns_) StartConnect(*c);
  // Start the schedule once every connection is up (or has failed), or after
  // initial_connect_timeout at the latest.
  loop_->RunAfter(options_.initial_connect_timeout, [this] { Start(); });
  if (initial_pending_ == 0) Start();
  loop_->Run();
  for (auto& c : conns_) Close(*c);
  loop_->Unwatch(tick_fd_.get()).IgnoreError();
  // Rates are never computed over less than the measured duration.
  stats_.send_window = std::max(stats_.send_window, options_.duration);
  stats_.complete_window = std::max(stats_.complete_window, options_.duration);
  // Destroy the loop (and the timers' callbacks) before the connections.
  loop_.reset();
  return std::move(stats_);
}

void Runner::Start() {
  if (schedule_.has_value()) return;
  const TimePoint start = loop_->Now();
  const uint64_t warmup_count = Schedule::CountFor(rate_, options_.warmup);
  const uint64_t total =
      Schedule::CountFor(rate_, options_.warmup + options_.duration);
  schedule_.emplace(start, rate_, total);
  measure_start_ = schedule_->TimeOf(warmup_count);
  if (warmup_count == total) measure_start_ = start + options_.warmup;
  stats_.scheduled = total - warmup_count;
  // Safety net: every request resolves by its timeout; stop regardless.
  loop_->RunAt(start + options_.warmup + options_.duration + 2 * options_.timeout +
                   std::chrono::seconds(1),
               [this] { loop_->Stop(); });
  Dispatch();
}

void Runner::StartConnect(Connection& c) {
  c.reconnect_timer = net::kInvalidTimerId;
  c.in.Clear();
  c.out.Clear();
  int fd = socket(address_.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    OnConnectResult(c, errno);
    return;
  }
  c.fd.reset(fd);
  net::SetNoDelay(fd).IgnoreError();
  int error = 0;
  if (connect(fd, address_.addr(), address_.len()) != 0 && errno != EINPROGRESS) {
    error = errno;
  }
  if (error != 0) {
    OnConnectResult(c, error);
    return;
  }
  c.state = Connection::State::kConnecting;
  absl::Status s = loop_->Watch(fd, net::kWritable,
                                [this, &c](uint32_t events) { OnEvents(c, events); });
  if (!s.ok()) OnConnectResult(c, EBADF);
}

void Runner::OnConnectResult(Connection& c, int error) {
  if (error == 0) {
    SetInterest(c, net::kReadable);
    InitialConnectResolved(c);
    BecomeIdle(c);
    return;
  }
  ++stats_.errors.connect;
  Close(c);
  InitialConnectResolved(c);
  ReopenLater(c);
}

void Runner::InitialConnectResolved(Connection& c) {
  if (!c.initial) return;
  c.initial = false;
  if (--initial_pending_ == 0) Start();
}

void Runner::OnEvents(Connection& c, uint32_t events) {
  switch (c.state) {
    case Connection::State::kConnecting: {
      int error = 0;
      socklen_t len = sizeof(error);
      if (getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &error, &len) != 0) {
        error = errno;
      }
      if (error == 0 && (events & (net::kError | net::kHangup))) error = ECONNREFUSED;
      OnConnectResult(c, error);
      return;
    }
    case Connection::State::kIdle: {
      // Nothing is expected: the server closed an idle keep-alive connection
      // (not an error) or sent stray bytes (dropped). Reopen after a pause, so
      // a server that closes every new connection is not hammered.
      net::IoBuffer::ReadResult r = c.in.ReadFrom(c.fd.get(), kReadCap);
      c.in.Clear();
      if (r.status == net::IoBuffer::kEof || r.status == net::IoBuffer::kError) {
        Close(c);
        ReopenLater(c);
      }
      return;
    }
    case Connection::State::kBusy:
      if (events & net::kWritable) {
        Flush(c);
        if (c.state != Connection::State::kBusy) return;
      }
      if (events & (net::kReadable | net::kHangup | net::kError)) OnReadable(c);
      return;
    case Connection::State::kClosed:
      return;
  }
}

void Runner::BecomeIdle(Connection& c) {
  c.state = Connection::State::kIdle;
  idle_.push_back(&c);
  Dispatch();
}

void Runner::Send(Connection& c, const ScheduledRequest& r) {
  c.state = Connection::State::kBusy;
  c.request = r;
  ++busy_;
  c.parser.BeginResponse(options_.head_request);
  c.timeout_timer = loop_->RunAt(r.time + options_.timeout, [this, &c] {
    c.timeout_timer = net::kInvalidTimerId;
    FailRequest(c, &ErrorCounts::timeout);
  });
  if (Counted(r)) {
    const TimePoint now = loop_->Now();
    ++stats_.sent;
    stats_.send_delay.Record(now - r.time);
    stats_.send_window = std::max(stats_.send_window, now - measure_start_);
  }
  c.out.Append(options_.request);
  Flush(c);
}

void Runner::Flush(Connection& c) {
  net::IoBuffer::WriteResult w = c.out.WriteTo(c.fd.get());
  if (w.error != 0) {
    FailRequest(c, &ErrorCounts::closed);
    return;
  }
  SetInterest(c, c.out.empty() ? net::kReadable : net::kReadable | net::kWritable);
}

void Runner::OnReadable(Connection& c) {
  net::IoBuffer::ReadResult r = c.in.ReadFrom(c.fd.get(), kReadCap);
  ResponseParser::Result parsed = c.parser.Feed(c.in.readable());
  c.in.Consume(parsed.consumed);
  if (parsed.state == ResponseParser::kComplete) {
    OnResponse(c);
  } else if (parsed.state == ResponseParser::kError ||
             r.status == net::IoBuffer::kBufferFull) {
    FailRequest(c, &ErrorCounts::parse);
  } else if (r.status == net::IoBuffer::kEof) {
    if (c.parser.FinishOnEof()) {
      OnResponse(c);
    } else {
      FailRequest(c, &ErrorCounts::closed);
    }
  } else if (r.status == net::IoBuffer::kError) {
    FailRequest(c, &ErrorCounts::closed);
  }
}

void Runner::OnResponse(Connection& c) {
  loop_->Cancel(c.timeout_timer);
  c.timeout_timer = net::kInvalidTimerId;
  --busy_;
  if (Counted(c.request)) {
    const TimePoint now = loop_->Now();
    ++stats_.completed;
    ++stats_.status_counts[c.parser.status_code()];
    stats_.latencies.Record(now - c.request.time);
    const int code = c.parser.status_code();
    if (code >= 200 && code < 300) stats_.latencies_ok.Record(now - c.request.time);
    stats_.complete_window = std::max(stats_.complete_window, now - measure_start_);
  }
  c.out.Clear();
  if (c.parser.keep_alive() && c.in.empty()) {
    BecomeIdle(c);
  } else {
    // Connection: close (or stray bytes after the response): start afresh.
    Close(c);
    Reopen(c);
  }
}

void Runner::FailRequest(Connection& c, uint64_t ErrorCounts::*kind) {
  if (c.state != Connection::State::kBusy) return;
  loop_->Cancel(c.timeout_timer);
  c.timeout_timer = net::kInvalidTimerId;
  --busy_;
  if (Counted(c.request)) ++(stats_.errors.*kind);
  Close(c);
  Reopen(c);
}

void Runner::Close(Connection& c) {
  if (c.fd.valid()) {
    loop_->Unwatch(c.fd.get()).IgnoreError();
    c.fd.reset();
  }
  if (c.timeout_timer != net::kInvalidTimerId) {
    loop_->Cancel(c.timeout_timer);
    c.timeout_timer = net::kInvalidTimerId;
  }
  if (c.reconnect_timer != net::kInvalidTimerId) {
    loop_->Cancel(c.reconnect_timer);
    c.reconnect_timer = net::kInvalidTimerId;
  }
  c.in.Clear();
  c.out.Clear();
  c.state = Connection::State::kClosed;
}

void Runner::Reopen(Connection& c) {
  MaybeFinish();
  if (!finished_) StartConnect(c);
}

void Runner::ReopenLater(Connection& c) {
  if (finished_) return;
  c.reconnect_timer = loop_->RunAfter(options_.reconnect_delay, [this, &c] {
    c.reconnect_timer = net::kInvalidTimerId;
    if (!finished_) StartConnect(c);
  });
}

void Runner::Dispatch() {
  if (!schedule_.has_value() || finished_) return;
  const TimePoint now = loop_->Now();
  schedule_->Advance(now);
  while (schedule_->HasDue()) {
    ScheduledRequest head = schedule_->PeekDue();
    if (head.time + options_.timeout <= now) {
      // Waited its whole timeout for a connection: never sent.
      schedule_->PopDue();
      if (Counted(head)) ++stats_.errors.timeout;
      continue;
    }
    while (!idle_.empty() && idle_.front()->state != Connection::State::kIdle) {
      idle_.pop_front();
    }
    if (idle_.empty()) break;
    Connection* c = idle_.front();
    idle_.pop_front();
    Send(*c, schedule_->PopDue());
  }
  MaybeFinish();
  ArmTick();
}

void Runner::ArmTick() {
  if (finished_) return;
  TimePoint next = TimePoint::max();
  if (!schedule_->AllDue()) next = schedule_->NextTime();
  if (schedule_->HasDue()) {
    next = std::min(next, schedule_->PeekDue().time + options_.timeout);
  }
  if (next == TimePoint::max()) return;
  if (tick_armed_ && tick_time_ <= next) return;  // that tick re-arms then
  // steady_clock is CLOCK_MONOTONIC; its epoch is far from zero (which would
  // disarm the timer), and a time already past fires at once.
  const int64_t ns = std::max<int64_t>(next.time_since_epoch().count(), 1);
  itimerspec spec{};
  spec.it_value.tv_sec = ns / 1'000'000'000;
  spec.it_value.tv_nsec = ns % 1'000'000'000;
  if (timerfd_settime(tick_fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) != 0) {
    // Cannot happen with a valid timerfd; fall back to the loop's timer.
    loop_->RunAt(next, [this] {
      tick_armed_ = false;
      Dispatch();
    });
  }
  tick_armed_ = true;
  tick_time_ = next;
}

void Runner::MaybeFinish() {
  if (finished_ || !schedule_.has_value()) return;
  if (schedule_->Exhausted() && busy_ == 0) {
    finished_ = true;
    loop_->Stop();
  }
}

// Parts of `total` for part k of n: total / n, plus one for the first
// total % n parts.
uint64_t Share(uint64_t total, int n, int k) {
  return total / n + (static_cast<uint64_t>(k) < total % n ? 1 : 0);
}

}  // namespace

absl::StatusOr<std::string> BuildRequest(const RequestSpec& spec) {
  if (!IsToken(spec.method)) {
    return absl::InvalidArgumentError(absl::StrCat("bad method: ", spec.method));
  }
  if (spec.path.empty() || HasControlOrSpace(spec.path)) {
    return absl::InvalidArgumentError(absl::StrCat("bad path: ", spec.path));
  }
  std::string host = spec.host.find(':') != std::string::npos &&
                             spec.host.front() != '['
                         ? absl::StrCat("[", spec.host, "]")
                         : spec.host;
  std::string out = absl::StrCat(spec.method, " ", spec.path, " HTTP/1.1\r\nHost: ",
                                 host, ":", spec.port,
                                 "\r\nUser-Agent: brisk-loadgen\r\n");
  bool has_length = false;
  for (const std::string& h : spec.headers) {
    size_t colon = h.find(':');
    if (colon == std::string::npos || !IsToken(std::string_view(h).substr(0, colon)) ||
        HasCrLfOrNul(h)) {
      return absl::InvalidArgumentError(absl::StrCat("bad header: ", h));
    }
    std::string_view name = std::string_view(h).substr(0, colon);
    has_length = has_length || http::EqualsIgnoreCase(name, "content-length");
    absl::StrAppend(&out, h, "\r\n");
  }
  const bool body_method = spec.method == "POST" || spec.method == "PUT" ||
                           spec.method == "PATCH";
  if (!has_length && (!spec.body.empty() || body_method)) {
    absl::StrAppend(&out, "Content-Length: ", spec.body.size(), "\r\n");
  }
  absl::StrAppend(&out, "\r\n", spec.body);
  return out;
}

std::vector<std::string> SplitHeaders(const std::vector<std::string>& values) {
  auto starts_header = [](std::string_view piece) {
    size_t colon = piece.find(':');
    return colon != std::string_view::npos && IsToken(piece.substr(0, colon));
  };
  std::vector<std::string> headers;
  for (const std::string& value : values) {
    std::string_view rest = value;
    bool first = true;
    while (true) {
      size_t comma = rest.find(',');
      std::string_view piece = rest.substr(0, comma);
      std::string_view trimmed = piece;
      while (!trimmed.empty() && trimmed.front() == ' ') trimmed.remove_prefix(1);
      if (first || starts_header(trimmed)) {
        headers.emplace_back(trimmed);
      } else {
        absl::StrAppend(&headers.back(), ",", std::string(piece));
      }
      first = false;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return headers;
}

absl::StatusOr<RunStats> RunLoad(const LoadOptions& options) {
  if (options.rate == 0) return absl::InvalidArgumentError("rate must be > 0");
  if (options.connections < 1) {
    return absl::InvalidArgumentError("connections must be >= 1");
  }
  if (options.threads < 1) return absl::InvalidArgumentError("threads must be >= 1");
  if (options.duration <= Duration(0) || options.warmup < Duration(0) ||
      options.timeout <= Duration(0)) {
    return absl::InvalidArgumentError(
        "duration and timeout must be > 0, warmup >= 0");
  }
  if (options.request.empty()) return absl::InvalidArgumentError("empty request");
  absl::StatusOr<net::SocketAddress> address =
      net::SocketAddress::Parse(options.host, options.port);
  if (!address.ok()) return address.status();
  // Probe: refuse to start a run that cannot connect at all.
  absl::StatusOr<net::UniqueFd> probe =
      net::Connect(options.host, options.port, /*non_blocking=*/false);
  if (!probe.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to ", address->ToString(), ": ",
                     probe.status().message()));
  }
  probe->reset();

  const int threads = std::min<uint64_t>(
      {static_cast<uint64_t>(options.threads),
       static_cast<uint64_t>(options.connections), options.rate});
  std::vector<absl::StatusOr<RunStats>> results(threads, RunStats{});
  std::vector<std::thread> workers;
  for (int k = 0; k < threads; ++k) {
    workers.emplace_back([&, k] {
      Runner runner(options, *address, Share(options.rate, threads, k),
                    static_cast<int>(Share(options.connections, threads, k)));
      results[k] = runner.Run();
    });
  }
  for (std::thread& t : workers) t.join();
  RunStats total;
  for (absl::StatusOr<RunStats>& r : results) {
    if (!r.ok()) return r.status();
    total.Merge(*r);
  }
  return total;
}

}  // namespace brisk::loadgen
