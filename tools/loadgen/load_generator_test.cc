#include "tools/loadgen/load_generator.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "http/request_parser.h"
#include "net/socket.h"
#include "tools/loadgen/run_stats.h"

namespace brisk::loadgen {
namespace {

using std::chrono::milliseconds;

// A tiny threaded HTTP/1.1 server for the end-to-end tests: one thread
// accepts, one thread per connection reads requests (head + Content-Length
// body) and answers. The n-th request overall (0-based) gets the behaviour
// the options say, so outcomes are countable whatever the interleaving; or
// a handler answers each request by what it asks for.
class TestServer {
 public:
  struct Options {
    int status_503_every = 0;   // every k-th request is answered 503
    int close_every = 0;        // every k-th response says Connection: close
    int drop_every = 0;         // every k-th request: close without answering
    bool chunked = false;       // chunked bodies instead of Content-Length
    bool never_answer = false;  // read requests, answer nothing
    milliseconds stall_first{0};  // the first request is answered this late
    milliseconds delay_each{0};   // every request is answered this late
    // After each answer, close the connection without saying Connection:
    // close; the answer and the FIN leave in one segment (TCP_CORK), so the
    // client reads both in one read().
    bool close_after_answer = false;
    // Answers 200 as soon as a head is read (RFC 9112 §9.5 allows it), then
    // stops reading for a while (the client's send buffer fills) and reads
    // the rest of the body, which must be all 'b' (else a request landed
    // inside it: counted in corrupt_bodies()).
    bool answer_after_head = false;
    // 5 ms after each answer, an answer nobody asked for (a server bug, or
    // one mixing connections up), which reaches the client while its
    // connection is idle.
    bool stray_after_answer = false;
    // After each answer, a keep-alive timeout: a connection on which no
    // byte comes this long is closed (0: never).
    milliseconds idle_close_after{0};
    // When set, it answers every request instead (the options above do not
    // apply): the response bytes for the whole request. Runs on the
    // connection's thread; may block that connection.
    std::function<std::string(const std::string& request)> handler;
  };

  explicit TestServer(Options options) : options_(options) {
    absl::StatusOr<net::Listener> listener = net::Listener::Create("127.0.0.1", 0);
    EXPECT_TRUE(listener.ok()) << listener.status();
    listener_ = std::make_unique<net::Listener>(*std::move(listener));
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    stop_read_.reset(fds[0]);
    stop_write_.reset(fds[1]);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~TestServer() {
    char c = 1;
    EXPECT_EQ(write(stop_write_.get(), &c, 1), 1);
    accept_thread_.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (std::thread& t : connection_threads_) t.join();
  }

  uint16_t port() const { return listener_->port(); }
  int requests() const { return requests_.load(); }
  int connections() const { return connections_.load(); }
  int corrupt_bodies() const { return corrupt_bodies_.load(); }
  std::string first_request() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_request_;
  }

 private:
  // Waits until `fd` is readable; false when the server stops.
  bool WaitReadable(int fd) {
    pollfd p[2] = {{fd, POLLIN, 0}, {stop_read_.get(), POLLIN, 0}};
    while (poll(p, 2, -1) < 0) {
    }
    return (p[1].revents & POLLIN) == 0;
  }

  void AcceptLoop() {
    while (WaitReadable(listener_->fd())) {
      net::AcceptResult r = listener_->Accept();
      if (r.outcome != net::AcceptResult::kAccepted) continue;
      ++connections_;
      std::lock_guard<std::mutex> lock(mu_);
      connection_threads_.emplace_back(
          [this, fd = std::make_shared<net::UniqueFd>(std::move(r.fd))] {
            Serve(fd->get());
          });
    }
  }

  static bool SendAll(int fd, const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        pollfd p = {fd, POLLOUT, 0};
        poll(&p, 1, 100);
      } else {
        return false;
      }
    }
    return true;
  }

  // Frames requests with brisk's own parser, which also checks that what
  // the generator sends is valid HTTP/1.1.
  void Serve(int fd) {
    http::ParserLimits limits;
    limits.max_body_bytes = 64 << 20;  // the tests send bodies of a few MiB
    http::RequestParser parser(limits);
    bool answered_early = false;
    std::string request;  // the raw bytes of the request being read
    char buf[4096];
    while (WaitReadable(fd)) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return;
      std::string_view in(buf, n > 0 ? static_cast<size_t>(n) : 0);
      while (!in.empty()) {
        const http::ParseResult r = parser.Feed(in);
        if (r.kind == http::ParseResult::kError) {
          ADD_FAILURE() << "the generator sent a bad request: " << r.status;
          return;
        }
        if (r.kind == http::ParseResult::kNeedMore) {
          request.append(in);
          if (options_.answer_after_head && parser.headers_complete() && !answered_early) {
            answered_early = true;
            if (!SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")) return;
            std::this_thread::sleep_for(milliseconds(200));
          }
          break;
        }
        request.append(in.substr(0, r.consumed));
        in.remove_prefix(r.consumed);
        const http::Request taken = parser.TakeRequest();
        if (options_.answer_after_head) {
          if (taken.body().find_first_not_of('b') != std::string_view::npos) ++corrupt_bodies_;
          ++requests_;
          if (!answered_early &&
              !SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")) {
            return;
          }
          answered_early = false;
        } else if (!Answer(fd, request)) {
          return;
        }
        request.clear();
      }
    }
  }

