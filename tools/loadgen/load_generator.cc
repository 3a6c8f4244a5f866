#include "tools/loadgen/load_generator.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
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
#include "absl/time/time.h"
#include "http/ascii.h"
#include "http/method.h"
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

struct Connection;

// One class's share of the load on one event loop: its schedule, its own
// connections and their idle list, and what it measured.
struct ClassRun {
  const RequestClass* spec = nullptr;
  uint64_t rate = 0;
  std::deque<Connection*> idle;  // may hold stale entries; state is checked
  std::optional<Schedule> schedule;
  // Requests to send once more (see Runner::FailRequest), served before
  // the schedule's due ones; they wait for a connection as those do.
  std::deque<ScheduledRequest> retry;
  bool idempotent = false;  // its method may be retried (RFC 9110 §9.2.2)
  TimePoint measure_start;
  RunStats stats;
};

// One connection of a class's pool: a small state machine on the loop thread.
struct Connection {
  enum class State { kClosed, kConnecting, kIdle, kBusy };

  ClassRun* cls = nullptr;  // the class it carries requests for
  State state = State::kClosed;
  net::UniqueFd fd;
  net::IoBuffer in;
  net::IoBuffer out;
  ResponseParser parser;
  ScheduledRequest request;  // the outstanding request when kBusy
  TimePoint sent_at;         // when it was written
  bool is_retry = false;     // `request` is being sent a second time
  bool reused = false;       // `request` is not the connection's first
  bool got_bytes = false;    // some of its response has been read
  bool carried = false;      // the connection has carried a request
  net::TimerId timeout_timer = net::kInvalidTimerId;
  net::TimerId reconnect_timer = net::kInvalidTimerId;
  bool initial = true;  // its first connect is still unresolved
  uint32_t interest = 0;  // what the loop watches `fd` for
};

// Parts of `total` for part k of n: total / n, plus one for the first
// total % n parts.
uint64_t Share(uint64_t total, int n, int k) {
  return total / n + (static_cast<uint64_t>(k) < total % n ? 1 : 0);
}

// One event loop's share of the load: share k of n of every class. Lives and
// runs on one thread; `classes` must outlive it.
class Runner {
 public:
  Runner(const LoadOptions& options, const net::SocketAddress& address,
         const std::vector<RequestClass>& classes, int n, int k)
      : options_(options), address_(address), classes_(classes.size()) {
    for (size_t i = 0; i < classes.size(); ++i) {
      classes_[i].spec = &classes[i];
      classes_[i].rate = Share(classes[i].rate, n, k);
      const std::string_view method =
          std::string_view(classes[i].request).substr(0, classes[i].request.find(' '));
      classes_[i].idempotent = http::IsIdempotentMethod(method);
      const int connections = static_cast<int>(Share(classes[i].connections, n, k));
      for (int j = 0; j < connections; ++j) {
        conns_.push_back(std::make_unique<Connection>());
        conns_.back()->cls = &classes_[i];
        // The whole request must fit: Append() refuses beyond max_capacity.
        conns_.back()->out = net::IoBuffer(
            {.max_capacity = std::max<size_t>(1 << 20, classes[i].request.size())});
      }
    }
  }

  // The statistics of each class, in the order of `classes`.
  absl::StatusOr<std::vector<RunStats>> Run();

