// Batch routes end to end: requests grouped into batches while the worker
// is busy, each answered with its own response; per-request errors; a bad
// batch answering its own members 500 and nothing else; members that can
// no longer make their deadline removed before the batch runs; a lone
// request not waiting for company; the fixed-delay policy; metrics.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <thread>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/http_server.h"
#include "server/testing/gate.h"
#include "server/testing/raw_client.h"
#include "server/testing/test_io.h"

namespace brisk {
namespace {

using ::brisk::testing::Eventually;
using ::brisk::testing::Get;
using ::brisk::testing::RawClient;
using ::testing::HasSubstr;
using std::chrono::milliseconds;

class BatchTest : public ::testing::Test {
 protected:
  void Start(BatchOptions batch, ServerOptions o = {}) {
    o.address = "127.0.0.1";
    o.port = 0;
    o.io = ::brisk::testing::TestIoBackend();  // epoll, or io_uring
    o.handle_signals = false;
    o.workers = 1;
    server_ = std::make_unique<HttpServer>(o);
    // Answers each request with its ?v= value; v=bad is a per-request 400,
    // v=throw breaks the whole batch, v=short returns too few responses.
    // The first batch waits for the test's go-ahead.
    ASSERT_TRUE(server_->AddBatchRoute("GET", "/score",
        [this](const std::vector<RequestContext*>& batch) {
          {
            std::unique_lock<std::mutex> lock(mu_);
            ++batches_;
            if (hold_first_ && batches_ == 1) {
              entered_ = true;
              cv_.notify_all();
              cv_.wait(lock, [this] { return released_; });
            }
            sizes_.push_back(batch.size());
            for (RequestContext* c : batch) seen_.push_back(c->Query("v").value_or(""));
          }
          std::vector<http::Response> out;
          for (RequestContext* c : batch) {
            const std::string v = c->Query("v").value_or("");
            if (v == "throw") throw std::runtime_error("model crashed");
            if (v == "short") return std::vector<http::Response>{};
            out.push_back(v == "bad" ? http::Response::Text(400, "bad row\n")
                                     : http::Response::Text(200, "score " + v + "\n"));
          }
          return out;
        },
        batch, {.deadline = std::chrono::seconds(60)}).ok());
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override {
    Release();
    if (server_) server_->Stop();
  }
  bool WaitEntered() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [this] { return entered_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  uint16_t port() const { return server_->port(); }
  std::vector<size_t> sizes() {
    std::lock_guard<std::mutex> lock(mu_);
    return sizes_;
  }
  std::vector<std::string> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_first_ = true;
  bool entered_ = false;
  bool released_ = false;
  int batches_ = 0;
  std::vector<size_t> sizes_;
  std::vector<std::string> seen_;
  std::unique_ptr<HttpServer> server_;
};

std::string WithBudget(const std::string& target, int ms) {
  return "GET " + target + " HTTP/1.1\r\nHost: t\r\nX-Request-Budget-Ms: " +
         std::to_string(ms) + "\r\n\r\n";
}

TEST_F(BatchTest, ABatchRouteHasItsHistogramsFromTheFirstScrape) {
  // A scrape before any batch shows the batch route's series at zero
  // (rate() needs the series to exist before its first sample); no other
  // route has one.
  Start({.max_batch = 16}, {.metrics_path = "/metrics"});
  std::string page;
  server_->metrics().AppendPrometheus(&page);
  EXPECT_THAT(page, HasSubstr("brisk_batch_size_bucket{route=\"/score\",le=\"+Inf\"} 0\n"));
  EXPECT_THAT(page, HasSubstr("brisk_batch_size_count{route=\"/score\"} 0\n"));
  EXPECT_THAT(page, HasSubstr("brisk_batch_wait_seconds_count{route=\"/score\"} 0\n"));
  size_t series = 0;
  for (size_t at = page.find("brisk_batch_size_count{"); at != std::string::npos;
       at = page.find("brisk_batch_size_count{", at + 1)) {
    ++series;
  }
  EXPECT_EQ(series, 1u);
}

TEST_F(BatchTest, RequestsArrivingWhileTheWorkerIsBusyFormOneBatch) {
  Start({.max_batch = 16});
  RawClient first(port());
  ASSERT_TRUE(first.Send(Get("/score?v=0")));
  ASSERT_TRUE(WaitEntered());  // the only worker holds batch 1
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 1; i <= 6; ++i) {
    clients.push_back(std::make_unique<RawClient>(port()));
    ASSERT_TRUE(clients.back()->Send(Get("/score?v=" + std::to_string(i))));
  }
  ASSERT_TRUE(Eventually([&] { return server_->metrics().queue_depth.load() == 6; }));
  Release();
  EXPECT_EQ(first.Read()->body, "score 0\n");
  for (int i = 1; i <= 6; ++i) {  // each gets its own answer
    auto r = clients[i - 1]->Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "score " + std::to_string(i) + "\n");
  }
  EXPECT_THAT(sizes(), ::testing::ElementsAre(1, 6));
  std::string page;
  server_->metrics().AppendPrometheus(&page);
  EXPECT_THAT(page, HasSubstr("brisk_batch_size_bucket{route=\"/score\",le=\"8\"} 2\n"));
  EXPECT_THAT(page, HasSubstr("brisk_batch_size_sum{route=\"/score\"} 7\n"));
  EXPECT_THAT(page, HasSubstr("brisk_batch_cost_seconds{route=\"/score\",term=\"fixed\"}"));
  EXPECT_THAT(page, HasSubstr("brisk_batch_wait_seconds_count{route=\"/score\"} 2\n"));
}

TEST_F(BatchTest, PerRequestErrorsAndABadBatchAnswersOnlyItsMembers) {
  Start({.max_batch = 16});
  RawClient first(port());
  ASSERT_TRUE(first.Send(Get("/score?v=0")));
  ASSERT_TRUE(WaitEntered());
  // Batch 2: a per-request error beside good rows.
  RawClient good(port()), bad(port());
  ASSERT_TRUE(good.Send(Get("/score?v=7")));
  ASSERT_TRUE(bad.Send(Get("/score?v=bad")));
  ASSERT_TRUE(Eventually([&] { return server_->metrics().queue_depth.load() == 2; }));
  Release();
  EXPECT_EQ(first.Read()->status, 200);
  EXPECT_EQ(good.Read()->status, 200);
  EXPECT_EQ(bad.Read()->status, 400);
  // A batch whose handler throws: its member gets 500...
  RawClient thrower(port());
  ASSERT_TRUE(thrower.Send(Get("/score?v=throw")));
  EXPECT_EQ(thrower.Read()->status, 500);
  // ...and one that returns the wrong number of responses too...
  RawClient short_batch(port());
  ASSERT_TRUE(short_batch.Send(Get("/score?v=short")));
  EXPECT_EQ(short_batch.Read()->status, 500);
  // ...and nothing else is disturbed.
  RawClient after(port());
  ASSERT_TRUE(after.Send(Get("/score?v=9")));
  EXPECT_EQ(after.Read()->body, "score 9\n");
  // Both failures are counted: the throw and the wrong number of answers.
  EXPECT_EQ(server_->metrics().handler_exceptions.load(), 2u);
}

// A batch of several members whose handler throws answers each of them
// 500, and no other batch: the one before it and the one after it are
// answered by the handler (acceptance review: the test above had a
// one-member throwing batch only).
TEST_F(BatchTest, AThrowingBatchAnswersEachOfItsMembers500AndNoOtherBatch) {
  Start({.max_batch = 16});
  RawClient first(port());
  ASSERT_TRUE(first.Send(Get("/score?v=0")));
  ASSERT_TRUE(WaitEntered());
  // Batch 2 forms behind the held one: two good rows and the breaking one.
  RawClient a(port()), thrower(port()), b(port());
  ASSERT_TRUE(a.Send(Get("/score?v=1")));
  ASSERT_TRUE(thrower.Send(Get("/score?v=throw")));
  ASSERT_TRUE(b.Send(Get("/score?v=2")));
  ASSERT_TRUE(Eventually([&] { return server_->metrics().queue_depth.load() == 3; }));
  Release();
  auto r = first.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "score 0\n");
  for (RawClient* c : {&a, &thrower, &b}) {
    auto m = c->Read();
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->status, 500);
  }
  RawClient after(port());
  ASSERT_TRUE(after.Send(Get("/score?v=3")));
  r = after.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "score 3\n");
  EXPECT_THAT(sizes(), ::testing::ElementsAre(1u, 3u, 1u));
  EXPECT_EQ(server_->metrics().handler_exceptions.load(), 1u);
}

