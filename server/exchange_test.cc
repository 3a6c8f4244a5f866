// The exchange's first-answer-wins rule and what it counts as a late
// result: a handler's answer that came after the deadline (its work was
// wasted), never the server's own refusal of a request no handler took.
// Deadlines are set in the past or far ahead of the steady clock the
// exchange reads: no sleeps.
#include "server/exchange.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "server/metrics.h"

namespace brisk::internal {
namespace {

using std::chrono::milliseconds;

std::shared_ptr<Exchange> MakeExchange(SteadyTime deadline,
                                       std::shared_ptr<ServerMetrics> metrics) {
  const SteadyTime now = std::chrono::steady_clock::now();
  return std::make_shared<Exchange>(
      http::Request(), std::vector<std::pair<std::string, std::string>>{},
      std::min(now, deadline), deadline, 0, nullptr, nullptr, std::move(metrics));
}

TEST(ExchangeTest, AHandlersAnswerAfterTheDeadlineIsALateResult) {
  auto metrics = std::make_shared<ServerMetrics>(std::vector<std::string>{"/r"});
  auto e = MakeExchange(std::chrono::steady_clock::now() - milliseconds(1), metrics);
  EXPECT_FALSE(e->Answer(http::Response::Text(200, "late\n")));
  EXPECT_EQ(metrics->late_results_dropped.load(), 1u);
}

// A batch member whose deadline passed while it waited is refused when a
// worker takes its batch, possibly before the reactor's deadline timer has
// answered it: no handler ran, so nothing was wasted (fraud_server counted
// dozens of such "late results" with a 2 ms budget).
TEST(ExchangeTest, TheServersRefusalAfterTheDeadlineIsNoLateResult) {
  auto metrics = std::make_shared<ServerMetrics>(std::vector<std::string>{"/r"});
  auto e = MakeExchange(std::chrono::steady_clock::now() - milliseconds(1), metrics);
  EXPECT_FALSE(e->Refuse(http::Response::Text(503, "expired\n")));
  EXPECT_EQ(metrics->late_results_dropped.load(), 0u);
  // The deadline's own 503 still claims it.
  EXPECT_TRUE(e->Expire());
  EXPECT_FALSE(e->Refuse(http::Response::Text(503, "expired\n")));
  EXPECT_EQ(metrics->late_results_dropped.load(), 0u);
}

// A stream begun after the deadline, before the reactor's timer answered
// it: the producer sees it closed and cancelled at once. It looked open
// (closed() false, Write() false, OnWritable running its callback at once),
// so a pump that writes until full, then waits for writability, recursed
// until its stack overflowed.
TEST(ExchangeTest, AStreamRefusedAtItsDeadlineIsClosedForItsProducer) {
  auto metrics = std::make_shared<ServerMetrics>(std::vector<std::string>{"/r"});
  auto e = MakeExchange(std::chrono::steady_clock::now() - milliseconds(1), metrics);
  EXPECT_FALSE(e->BeginStream(http::Response::Text(200, "")));
  EXPECT_TRUE(e->closed());
  EXPECT_TRUE(e->cancelled());
  EXPECT_FALSE(e->Write("piece"));
  EXPECT_FALSE(e->WaitWritable(std::chrono::hours(1)));  // at once
  int pumps = 0;
  std::function<void()> pump = [&] {
    if (e->closed() || ++pumps > 3) return;
    e->OnWritable([&] { pump(); });
  };
  pump();
  EXPECT_EQ(pumps, 0);
  // The deadline's own 503 still claims it.
  EXPECT_TRUE(e->Expire());
  EXPECT_EQ(metrics->late_results_dropped.load(), 1u);
}

TEST(ExchangeTest, ARefusalInTimeIsTheAnswerAndAHandlerAfterItIsDropped) {
  auto metrics = std::make_shared<ServerMetrics>(std::vector<std::string>{"/r"});
  auto e = MakeExchange(std::chrono::steady_clock::now() + std::chrono::hours(1), metrics);
  EXPECT_TRUE(e->Refuse(http::Response::Text(503, "refused\n")));
  EXPECT_TRUE(e->HasUpdate());
  EXPECT_EQ(e->TakeUpdate().head->status, 503);
  EXPECT_FALSE(e->Answer(http::Response::Text(200, "second\n")));
  EXPECT_EQ(metrics->late_results_dropped.load(), 0u);
}

// A stream buffer limit at the top of size_t ("no limit") leaves a stream
// writable: its half, (limit + 1) / 2, wrapped around to 0, so a stream
// was never writable (WaitWritable false until its timeout, OnWritable
// callbacks never run).
TEST(ExchangeTest, AStreamBufferLimitAtTheTopOfSizeTIsWritable) {
  auto e = std::make_shared<Exchange>(
      http::Request(), std::vector<std::pair<std::string, std::string>>{},
      std::chrono::steady_clock::now(), SteadyTime::max(), 0, nullptr, nullptr, nullptr,
      ExchangeOptions{.stream_buffer_limit = std::numeric_limits<size_t>::max()});
  ASSERT_TRUE(e->BeginStream(http::Response::Text(200, "")));
  EXPECT_TRUE(e->Write("piece"));
  EXPECT_TRUE(e->WaitWritable(std::chrono::nanoseconds(0)));
  bool ran = false;
  e->OnWritable([&ran] { ran = true; });
  EXPECT_TRUE(ran);
}

// A producer that ignores Write()'s "full" buffers on until 4x the limit
// and is then cut off (memory stays bounded for a slow client); one large
// piece into a buffer below that is taken whole.
TEST(ExchangeTest, WritingOnFarPastTheLimitCutsTheStreamOff) {
  auto metrics = std::make_shared<ServerMetrics>(std::vector<std::string>{"/r"});
  auto e = std::make_shared<Exchange>(
      http::Request(), std::vector<std::pair<std::string, std::string>>{},
      std::chrono::steady_clock::now(), SteadyTime::max(), 0, nullptr, nullptr, metrics,
      ExchangeOptions{.stream_buffer_limit = 100});
  ASSERT_TRUE(e->BeginStream(http::Response::Text(200, "")));
  EXPECT_FALSE(e->Write(std::string(350, 'a')));  // over the limit, still taken
  EXPECT_FALSE(e->closed());
  EXPECT_FALSE(e->Write(std::string(49, 'b')));  // 399: below 4x
  EXPECT_FALSE(e->closed());
  EXPECT_FALSE(e->Write("c"));  // 400: taken, the ceiling reached
  EXPECT_FALSE(e->closed());
  EXPECT_EQ(metrics->stream_overruns.load(), 0u);
  EXPECT_FALSE(e->Write("d"));  // written on at the ceiling: cut off
  EXPECT_TRUE(e->closed());
  EXPECT_EQ(metrics->stream_overruns.load(), 1u);
  EXPECT_FALSE(e->Write("e"));
  ASSERT_TRUE(e->HasUpdate());
  const ExchangeUpdate update = e->TakeUpdate();
  EXPECT_TRUE(update.cut_off);
  EXPECT_FALSE(update.finished);
  EXPECT_EQ(update.body, std::string(350, 'a') + std::string(49, 'b') + "c");
  e->Finish();  // nothing more: the stream is over
  EXPECT_FALSE(e->HasUpdate());
}

}  // namespace
}  // namespace brisk::internal