 private:
  void Start();
  void StartConnect(Connection& c);
  void OnEvents(Connection& c, uint32_t events);
  void OnConnectResult(Connection& c, int error);
  void InitialConnectResolved(Connection& c);
  void BecomeIdle(Connection& c);
  void Send(Connection& c, const ScheduledRequest& r, bool is_retry);
  void Flush(Connection& c);
  // `events`: what the loop reported (kHangup: the end of the stream has
  // come, maybe with the answer).
  void OnReadable(Connection& c, uint32_t events);
  // `peer_closed`: the read that completed the response also saw the end of
  // the stream (or an error); the connection cannot carry another request.
  void OnResponse(Connection& c, bool peer_closed);
  // Ends the outstanding request of `c` with an error of `kind`, then closes
  // and reopens the connection.
  void FailRequest(Connection& c, uint64_t ErrorCounts::*kind);
  // A timed-out request's latency is at least `latency` (the timeout, plus
  // its wait for a connection when it was sent): it counts in the
  // percentiles of all requests as that (left out, a server whose slowest
  // requests timed out showed a p99 under the timeout).
  void CountTimeoutLatency(ClassRun& cls, Duration latency) { cls.stats.latencies.Record(latency); }
  void Close(Connection& c);
  // Connects `c` again now / after reconnect_delay, unless the run is over.
  void Reopen(Connection& c);
  void ReopenLater(Connection& c);
  void Dispatch();
  // Whether `cls` has an idle connection (drops stale entries of its list).
  static bool HasIdle(ClassRun& cls);
  // The requests waiting for a connection: retries first, then the due ones.
  static bool HasWaiting(const ClassRun& cls);
  static ScheduledRequest PopWaiting(ClassRun& cls);
  static TimePoint OldestWaiting(const ClassRun& cls);  // HasWaiting() must hold
  // The earliest time a request needs Dispatch(): the next one due (with a
  // free connection to carry it) or the oldest waiting one's expiry;
  // TimePoint::max() for none. Only after Start().
  TimePoint NextDispatch();
  // Arms the tick for NextDispatch() (not when busy polling: the loop
  // compares it with the clock on every iteration instead).
  void ArmTick();
  void MaybeFinish();
  void StopLoop() {
    stopping_ = true;
    loop_->Stop();
  }

  static bool Counted(const ClassRun& cls, const ScheduledRequest& r) {
    return r.time >= cls.measure_start;
  }
  // Changes what the loop watches `c` for, with no system call when that
  // is what it watches already (after every send: one epoll_ctl a request).
  void SetInterest(Connection& c, uint32_t interest) {
    if (c.interest == interest) return;
    c.interest = interest;
    loop_->Modify(c.fd.get(), interest).IgnoreError();
  }

  const LoadOptions options_;
  const net::SocketAddress address_;
  std::vector<ClassRun> classes_;  // never resized: connections point in
  std::unique_ptr<net::EventLoop> loop_;
  std::vector<std::unique_ptr<Connection>> conns_;
  bool started_ = false;
  int initial_pending_ = 0;
  int busy_ = 0;
  bool finished_ = false;
  bool stopping_ = false;  // StopLoop() was called (ends a busy-poll run)
  // The tick: a timerfd armed at the next due time. The loop's own timers
  // wake epoll_wait with millisecond granularity; the timerfd fires within
  // microseconds, so requests leave on time without busy-waiting.
  net::UniqueFd tick_fd_;
  bool tick_armed_ = false;
  TimePoint tick_time_;
};

absl::StatusOr<std::vector<RunStats>> Runner::Run() {
  absl::StatusOr<std::unique_ptr<net::EventLoop>> loop = net::CreateEpollLoop();
  if (!loop.ok()) return loop.status();
  loop_ = std::move(*loop);
  tick_fd_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!tick_fd_.valid()) {
    return absl::InternalError(absl::StrCat("timerfd_create: errno ", errno));
  }
  absl::Status watched = loop_->Watch(tick_fd_.get(), net::kReadable, [this](uint32_t) {
    // One read takes every expiration (a second only said EAGAIN).
    uint64_t expirations;
    while (read(tick_fd_.get(), &expirations, sizeof(expirations)) < 0 && errno == EINTR) {
    }
    tick_armed_ = false;
    ++classes_.front().stats.ticks;
    Dispatch();
  });
  if (!watched.ok()) return watched;
  initial_pending_ = static_cast<int>(conns_.size());
  for (auto& c : conns_) StartConnect(*c);
  // Start the schedule once every connection is up (or has failed), or after
  // initial_connect_timeout at the latest.
  loop_->RunAfter(options_.initial_connect_timeout, [this] { Start(); });
  if (initial_pending_ == 0) Start();
  if (options_.busy_poll) {
    // No tick: every iteration sends what has come due (re-arming the
    // timerfd was 6% of the generator's perf samples at 45,000 req/s).
    while (!stopping_) {
      loop_->RunOnce(Duration(0));
      if (started_ && !finished_ && NextDispatch() <= loop_->clock().Now()) Dispatch();
    }
  } else {
    loop_->Run();
  }
  for (auto& c : conns_) Close(*c);
  loop_->Unwatch(tick_fd_.get()).IgnoreError();
  // Destroy the loop (and the timers' callbacks) before the connections.
  loop_.reset();
  std::vector<RunStats> stats;
  for (ClassRun& cls : classes_) {
    // Rates are never computed over less than the measured duration.
    cls.stats.send_window = std::max(cls.stats.send_window, options_.duration);
    cls.stats.complete_window =
        std::max(cls.stats.complete_window, options_.duration);
    stats.push_back(std::move(cls.stats));
  }
  return stats;
}