// A batch that runs past its members' deadline: each member is answered
// 503 at its deadline while the batch still runs, and the batch's results,
// when they come, are dropped (counted), never written after the 503.
TEST_F(BatchTest, ABatchPastItsMembersDeadlineIsAnswered503AndItsResultsDropped) {
  Start({.max_batch = 16});
  RawClient late(port());
  ASSERT_TRUE(late.Send(WithBudget("/score?v=late", 200)));
  ASSERT_TRUE(WaitEntered());  // the batch runs, held past the deadline
  auto r = late.Read();        // comes at the deadline, the batch still held
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 503);
  EXPECT_THAT(r->body, HasSubstr("deadline"));
  EXPECT_EQ(server_->metrics().late_results_dropped.load(), 0u);
  Release();
  EXPECT_TRUE(Eventually([&] { return server_->metrics().late_results_dropped.load() == 1; }));
  // Nothing more reaches the client (its connection stays usable).
  ASSERT_TRUE(late.Send(Get("/score?v=next")));
  r = late.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "score next\n");
  EXPECT_EQ(server_->metrics().deadline_exceeded.load(), 1u);
}

TEST_F(BatchTest, MembersThatCannotMakeTheirDeadlineAreRemovedBeforeTheBatch) {
  // The model is known to cost ~50 ms a batch.
  Start({.max_batch = 16, .expected_fixed_cost = milliseconds(50)});
  RawClient first(port());
  ASSERT_TRUE(first.Send(Get("/score?v=0")));
  ASSERT_TRUE(WaitEntered());
  RawClient roomy(port()), tight(port());
  ASSERT_TRUE(roomy.Send(Get("/score?v=roomy")));
  // Admitted with 200 ms (a 50 ms batch after the running one)...
  ASSERT_TRUE(tight.Send(WithBudget("/score?v=tight", 200)));
  ASSERT_TRUE(Eventually([&] { return server_->metrics().queue_depth.load() == 2; }));
  // ...but the running batch takes 300 ms: too late for it.
  std::this_thread::sleep_for(milliseconds(300));
  Release();
  EXPECT_EQ(first.Read()->status, 200);
  auto t = tight.Read();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->status, 503);  // refused, never given to the handler
  EXPECT_EQ(roomy.Read()->status, 200);
  EXPECT_THAT(seen(), ::testing::Not(::testing::Contains("tight")));
}