  static bool Every(int k, int n) { return k > 0 && n % k == k - 1; }

  // False when the connection must be closed.
  bool Answer(int fd, const std::string& request) {
    const int n = requests_++;
    if (n == 0) {
      std::lock_guard<std::mutex> lock(mu_);
      first_request_ = request;
    }
    if (options_.handler) return SendAll(fd, options_.handler(request));
    if (options_.never_answer) return true;
    if (n == 0) std::this_thread::sleep_for(options_.stall_first);
    std::this_thread::sleep_for(options_.delay_each);
    if (Every(options_.drop_every, n)) return false;
    const bool close = Every(options_.close_every, n);
    std::string response = Every(options_.status_503_every, n)
                               ? "HTTP/1.1 503 Service Unavailable\r\n"
                               : "HTTP/1.1 200 OK\r\n";
    if (close) response += "Connection: close\r\n";
    response += options_.chunked
                    ? "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                    : "Content-Length: 5\r\n\r\nhello";
    if (options_.close_after_answer) {
      int one = 1;
      EXPECT_EQ(setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one)), 0);
      SendAll(fd, response);
      shutdown(fd, SHUT_WR);  // the FIN joins the corked answer
      return false;
    }
    if (!SendAll(fd, response) || close) return false;
    if (options_.idle_close_after.count() > 0) {
      pollfd p = {fd, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(options_.idle_close_after.count())) == 0) return false;
    }
    if (options_.stray_after_answer) {
      std::this_thread::sleep_for(milliseconds(5));
      return SendAll(fd, "HTTP/1.1 299 Stray\r\nContent-Length: 0\r\n\r\n");
    }
    return true;
  }

  const Options options_;
  std::unique_ptr<net::Listener> listener_;
  net::UniqueFd stop_read_, stop_write_;
  std::thread accept_thread_;
  std::atomic<int> requests_{0};
  std::atomic<int> connections_{0};
  std::atomic<int> corrupt_bodies_{0};
  std::mutex mu_;
  std::vector<std::thread> connection_threads_;  // guarded by mu_
  std::string first_request_;                    // guarded by mu_
};

LoadOptions Options(uint16_t port, uint64_t rate, milliseconds duration) {
  LoadOptions o;
  o.port = port;
  absl::StatusOr<std::string> request =
      BuildRequest({.method = "GET", .host = "127.0.0.1", .port = port, .path = "/hello"});
  EXPECT_TRUE(request.ok());
  o.request = *request;
  o.rate = rate;
  o.duration = duration;
  o.connections = 4;
  return o;
}

TEST(LoadGeneratorTest, SendsExactlyRateTimesDuration) {
  TestServer server({});
  absl::StatusOr<RunStats> stats = RunLoad(Options(server.port(), 200, milliseconds(500)));
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->scheduled, 100u);
  EXPECT_EQ(stats->sent, 100u);
  EXPECT_EQ(stats->completed, 100u);
  EXPECT_EQ(stats->status_counts, (std::map<int, uint64_t>{{200, 100}}));
  EXPECT_EQ(stats->errors.connect, 0u);
  EXPECT_EQ(stats->errors.requests(), 0u);
  EXPECT_EQ(stats->latencies.count(), 100u);
  EXPECT_EQ(stats->send_delay.count(), 100u);
  EXPECT_EQ(server.requests(), 100);
  EXPECT_LE(server.connections(), 1 + 4);  // the probe, then the pool
  EXPECT_GE(stats->send_window, milliseconds(500));
  EXPECT_GE(stats->complete_window, milliseconds(500));
}

// Busy polling changes how the loop waits, not what it sends or counts;
// and the run still ends by itself (the spinning loop stops with it).
TEST(LoadGeneratorTest, BusyPollSendsAndCountsTheSame) {
  TestServer server({.close_every = 7});
  LoadOptions o = Options(server.port(), 200, milliseconds(250));
  o.busy_poll = true;
  absl::StatusOr<RunStats> stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->scheduled, 50u);
  EXPECT_EQ(stats->sent, 50u);
  EXPECT_EQ(stats->completed, 50u);
  EXPECT_EQ(stats->status_counts, (std::map<int, uint64_t>{{200, 50}}));
  EXPECT_EQ(stats->errors.requests(), 0u);
  EXPECT_EQ(server.requests(), 50);
  EXPECT_EQ(stats->latencies.count(), 50u);
  EXPECT_EQ(stats->ticks, 0u);  // due requests are found by polling, not by a timer
}