void Runner::Start() {
  if (started_) return;
  started_ = true;
  const TimePoint start = loop_->Now();
  for (size_t k = 0; k < classes_.size(); ++k) {
    ClassRun& cls = classes_[k];
    const uint64_t warmup_count = Schedule::CountFor(cls.rate, options_.warmup);
    const uint64_t total =
        Schedule::CountFor(cls.rate, options_.warmup + options_.duration);
    // Each class after the first starts a fraction of its own period later:
    // all starting at once, a probe at 100/s beside a class at 200/s landed
    // on every other one of its requests (and beside 476/s on 4% of them).
    const Duration offset = Schedule::PhaseOf(k, cls.rate);
    cls.schedule.emplace(start + offset, cls.rate, total);
    cls.measure_start = cls.schedule->TimeOf(warmup_count);
    if (warmup_count == total) cls.measure_start = start + offset + options_.warmup;
    cls.stats.scheduled = total - warmup_count;
  }
  // Safety net: every request resolves by its timeout; stop regardless.
  loop_->RunAt(
      start + options_.warmup + options_.duration + 2 * options_.timeout + std::chrono::seconds(1),
      [this] { StopLoop(); });
  Dispatch();
}

void Runner::StartConnect(Connection& c) {
  c.reconnect_timer = net::kInvalidTimerId;
  c.carried = false;
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
  c.interest = net::kWritable;
  absl::Status s =
      loop_->Watch(fd, c.interest, [this, &c](uint32_t events) { OnEvents(c, events); });
  if (!s.ok()) {
    OnConnectResult(c, EBADF);
    return;
  }
  // A connect the server never completes (its accept queue full, so the
  // kernel drops our SYNs and retries them for minutes) fails after
  // `timeout`, as a request would, and the connection is reopened: without
  // it the pool lost that connection for the rest of the run, and a run
  // whose every connection hung measured nothing, silently.
  c.timeout_timer = loop_->RunAfter(options_.timeout, [this, &c] {
    c.timeout_timer = net::kInvalidTimerId;
    OnConnectResult(c, ETIMEDOUT);
  });
}

void Runner::OnConnectResult(Connection& c, int error) {
  if (c.timeout_timer != net::kInvalidTimerId) {
    loop_->Cancel(c.timeout_timer);
    c.timeout_timer = net::kInvalidTimerId;
  }
  if (error == 0) {
    SetInterest(c, net::kReadable);
    InitialConnectResolved(c);
    BecomeIdle(c);
    return;
  }
  ++c.cls->stats.errors.connect;
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
      // (not an error) or sent stray bytes, no request of the run's being
      // outstanding (dropped, and the connection with them: what follows
      // on it could not be framed with confidence). A keep-alive timeout
      // on a connection that carried requests is reopened at once, as a
      // client reconnects on demand (a pause here went into the latency of
      // the next request due); otherwise after a pause, so a server that
      // closes every new connection is not hammered.
      net::IoBuffer::ReadResult r = c.in.ReadFrom(c.fd.get(), kReadCap);
      const bool stray = !c.in.empty();
      c.in.Clear();
      if (stray || r.status == net::IoBuffer::kEof || r.status == net::IoBuffer::kError) {
        const bool keep_alive_timeout = !stray && r.status == net::IoBuffer::kEof && c.carried;
        Close(c);
        if (keep_alive_timeout) {
          if (!finished_) StartConnect(c);
        } else {
          ReopenLater(c);
        }
      }
      return;
    }
    case Connection::State::kBusy:
      if (events & net::kWritable) {
        Flush(c);
        if (c.state != Connection::State::kBusy) return;
      }
      if (events & (net::kReadable | net::kHangup | net::kError)) OnReadable(c, events);
      return;
    case Connection::State::kClosed:
      return;
  }
}