TEST_F(BatchTest, ALoneRequestDoesNotWaitForCompanyItWillNotGet) {
  hold_first_ = false;
  // Deadline-aware, no cap, a 60 s deadline: if it waited for company or
  // for its deadline, the client's 20 s guard would run out first.
  Start({.max_batch = 32, .expected_fixed_cost = std::chrono::microseconds(10)});
  RawClient c(port());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.Send(Get("/score?v=" + std::to_string(i))));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value()) << i;
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_THAT(sizes(), ::testing::Each(1u));
}

TEST_F(BatchTest, FixedDelayPolicyWaitsForCompany) {
  hold_first_ = false;
  Start({.policy = BatchOptions::Policy::kFixed,
         .max_batch = 32,
         .max_delay = milliseconds(100)});
  RawClient c(port());
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.Send(Get("/score?v=1")));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  // Triton's rule: a lone request waits out max_delay.
  EXPECT_GE(std::chrono::steady_clock::now() - sent, milliseconds(100));
}

// A full batch that waits for the busy worker leaves a member behind when
// it is taken (max_batch 2, three waiting). That member must still go at
// its own close time: the waker, which skipped the full batch when it last
// planned (a worker would take it), plans again once the batch is taken.
// Before, it slept on, and the member waited for its 60 s deadline.
TEST_F(BatchTest, AMemberLeftBehindByAFullBatchGoesAtItsOwnCloseTime) {
  Start({.policy = BatchOptions::Policy::kFixed,
         .max_batch = 2,
         .max_delay = milliseconds(50)});
  RawClient first(port());
  ASSERT_TRUE(first.Send(Get("/score?v=0")));
  ASSERT_TRUE(WaitEntered());  // the only worker holds batch 1
  RawClient a(port()), b(port());
  ASSERT_TRUE(a.Send(Get("/score?v=a")));
  ASSERT_TRUE(Eventually([&] { return server_->metrics().queue_depth.load() == 1; }));
  ASSERT_TRUE(b.Send(Get("/score?v=b")));  // a full batch, the worker busy
  ASSERT_TRUE(Eventually([&] { return server_->metrics().queue_depth.load() == 2; }));
  // Past a's close time: the waker wakes, finds the batch full and ready
  // for the next free worker, and has nothing else to plan for.
  std::this_thread::sleep_for(milliseconds(150));
  RawClient c(port());
  ASSERT_TRUE(c.Send(Get("/score?v=c")));
  ASSERT_TRUE(Eventually([&] { return server_->metrics().queue_depth.load() == 3; }));
  Release();
  EXPECT_EQ(first.Read()->status, 200);
  EXPECT_EQ(a.Read()->body, "score a\n");
  EXPECT_EQ(b.Read()->body, "score b\n");
  auto r = c.Read();  // within the client's 20 s guard, not at 60 s
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "score c\n");
  EXPECT_THAT(sizes(), ::testing::ElementsAre(1, 2, 1));
}