TEST(LoadGeneratorTest, CountsStatusesAndReopensClosedConnections) {
  TestServer server({.status_503_every = 4, .close_every = 10, .chunked = true});
  LoadOptions o = Options(server.port(), 200, milliseconds(500));
  o.connections = 3;
  o.threads = 2;
  absl::StatusOr<RunStats> stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->scheduled, 100u);
  EXPECT_EQ(stats->completed, 100u);
  EXPECT_EQ(stats->status_counts, (std::map<int, uint64_t>{{200, 75}, {503, 25}}));
  EXPECT_EQ(stats->latencies.count(), 100u);
  EXPECT_EQ(stats->latencies_ok.count(), 75u);  // the 2xx answers only
  EXPECT_EQ(stats->errors.connect, 0u);
  EXPECT_EQ(stats->errors.requests(), 0u);
  EXPECT_EQ(server.requests(), 100);
  // 3 initial connections plus one per Connection: close (the last may not
  // be reopened once the run is over).
  EXPECT_GE(server.connections(), 3 + 10 - 1);
}

// The open-loop property end to end: one connection, and the server stalls
// 100 ms on the first request. Requests 1..9 (due at 10..90 ms) cannot even be
// sent before the stall ends, and their latencies, measured from their
// scheduled times, include the wait. (Lower bounds only: the stall guarantees
// them however slow the machine is.)
TEST(LoadGeneratorTest, StallDelaysEveryRequestScheduledDuringIt) {
  TestServer server({.stall_first = milliseconds(100)});
  LoadOptions o = Options(server.port(), 100, milliseconds(300));
  o.connections = 1;
  absl::StatusOr<RunStats> stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->completed, 30u);
  // Request i < 10 waits at least 100 - 10 i ms, so sorted descending the
  // k-th largest latency (k = 0..9) is at least 100 - 10 k ms.
  for (int k = 0; k < 10; ++k) {
    double p = 100.0 * (30 - k) / 30;  // nearest rank 30 - k
    EXPECT_GE(stats->latencies.Percentile(p), static_cast<uint32_t>((100 - 10 * k) * 1000))
        << "k=" << k;
  }
  // The same wait, seen from the sending side: 9 requests left late.
  EXPECT_GE(stats->send_delay.Percentile(100.0 * 22 / 30), 10'000u);
  // Timed from their sends, the 2xx answers leave that lateness out: per
  // request, latency = send delay + latency from the send (each truncated to
  // whole microseconds), so the means differ by the mean send delay.
  ASSERT_EQ(stats->latencies_ok.count(), 30u);
  ASSERT_EQ(stats->latencies_ok_from_send.count(), 30u);
  EXPECT_NEAR(stats->latencies_ok.Mean() - stats->latencies_ok_from_send.Mean(),
              stats->send_delay.Mean(), 1.0);
  EXPECT_GE(stats->latencies_ok_from_send.Max(), 100'000u);  // the stalled one
}

// With the pool saturated, the timer is not armed for every scheduled time
// (nothing can be sent then; a connection that frees up dispatches itself),
// only for the oldest waiting request's expiry: at 50000 req/s with every
// connection busy, the ticks took a core. One connection; the server holds
// the first request 300 ms, longer than the whole 100 ms schedule of 1000
// requests, so they all become due while it is busy, then answers at once.
TEST(LoadGeneratorTest, NoTicksWhileEveryConnectionIsBusy) {
  TestServer server({.stall_first = milliseconds(300)});
  LoadOptions o = Options(server.port(), 10'000, milliseconds(100));
  o.connections = 1;
  absl::StatusOr<RunStats> stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->completed, 1000u);
  // One tick sends the first request; the rest leave as answers come in.
  EXPECT_LE(stats->ticks, 2u);
}

// A POST is never retried (not idempotent): every dropped one is an error.
TEST(LoadGeneratorTest, ConnectionClosedMidRequestIsAnError) {
  TestServer server({.drop_every = 5});
  LoadOptions o = Options(server.port(), 200, milliseconds(500));
  absl::StatusOr<std::string> request =
      BuildRequest({.method = "POST", .port = server.port(), .path = "/p", .body = "x"});
  ASSERT_TRUE(request.ok());
  o.request = *request;
  absl::StatusOr<RunStats> stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->scheduled, 100u);
  EXPECT_EQ(stats->retried, 0u);
  EXPECT_EQ(stats->completed, 80u);
  EXPECT_EQ(stats->errors.closed, 20u);
  EXPECT_EQ(stats->errors.timeout + stats->errors.parse, 0u);
  // The README's promise: a `closed` request has no latency sample.
  EXPECT_EQ(stats->latencies.count(), 80u);
  EXPECT_EQ(stats->status_counts, (std::map<int, uint64_t>{{200, 80}}));
}