void Runner::BecomeIdle(Connection& c) {
  c.state = Connection::State::kIdle;
  c.cls->idle.push_back(&c);
  Dispatch();
}

void Runner::Send(Connection& c, const ScheduledRequest& r, bool is_retry) {
  ClassRun& cls = *c.cls;
  c.state = Connection::State::kBusy;
  c.request = r;
  c.is_retry = is_retry;
  c.reused = c.carried;
  c.carried = true;
  c.got_bytes = false;
  // The clock now, not the iteration's start: what came before in this
  // iteration delayed the write (send_delay was understated by it).
  const TimePoint now = loop_->clock().Now();
  c.sent_at = now;
  ++busy_;
  c.parser.BeginResponse(cls.spec->head_request);
  // The timeout runs from the send: a request that waited for a connection
  // still gets all of it (from its scheduled time, one sent with a few ms
  // left timed out in flight and cost its connection: under overload past
  // the timeout, every request did, and goodput halved). The wait itself is
  // bounded by the timeout too: see Dispatch().
  c.timeout_timer = loop_->RunAt(now + options_.timeout, [this, &c] {
    c.timeout_timer = net::kInvalidTimerId;
    FailRequest(c, &ErrorCounts::timeout);
  });
  if (Counted(cls, r) && !is_retry) {  // a retry was counted at its first send
    ++cls.stats.sent;
    cls.stats.send_delay.Record(now - r.time);
    cls.stats.send_window = std::max(cls.stats.send_window, now - cls.measure_start);
  }
  c.out.Append(cls.spec->request);
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

void Runner::OnReadable(Connection& c, uint32_t events) {
  // A read that fills less than its room took all there was: the socket is
  // watched level-triggered, so what comes later is reported again, and the
  // read that would only say EAGAIN is skipped (one system call a request).
  // Not when the end of the stream has come: reading on to it, an answer
  // and the server's close that arrived together are seen together (see
  // OnResponse).
  const bool hung_up = (events & net::kHangup) != 0;
  net::IoBuffer::ReadResult r =
      c.in.ReadFrom(c.fd.get(), kReadCap, /*stop_on_short_read=*/!hung_up);
  c.got_bytes = c.got_bytes || r.bytes > 0;
  ResponseParser::Result parsed = c.parser.Feed(c.in.readable());
  c.in.Consume(parsed.consumed);
  if (parsed.state == ResponseParser::kComplete) {
    OnResponse(c, r.status == net::IoBuffer::kEof || r.status == net::IoBuffer::kError);
  } else if (parsed.state == ResponseParser::kError ||
             r.status == net::IoBuffer::kBufferFull) {
    FailRequest(c, &ErrorCounts::parse);
  } else if (r.status == net::IoBuffer::kEof) {
    if (c.parser.FinishOnEof()) {
      OnResponse(c, /*peer_closed=*/true);
    } else {
      FailRequest(c, &ErrorCounts::closed);
    }
  } else if (r.status == net::IoBuffer::kError) {
    FailRequest(c, &ErrorCounts::closed);
  }
}

void Runner::OnResponse(Connection& c, bool peer_closed) {
  loop_->Cancel(c.timeout_timer);
  c.timeout_timer = net::kInvalidTimerId;
  --busy_;
  ClassRun& cls = *c.cls;
  if (Counted(cls, c.request)) {
    const TimePoint now = loop_->Now();
    const Duration latency = now - c.request.time;
    const int code = c.parser.status_code();
    ++cls.stats.completed;
    ++cls.stats.status_counts[code];
    cls.stats.latencies.Record(latency);
    if (code >= 200 && code < 300) {
      cls.stats.latencies_ok.Record(latency);
      cls.stats.latencies_ok_from_send.Record(now - c.sent_at);
    } else {
      cls.stats.latencies_non2xx.Record(latency);
    }
    cls.stats.complete_window =
        std::max(cls.stats.complete_window, now - cls.measure_start);
  }
  // An answer that came before the whole request was sent (a server may
  // answer early, RFC 9112 §9.5): the rest of the body is not sent, so
  // the connection cannot carry another request (it would land inside the
  // body the server still reads): close it, as for Connection: close or
  // stray bytes after the answer. So too when the server closed right after
  // its answer without saying Connection: close (the end of the stream came
  // in the same read): marked idle, it took the next request, which failed
  // as `closed`.
  const bool request_sent = c.out.empty();
  c.out.Clear();
  if (c.parser.keep_alive() && c.in.empty() && request_sent && !peer_closed) {
    BecomeIdle(c);
  } else {
    Close(c);
    Reopen(c);
  }
}

void Runner::FailRequest(Connection& c, uint64_t ErrorCounts::*kind) {
  if (c.state != Connection::State::kBusy) return;
  loop_->Cancel(c.timeout_timer);
  c.timeout_timer = net::kInvalidTimerId;
  --busy_;
  ClassRun& cls = *c.cls;
  if (kind == &ErrorCounts::closed && c.reused && !c.got_bytes && !c.is_retry && cls.idempotent) {
    // Closed under a request that got no byte of answer, on a connection
    // that had carried others: most likely the server closed the idle
    // connection as the request went out (a keep-alive timeout, or a close
    // after an answer whose end of stream came a read later). Sent once
    // more, as HTTP clients do with idempotent requests (RFC 9112 §9.3.1).
    cls.retry.push_back(c.request);
    if (Counted(cls, c.request)) ++cls.stats.retried;
    Close(c);
    Reopen(c);
    // A connection that comes up sends it; wake for its expiry in case none
    // does (a server refusing connections), or it stayed out of every count.
    ArmTick();
    return;
  }
  if (Counted(cls, c.request)) {
    ++(c.cls->stats.errors.*kind);
    if (kind == &ErrorCounts::timeout) {
      CountTimeoutLatency(*c.cls, c.sent_at + options_.timeout - c.request.time);
    }
  }
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

bool Runner::HasWaiting(const ClassRun& cls) {
  return !cls.retry.empty() || cls.schedule->HasDue();
}

ScheduledRequest Runner::PopWaiting(ClassRun& cls) {
  if (cls.retry.empty()) return cls.schedule->PopDue();
  ScheduledRequest r = cls.retry.front();
  cls.retry.pop_front();
  return r;
}

TimePoint Runner::OldestWaiting(const ClassRun& cls) {
  TimePoint oldest = TimePoint::max();
  if (!cls.retry.empty()) oldest = cls.retry.front().time;
  if (cls.schedule->HasDue()) oldest = std::min(oldest, cls.schedule->PeekDue().time);
  return oldest;
}

void Runner::Dispatch() {
  if (!started_ || finished_) return;
  const TimePoint now = loop_->Now();
  for (ClassRun& cls : classes_) {
    Schedule& schedule = *cls.schedule;
    schedule.Advance(now);
    while (HasWaiting(cls)) {
      const bool is_retry = !cls.retry.empty();
      ScheduledRequest head = is_retry ? cls.retry.front() : schedule.PeekDue();
      if (head.time + options_.timeout <= now) {
        // Waited its whole timeout for a connection: expired, never sent.
        PopWaiting(cls);
        if (Counted(cls, head)) {
          ++cls.stats.errors.timeout;
          ++cls.stats.errors.timeout_before_send;
          CountTimeoutLatency(cls, options_.timeout);
        }
        continue;
      }
      if (!HasIdle(cls)) break;
      Connection* c = cls.idle.front();
      cls.idle.pop_front();
      Send(*c, PopWaiting(cls), is_retry);
    }
  }
  MaybeFinish();
  ArmTick();
}

bool Runner::HasIdle(ClassRun& cls) {
  while (!cls.idle.empty() && cls.idle.front()->state != Connection::State::kIdle) {
    cls.idle.pop_front();
  }
  return !cls.idle.empty();
}

TimePoint Runner::NextDispatch() {
  TimePoint next = TimePoint::max();
  for (ClassRun& cls : classes_) {
    const Schedule& schedule = *cls.schedule;
    if (HasWaiting(cls)) {
      next = std::min(next, OldestWaiting(cls) + options_.timeout);
    } else if (!schedule.AllDue()) {
      // With a free connection, wake when the next request is due. Without
      // one it could not be sent then (the connection that frees up
      // dispatches it): wake only to expire it. Waking at every scheduled
      // time took a core at 50000 req/s with the pool saturated.
      next = std::min(next,
                      HasIdle(cls) ? schedule.NextTime() : schedule.NextTime() + options_.timeout);
    }
  }
  return next;
}

void Runner::ArmTick() {
  if (finished_ || options_.busy_poll) return;
  const TimePoint next = NextDispatch();
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
  if (finished_ || !started_ || busy_ != 0) return;
  for (const ClassRun& cls : classes_) {
    if (!cls.schedule->Exhausted() || !cls.retry.empty()) return;
  }
  finished_ = true;
  StopLoop();
}

// One connection to `address`, closed at once: whether the target can be
// reached at all. Waits at most `timeout` (a listener whose accept queue is
// full drops the SYNs, and a blocking connect would wait out the kernel's
// retries, over two minutes).
absl::Status ProbeConnect(const net::SocketAddress& address, Duration timeout) {
  net::UniqueFd fd(socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::InternalError(absl::StrCat("socket: errno ", errno));
  if (connect(fd.get(), address.addr(), address.len()) == 0) return absl::OkStatus();
  if (errno != EINPROGRESS) return absl::UnavailableError(strerror(errno));
  const TimePoint end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return absl::DeadlineExceededError(absl::StrCat(
          "no connection within the timeout (", absl::FormatDuration(absl::FromChrono(timeout)),
          "): the server accepts none (its accept queue full?)"));
    }
    pollfd p{.fd = fd.get(), .events = POLLOUT, .revents = 0};
    const int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1'000'000)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(absl::StrCat("poll: errno ", errno));
    if (n == 0) continue;
    int error = 0;
    socklen_t len = sizeof(error);
    if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
    if (error != 0) return absl::UnavailableError(strerror(error));
    return absl::OkStatus();
  }
}

}  // namespace