TEST(BatchRouteSetupTest, NeedsDeadlineAdmissionAndAValidPolicy) {
  HttpServer codel({.admission = ServerOptions::Admission::kCodel});
  auto handler = [](const std::vector<RequestContext*>& b) {
    return std::vector<http::Response>(b.size(), http::Response::Text(200, ""));
  };
  EXPECT_EQ(codel.AddBatchRoute("POST", "/b", handler, {}).code(),
            absl::StatusCode::kFailedPrecondition);  // as http_server.h says
  HttpServer server({});
  EXPECT_FALSE(server.AddBatchRoute("POST", "/b", handler,
                                    {.policy = BatchOptions::Policy::kFixed}).ok());
  EXPECT_FALSE(server.AddBatchRoute("POST", "/b", handler, {.max_batch = 0}).ok());
  // A negative max_delay is a mistake, not "no cap" (kDeadline) or "1 ms"
  // (fraud_server's kFixed default).
  for (BatchOptions::Policy policy :
       {BatchOptions::Policy::kDeadline, BatchOptions::Policy::kFixed}) {
    EXPECT_FALSE(server.AddBatchRoute("POST", "/b", handler,
                                      {.policy = policy,
                                       .max_delay = -std::chrono::milliseconds(1)})
                     .ok());
  }
  // A policy value outside the enum was served as kDeadline (review).
  EXPECT_EQ(
      server.AddBatchRoute("POST", "/b", handler, {.policy = static_cast<BatchOptions::Policy>(7)})
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(server.AddBatchRoute("POST", "/b", handler, {}).ok());
  // After Start: refused, in words that name AddBatchRoute too (it said
  // "AddRoute after Start").
  HttpServer started({.address = "127.0.0.1", .port = 0, .handle_signals = false});
  ASSERT_TRUE(started.Start().ok());
  const absl::Status late = started.AddBatchRoute("POST", "/b", handler, {});
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(late.message().find("AddBatchRoute"), std::string_view::npos) << late;
  started.Stop();
}

}  // namespace
}  // namespace brisk