// A server that closes after its answer without saying Connection: close:
// the answer and the end of the stream come in one read. The connection
// is closed and reopened, not reused (the next request went out on it and
// failed as `closed`). One connection and answers slower than the rate, so
// a request is always due when an answer completes.
TEST(LoadGeneratorTest, AnswerWithEndOfStreamClosesTheConnection) {
  TestServer server({.delay_each = milliseconds(10), .close_after_answer = true});
  LoadOptions o = Options(server.port(), 200, milliseconds(100));
  o.connections = 1;
  absl::StatusOr<RunStats> stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->scheduled, 20u);
  EXPECT_EQ(stats->completed, 20u);
  EXPECT_EQ(stats->errors.requests(), 0u);
  EXPECT_EQ(server.requests(), 20);
  EXPECT_GE(server.connections(), 1 + 20);  // the probe, then one per request
}

// Bytes that come while no request is outstanding are dropped with their
// connection (what follows on it cannot be framed with confidence) and
// are nobody's answer: every request gets its own 200, none the stray
// 299. The connection used to be kept, its next answer read behind
// whatever part of the stray bytes had not arrived yet.
TEST(LoadGeneratorTest, BytesOnAnIdleConnectionCloseIt) {
  TestServer server({.stray_after_answer = true});
  LoadOptions o = Options(server.port(), 20, milliseconds(200));  // one every 50 ms
  o.connections = 1;
  absl::StatusOr<RunStats> stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->completed, 4u);
  EXPECT_EQ(stats->errors.requests(), 0u);
  EXPECT_EQ(stats->status_counts[200], 4u);
  EXPECT_EQ(server.requests(), 4);
  EXPECT_GE(server.connections(), 1 + 4);  // the probe, then one per request
}

// A connection the server closes while idle (its keep-alive timeout) after
// carrying requests is reopened at once, not after the reconnect pause: a
// request due within the pause waited it out, and its latency showed the
// pause (20 ms by default) instead of the server. Here the pause is longer
// than the run: every request is still sent and answered.
TEST(LoadGeneratorTest, AConnectionClosedIdleAfterCarryingRequestsIsReopenedAtOnce) {
  TestServer server({.idle_close_after = milliseconds(5)});
  LoadOptions o = Options(server.port(), 20, milliseconds(300));  // one every 50 ms
  o.connections = 1;
  o.reconnect_delay = std::chrono::seconds(60);
  o.timeout = std::chrono::seconds(2);
  absl::StatusOr<RunStats> stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->completed, 6u);
  EXPECT_EQ(stats->errors.requests(), 0u);
  EXPECT_EQ(stats->status_counts[200], 6u);
}

// A GET closed with no byte of answer on a connection that had carried an
// earlier one (a server closing an idle keep-alive connection as the request
// goes out) is sent once more, on another connection. One connection; the server answers its
// requests 0, 2, 4, ... and drops 1, 3, 5, ...: each scheduled request after the first is dropped
// on the reused connection, then answered on the new one.
TEST(LoadGeneratorTest, ARequestClosedUnansweredOnAReusedConnectionIsRetriedOnce) {
  TestServer server({.drop_every = 2});
  LoadOptions o = Options(server.port(), 100, milliseconds(100));
  o.connections = 1;
  absl::StatusOr<RunStats> stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->scheduled, 10u);
  EXPECT_EQ(stats->sent, 10u);
  EXPECT_EQ(stats->completed, 10u);
  EXPECT_EQ(stats->retried, 9u);
  EXPECT_EQ(stats->errors.requests(), 0u);
  EXPECT_EQ(server.requests(), 19);

  // Every request dropped: the first ones go out on new connections (not
  // retried), so nothing is retried and every request is an error.
  TestServer dropping({.drop_every = 1});
  o.port = dropping.port();
  stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->retried, 0u);
  EXPECT_EQ(stats->errors.closed, 10u);
}

TEST(LoadGeneratorTest, WarmupIsSentButNotRecorded) {
  TestServer server({});
  LoadOptions o = Options(server.port(), 100, milliseconds(300));
  o.warmup = milliseconds(200);
  absl::StatusOr<RunStats> stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->scheduled, 30u);
  EXPECT_EQ(stats->sent, 30u);
  EXPECT_EQ(stats->completed, 30u);
  EXPECT_EQ(stats->latencies.count(), 30u);
  EXPECT_EQ(server.requests(), 50);
}