absl::StatusOr<std::string> BuildRequest(const RequestSpec& spec) {
  if (!IsToken(spec.method)) {
    return absl::InvalidArgumentError(absl::StrCat("bad method: ", spec.method));
  }
  // A request target (RFC 9112 §3.2): origin-form, absolute-form, or "*"
  // for OPTIONS. "nope" went out as "GET nope HTTP/1.1" (every answer 400).
  const std::string_view path = spec.path;
  const bool origin_form = path.starts_with('/');
  // Not https://: loadgen speaks plain TCP (a server answers 421).
  const bool absolute_form = http::EqualsIgnoreCase(path.substr(0, 7), "http://");
  const bool asterisk_form = path == "*" && spec.method == "OPTIONS";
  if (!(origin_form || absolute_form || asterisk_form) || HasControlOrSpace(path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad path: '", spec.path,
                     "' (a request target: /path?query, an http:// URI, or * with OPTIONS)"));
  }
  // A Host among the headers replaces the default one, in its place: sent
  // as a second Host, every answer was a 400 (RFC 9112 §3.2).
  const std::string* given_host = nullptr;
  bool has_length = false;
  std::string headers;
  for (const std::string& h : spec.headers) {
    size_t colon = h.find(':');
    if (colon == std::string::npos || !IsToken(std::string_view(h).substr(0, colon)) ||
        HasCrLfOrNul(h)) {
      return absl::InvalidArgumentError(absl::StrCat("bad header: ", h));
    }
    std::string_view name = std::string_view(h).substr(0, colon);
    has_length = has_length || http::EqualsIgnoreCase(name, "content-length");
    if (http::EqualsIgnoreCase(name, "host")) {
      if (given_host != nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("more than one Host header: ", *given_host, " and ", h));
      }
      given_host = &h;
      continue;
    }
    absl::StrAppend(&headers, h, "\r\n");
  }
  std::string host = spec.host.find(':') != std::string::npos && spec.host.front() != '['
                         ? absl::StrCat("[", spec.host, "]")
                         : spec.host;
  std::string default_host = absl::StrCat("Host: ", host, ":", spec.port);
  if (absolute_form) {
    // A client sends, as Host, the absolute-form target's own authority
    // (RFC 9112 §3.2.2), not the address it connects to.
    const std::string_view rest = path.substr(7);
    const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
    if (authority.empty() || authority.find('@') != std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad path: '", spec.path, "' (an http:// URI names a host, no userinfo)"));
    }
    default_host = "Host: " + std::string(authority);
  }
  std::string out = absl::StrCat(spec.method, " ", spec.path, " HTTP/1.1\r\n",
                                 given_host != nullptr ? *given_host : default_host,
                                 "\r\nUser-Agent: brisk-loadgen\r\n", headers);
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

absl::StatusOr<std::vector<RunStats>> RunLoadByClass(const LoadOptions& options) {
  std::vector<RequestClass> classes = options.classes;
  if (classes.empty()) {
    classes.push_back({.request = options.request,
                       .head_request = options.head_request,
                       .rate = options.rate});
  }
  if (options.connections < 1) {
    return absl::InvalidArgumentError("connections must be >= 1");
  }
  for (RequestClass& c : classes) {
    if (c.connections == 0) c.connections = options.connections;
    if (c.rate == 0) return absl::InvalidArgumentError("rate must be > 0");
    if (c.connections < 1) {
      return absl::InvalidArgumentError("connections must be >= 1");
    }
    if (c.request.empty()) return absl::InvalidArgumentError("empty request");
  }
  if (options.threads < 1) return absl::InvalidArgumentError("threads must be >= 1");
  if (options.duration <= Duration(0) || options.warmup < Duration(0) ||
      options.timeout <= Duration(0)) {
    return absl::InvalidArgumentError(
        "duration and timeout must be > 0, warmup >= 0");
  }
  // The loop's timers count whole milliseconds: a shorter timeout would be
  // kept for a request waiting for a connection but not for one sent.
  if (options.timeout < std::chrono::milliseconds(1)) {
    return absl::InvalidArgumentError(
        "timeout must be at least 1ms (request timers count milliseconds)");
  }
  // Each is added to the loop's clock (a request's timeout timer, the run's
  // end at warmup + duration + 2 timeouts): "inf" overflowed it into the
  // past, timing out every request at once or ending the run at its start.
  constexpr Duration kMaxDuration = std::chrono::hours(24 * 365);
  if (options.duration > kMaxDuration || options.warmup > kMaxDuration ||
      options.timeout > kMaxDuration) {
    return absl::InvalidArgumentError(
        "duration, warmup and timeout must be at most 8760h (a year)");
  }
  absl::StatusOr<net::SocketAddress> address =
      net::SocketAddress::Parse(options.host, options.port);
  if (!address.ok()) return address.status();
  // Probe: refuse to start a run that cannot connect at all.
  if (absl::Status probe = ProbeConnect(*address, options.timeout); !probe.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to ", address->ToString(), ": ", probe.message()));
  }

  // Every loop gets at least one connection and a non-zero rate of every
  // class.
  uint64_t threads = static_cast<uint64_t>(options.threads);
  for (const RequestClass& c : classes) {
    threads = std::min({threads, static_cast<uint64_t>(c.connections), c.rate});
  }
  const int n = static_cast<int>(threads);
  std::vector<absl::StatusOr<std::vector<RunStats>>> results(n);
  std::vector<std::thread> workers;
  for (int k = 0; k < n; ++k) {
    workers.emplace_back([&, k] {
      Runner runner(options, *address, classes, n, k);
      results[k] = runner.Run();
    });
  }
  for (std::thread& t : workers) t.join();
  std::vector<RunStats> per_class(classes.size());
  for (absl::StatusOr<std::vector<RunStats>>& r : results) {
    if (!r.ok()) return r.status();
    for (size_t i = 0; i < per_class.size(); ++i) per_class[i].Merge((*r)[i]);
  }
  return per_class;
}

absl::StatusOr<RunStats> RunLoad(const LoadOptions& options) {
  absl::StatusOr<std::vector<RunStats>> per_class = RunLoadByClass(options);
  if (!per_class.ok()) return per_class.status();
  RunStats total;
  for (const RunStats& s : *per_class) total.Merge(s);
  return total;
}

}  // namespace brisk::loadgen