TEST(LoadGeneratorTest, UnansweredRequestsTimeOut) {
  TestServer server({.never_answer = true});
  LoadOptions o = Options(server.port(), 100, milliseconds(100));
  o.connections = 2;
  o.timeout = milliseconds(100);
  absl::StatusOr<RunStats> stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->scheduled, 10u);
  EXPECT_EQ(stats->completed, 0u);
  EXPECT_EQ(stats->errors.timeout, 10u);
  // Requests 0 and 1 go out at once and time out 100 ms after their sends
  // (at >= 100 and 110 ms), each connection then carries at most one more
  // (in flight until >= 200 ms); the rest (due 20..90 ms) expire unsent at
  // 100 ms past their due times.
  EXPECT_GE(stats->errors.timeout_after_send(), 2u);
  EXPECT_LE(stats->errors.timeout_after_send(), 4u);
  EXPECT_GE(stats->errors.timeout_before_send, 6u);
  EXPECT_EQ(stats->sent, stats->errors.timeout_after_send());
  EXPECT_TRUE(stats->status_counts.empty());
  // Each counts in the latencies as at least the timeout (it was left out:
  // a p99 under the timeout, or none at all, for requests that all timed
  // out): exactly the timeout for those never sent, their wait for a
  // connection plus the timeout for the others.
  EXPECT_EQ(stats->latencies.count(), 10u);
  EXPECT_EQ(stats->latencies.Percentile(0.0), 100'000u);
  EXPECT_EQ(stats->latencies.Percentile(50.0), 100'000u);
  EXPECT_GE(stats->latencies.Percentile(99.0), 100'000u);
  EXPECT_TRUE(stats->latencies_ok.empty());
  EXPECT_TRUE(stats->latencies_non2xx.empty());
  // Each timeout reopens its connection.
  EXPECT_GE(server.connections(), 3);
}

TEST(LoadGeneratorTest, PostBodyAndExtraHeadersAreSent) {
  TestServer server({});
  LoadOptions o = Options(server.port(), 50, milliseconds(100));
  absl::StatusOr<std::string> request =
      BuildRequest({.method = "POST",
                    .host = "127.0.0.1",
                    .port = server.port(),
                    .path = "/echo",
                    .headers = {"X-Request-Budget-Ms: 50"},
                    .body = "ping"});
  ASSERT_TRUE(request.ok()) << request.status();
  o.request = *request;
  absl::StatusOr<RunStats> stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->completed, 5u);
  EXPECT_EQ(server.first_request(),
            "POST /echo HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(server.port()) +
                "\r\nUser-Agent: brisk-loadgen\r\nX-Request-Budget-Ms: 50\r\n"
                "Content-Length: 4\r\n\r\nping");
}

TEST(LoadGeneratorTest, RequestLargerThanTheDefaultBufferIsSentWhole) {
  TestServer server({});
  LoadOptions o = Options(server.port(), 20, milliseconds(100));
  absl::StatusOr<std::string> request =
      BuildRequest({.method = "POST", .port = server.port(), .path = "/echo",
                    .body = std::string(3 << 20, 'b')});
  ASSERT_TRUE(request.ok());
  o.request = *request;
  absl::StatusOr<RunStats> stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->completed, 2u);
  EXPECT_EQ(stats->errors.requests(), 0u);
  EXPECT_EQ(server.requests(), 2);
}

// An answer that comes while the body is still being sent: the connection
// is closed rather than reused (RFC 9112 §9.5); the next request went out
// on it, inside the body the server was still reading.
TEST(LoadGeneratorTest, AnAnswerBeforeTheBodyIsSentClosesTheConnection) {
  TestServer server({.answer_after_head = true});
  LoadOptions o = Options(server.port(), 20, milliseconds(200));
  o.connections = 1;
  absl::StatusOr<std::string> request =
      BuildRequest({.method = "POST", .port = server.port(), .path = "/up",
                    .body = std::string(8 << 20, 'b')});
  ASSERT_TRUE(request.ok());
  o.request = *request;
  o.timeout = std::chrono::seconds(5);
  absl::StatusOr<RunStats> stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->completed, 4u);
  EXPECT_EQ(server.corrupt_bodies(), 0);
  EXPECT_GE(server.connections(), 4);  // one per request: none was reused
}

TEST(LoadGeneratorTest, CannotConnectAtAll) {
  uint16_t port;
  {
    absl::StatusOr<net::Listener> l = net::Listener::Create("127.0.0.1", 0);
    ASSERT_TRUE(l.ok());
    port = l->port();
  }  // closed: nothing listens there now
  absl::StatusOr<RunStats> stats = RunLoad(Options(port, 100, milliseconds(100)));
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kUnavailable) << stats.status();
}

// A listener that never accepts, its accept queue (one place: backlog 0)
// already taken by `filler`: the kernel drops every further SYN, so a
// connect to it neither succeeds nor fails for minutes (SYN retries).
struct FullListener {
  FullListener() {
    absl::StatusOr<net::Listener> l = net::Listener::Create("127.0.0.1", 0, {.backlog = 0});
    EXPECT_TRUE(l.ok()) << l.status();
    listener = std::make_unique<net::Listener>(*std::move(l));
    absl::StatusOr<net::UniqueFd> c =
        net::Connect("127.0.0.1", listener->port(), /*non_blocking=*/false);
    EXPECT_TRUE(c.ok()) << c.status();
    filler = *std::move(c);
    // Queued on the listener's side too (its final ACK processed), so the
    // queue is full before anyone else connects.
    pollfd p{.fd = listener->fd(), .events = POLLIN, .revents = 0};
    EXPECT_EQ(poll(&p, 1, 10'000), 1);
  }
  std::unique_ptr<net::Listener> listener;
  net::UniqueFd filler;
};

TEST(LoadGeneratorTest, AProbeThatCannotConnectGivesUpAfterTheTimeout) {
  FullListener full;
  LoadOptions o = Options(full.listener->port(), 100, milliseconds(100));
  o.timeout = milliseconds(200);
  // A blocking probe waited out the kernel's SYN retries (over two minutes)
  // and this test its own timeout.
  absl::StatusOr<RunStats> stats = RunLoad(o);
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kUnavailable) << stats.status();
  EXPECT_NE(stats.status().message().find("no connection within the timeout"),
            std::string_view::npos)
      << stats.status();
}

TEST(LoadGeneratorTest, ConnectsThatNeverCompleteFailAfterTheTimeout) {
  // The probe takes the accept queue's one place (and is closed, but stays
  // queued, as nothing accepts); every pool connection then hangs.
  absl::StatusOr<net::Listener> l = net::Listener::Create("127.0.0.1", 0, {.backlog = 0});
  ASSERT_TRUE(l.ok()) << l.status();
  LoadOptions o = Options(l->port(), 100, milliseconds(100));
  o.connections = 2;
  o.timeout = milliseconds(100);
  o.reconnect_delay = milliseconds(10);
  absl::StatusOr<RunStats> stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  // Each connect fails at 100 ms and is retried: without a connect timeout
  // the pool sat in connect() for the whole run and no error was counted.
  EXPECT_GE(stats->errors.connect, 2u);
  EXPECT_EQ(stats->scheduled, 10u);
  EXPECT_EQ(stats->completed, 0u);
  EXPECT_EQ(stats->errors.timeout, 10u);
}

TEST(LoadGeneratorTest, RejectsBadOptions) {
  LoadOptions o = Options(1, 100, milliseconds(100));
  o.rate = 0;
  EXPECT_EQ(RunLoad(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = Options(1, 100, milliseconds(100));
  o.connections = 0;
  EXPECT_EQ(RunLoad(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = Options(1, 100, milliseconds(0));
  EXPECT_EQ(RunLoad(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = Options(1, 100, milliseconds(100));
  o.host = "not-an-address";
  EXPECT_EQ(RunLoad(o).status().code(), absl::StatusCode::kInvalidArgument);
}

// Durations the loop's clock cannot count to are refused, before any
// connection: --timeout=inf (nanoseconds::max()) overflowed the timeout
// timer's due time into the past, so every request timed out at once
// (a run against a healthy server reported "timeout 100, completed 0");
// --duration=inf and --warmup=inf overflowed the run's end, which stopped
// the run at once with nonsense counts ("scheduled 18446743151372347930").
TEST(LoadGeneratorTest, RejectsDurationsPastAYear) {
  const net::Duration kYear = std::chrono::hours(24 * 365);
  const net::Duration kForever = net::Duration::max();
  for (net::Duration d : {kForever, kYear + std::chrono::seconds(1)}) {
    LoadOptions o = Options(1, 100, milliseconds(100));
    o.timeout = d;
    EXPECT_EQ(RunLoad(o).status().code(), absl::StatusCode::kInvalidArgument);
    o = Options(1, 100, milliseconds(100));
    o.duration = d;
    EXPECT_EQ(RunLoad(o).status().code(), absl::StatusCode::kInvalidArgument);
    o = Options(1, 100, milliseconds(100));
    o.warmup = d;
    EXPECT_EQ(RunLoad(o).status().code(), absl::StatusCode::kInvalidArgument);
  }
  // A year of timeout is still a timeout that never comes in a short run.
  TestServer server({});
  LoadOptions o = Options(server.port(), 200, milliseconds(100));
  o.timeout = kYear;
  absl::StatusOr<RunStats> stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->completed, 20u);
  EXPECT_EQ(stats->errors.timeout, 0u);
}

// "GET /a?b HTTP/1.1..." -> "/a?b".
std::string TargetOf(const std::string& request) {
  size_t start = request.find(' ') + 1;
  return request.substr(start, request.find(' ', start) - start);
}

std::string Response(int status) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 2\r\n\r\nok";
}

// A request that waited for a connection still gets the whole timeout once
// sent. One connection; the server takes 600 ms over each of two requests
// due 10 ms apart. The second waits ~590 ms for the connection, then is
// answered 600 ms after its send: 1.2 s after it was due. With the timeout
// counted from the scheduled time (1 s) it went out with ~400 ms left and
// timed out in flight, its answer thrown away with the connection (under
// overload past --timeout, every request did: goodput halved). (Margins of
// 400 ms either way; the sleeps are lower bounds.)
TEST(LoadGeneratorTest, WaitingForAConnectionDoesNotShortenTheTimeoutAfterSending) {
  TestServer server({.handler = [](const std::string&) {
    std::this_thread::sleep_for(milliseconds(600));
    return Response(200);
  }});
  LoadOptions o = Options(server.port(), 100, milliseconds(20));
  o.connections = 1;
  o.timeout = std::chrono::seconds(1);
  absl::StatusOr<RunStats> stats = RunLoad(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->scheduled, 2u);
  EXPECT_EQ(stats->completed, 2u);
  EXPECT_EQ(stats->errors.timeout, 0u);
  EXPECT_EQ(stats->errors.timeout_before_send, 0u);
  EXPECT_EQ(server.connections(), 1 + 1);         // the probe, then one, never reopened
  EXPECT_GE(stats->latencies.Max(), 1'190'000u);  // the second one, > --timeout
}

RequestClass Class(std::string name, uint16_t port, RequestSpec spec, uint64_t rate,
                   int connections) {
  spec.port = port;
  absl::StatusOr<std::string> request = BuildRequest(spec);
  EXPECT_TRUE(request.ok()) << request.status();
  return {.name = std::move(name),
          .request = request.value_or(""),
          .rate = rate,
          .connections = connections};
}

// What the mixed-class test server saw, by request target.
struct Seen {
  std::mutex mu;
  std::map<std::string, int> requests;            // guarded by mu
  std::map<std::string, int> with_budget_header;  // guarded by mu

  void Add(const std::string& request) {
    std::lock_guard<std::mutex> lock(mu);
    ++requests[TargetOf(request)];
    if (request.find("\r\nX-Request-Budget-Ms: 20\r\n") != std::string::npos) {
      ++with_budget_header[TargetOf(request)];
    }
  }
};

// Two classes at their own rates in one run, split over two loops: a slow
// route (answers 200 after 20 ms) and a POST route that refuses at once
// (503). Each class gets exactly rate x duration requests, its own statuses,
// its own headers and body, and the refusals' latencies apart from the 2xx.
TEST(LoadGeneratorTest, ClassesAreScheduledAndCountedSeparately) {
  Seen seen;
  TestServer server({.handler = [&](const std::string& request) {
    seen.Add(request);
    if (TargetOf(request) == "/slow") {
      std::this_thread::sleep_for(milliseconds(20));
      return Response(200);
    }
    return Response(request.find("\r\n\r\n{\"x\":1}") != std::string::npos ? 503 : 400);
  }});
  LoadOptions o = Options(server.port(), 1, milliseconds(500));
  o.threads = 2;
  o.classes = {
      Class("slow", server.port(), {.path = "/slow"}, 40, 4),
      Class("refused", server.port(),
            {.method = "POST",
             .path = "/refuse",
             .headers = {"X-Request-Budget-Ms: 20"},
             .body = "{\"x\":1}"},
            200, 3),
  };
  absl::StatusOr<std::vector<RunStats>> stats = RunLoadByClass(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->size(), 2u);
  RunStats& slow = (*stats)[0];
  RunStats& refused = (*stats)[1];

  EXPECT_EQ(slow.scheduled, 20u);  // 40/s x 0.5 s
  EXPECT_EQ(slow.sent, 20u);
  EXPECT_EQ(slow.completed, 20u);
  EXPECT_EQ(slow.status_counts, (std::map<int, uint64_t>{{200, 20}}));
  EXPECT_EQ(slow.latencies.count(), 20u);
  EXPECT_EQ(slow.latencies_ok.count(), 20u);
  EXPECT_TRUE(slow.latencies_non2xx.empty());
  EXPECT_EQ(slow.errors.requests() + slow.errors.connect, 0u);

  EXPECT_EQ(refused.scheduled, 100u);  // 200/s x 0.5 s
  EXPECT_EQ(refused.sent, 100u);
  EXPECT_EQ(refused.completed, 100u);
  EXPECT_EQ(refused.status_counts, (std::map<int, uint64_t>{{503, 100}}));
  EXPECT_EQ(refused.latencies.count(), 100u);
  EXPECT_TRUE(refused.latencies_ok.empty());
  EXPECT_EQ(refused.latencies_non2xx.count(), 100u);
  EXPECT_EQ(refused.errors.requests() + refused.errors.connect, 0u);

  std::lock_guard<std::mutex> lock(seen.mu);
  EXPECT_EQ(seen.requests, (std::map<std::string, int>{{"/refuse", 100}, {"/slow", 20}}));
  // The header went with its own class only.
  EXPECT_EQ(seen.with_budget_header, (std::map<std::string, int>{{"/refuse", 100}}));
  // Both pools (4 + 3 connections, split over the loops) and the probe.
  EXPECT_EQ(server.connections(), 1 + 4 + 3);
}

// Each class has its own connections: a slow class whose requests are held
// by the server does not keep the other class's requests from being sent.
// The server holds every /slow request until all /fast ones have arrived;
// over a shared pool of two connections, the slow requests would take both
// and the fast ones could not arrive until the hold gave up.
TEST(LoadGeneratorTest, ClassesDoNotWaitForEachOthersConnections) {
  constexpr int kFast = 50;  // 100/s x 0.5 s
  std::mutex mu;
  std::condition_variable cv;
  int fast_seen = 0;          // guarded by mu
  bool hold_gave_up = false;  // guarded by mu
  TestServer server({.handler = [&](const std::string& request) {
    std::unique_lock<std::mutex> lock(mu);
    if (TargetOf(request) == "/fast") {
      ++fast_seen;
      cv.notify_all();
    } else if (!cv.wait_for(lock, std::chrono::seconds(10),
                            [&] { return fast_seen == kFast; })) {
      hold_gave_up = true;
    }
    return Response(200);
  }});
  LoadOptions o = Options(server.port(), 1, milliseconds(500));
  o.timeout = std::chrono::seconds(20);
  o.classes = {Class("slow", server.port(), {.path = "/slow"}, 20, 1),
               Class("fast", server.port(), {.path = "/fast"}, 100, 1)};
  absl::StatusOr<std::vector<RunStats>> stats = RunLoadByClass(o);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ((*stats)[0].status_counts, (std::map<int, uint64_t>{{200, 10}}));
  EXPECT_EQ((*stats)[1].status_counts, (std::map<int, uint64_t>{{200, kFast}}));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(fast_seen, kFast);
  EXPECT_FALSE(hold_gave_up);
}

TEST(LoadGeneratorTest, RejectsBadClasses) {
  LoadOptions o = Options(1, 100, milliseconds(100));
  o.classes = {{.name = "a", .request = o.request, .rate = 0}};
  EXPECT_EQ(RunLoadByClass(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.classes = {{.name = "a", .request = o.request, .rate = 10, .connections = -1}};
  EXPECT_EQ(RunLoadByClass(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.classes = {{.name = "a", .request = "", .rate = 10}};
  EXPECT_EQ(RunLoadByClass(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BuildRequestTest, GetHeadAndInvalidInput) {
  absl::StatusOr<std::string> get =
      BuildRequest({.method = "GET", .host = "::1", .port = 80, .path = "/a?b=c"});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(*get, "GET /a?b=c HTTP/1.1\r\nHost: [::1]:80\r\nUser-Agent: brisk-loadgen\r\n\r\n");
  EXPECT_FALSE(BuildRequest({.method = "G T"}).ok());
  EXPECT_FALSE(BuildRequest({.path = "/a b"}).ok());
  EXPECT_FALSE(BuildRequest({.path = ""}).ok());
  // Not a request target: it went out as "GET nope HTTP/1.1".
  EXPECT_NE(BuildRequest({.path = "nope"}).status().message().find("bad path: 'nope'"),
            std::string::npos);
  EXPECT_FALSE(BuildRequest({.method = "GET", .path = "*"}).ok());
  EXPECT_TRUE(BuildRequest({.method = "OPTIONS", .path = "*"}).ok());
  EXPECT_TRUE(BuildRequest({.method = "GET", .path = "http://example.test/x"}).ok());
  EXPECT_FALSE(BuildRequest({.method = "GET", .path = "https://example.test/x"}).ok());
  // The absolute-form's Host is its own authority (RFC 9112 §3.2.2); it
  // was the address connected to.
  absl::StatusOr<std::string> absolute = BuildRequest(
      {.method = "GET", .host = "127.0.0.1", .port = 8080, .path = "http://example.test:81?q"});
  ASSERT_TRUE(absolute.ok());
  EXPECT_EQ(*absolute,
            "GET http://example.test:81?q HTTP/1.1\r\nHost: example.test:81\r\n"
            "User-Agent: brisk-loadgen\r\n\r\n");
  EXPECT_FALSE(BuildRequest({.method = "GET", .path = "http:///x"}).ok());
  EXPECT_FALSE(BuildRequest({.method = "GET", .path = "http://u@example.test/x"}).ok());
  EXPECT_FALSE(BuildRequest({.headers = {"NoColon"}}).ok());
  EXPECT_FALSE(BuildRequest({.headers = {"X: a\r\nInjected: 1"}}).ok());
  absl::StatusOr<std::string> explicit_length = BuildRequest(
      {.method = "POST", .headers = {"content-length: 0"}});
  ASSERT_TRUE(explicit_length.ok());
  EXPECT_EQ(explicit_length->find("Content-Length"), std::string::npos);
}

// A Host given with --header replaces the default one, in its place (it was
// sent as a second Host: every answer a 400, RFC 9112 §3.2).
TEST(BuildRequestTest, AGivenHostReplacesTheDefaultOne) {
  absl::StatusOr<std::string> request = BuildRequest(
      {.port = 8080, .path = "/a", .headers = {"X-A: 1", "host: example.test:80", "X-B: 2"}});
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(*request,
            "GET /a HTTP/1.1\r\nhost: example.test:80\r\nUser-Agent: brisk-loadgen\r\n"
            "X-A: 1\r\nX-B: 2\r\n\r\n");
  // Two are refused rather than sent (e.g. one from --header, one from a
  // class's header=).
  EXPECT_EQ(BuildRequest({.headers = {"Host: a", "HOST: b"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SplitHeadersTest, CommasSeparateHeadersButNotValues) {
  EXPECT_EQ(SplitHeaders({"A: 1, B: x,y", "C: 2"}),
            (std::vector<std::string>{"A: 1", "B: x,y", "C: 2"}));
  EXPECT_EQ(SplitHeaders({"Accept: text/html, application/json"}),
            (std::vector<std::string>{"Accept: text/html, application/json"}));
  EXPECT_TRUE(SplitHeaders({}).empty());
}

}  // namespace
}  // namespace brisk::loadgen
