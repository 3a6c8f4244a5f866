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

// An answer after the deadline, before the reactor's timer gave the 503,
// then the Responder let go: one late result, no dropped Responder (it was
// counted as both).
TEST(ExchangeTest, ALateAnswerThenItsProducerGoneIsNoDroppedResponder) {
  auto metrics = std::make_shared<ServerMetrics>(std::vector<std::string>{"/r"});
  auto e = MakeExchange(std::chrono::steady_clock::now() - milliseconds(1), metrics);
  EXPECT_FALSE(e->Answer(http::Response::Text(200, "late\n")));
  e->Abandon();
  EXPECT_EQ(metrics->late_results_dropped.load(), 1u);
  EXPECT_EQ(metrics->responders_dropped.load(), 0u);
  EXPECT_TRUE(e->Expire());  // the timer's 503 is still owed
}

// A worker starts a handler only on an exchange nothing settled: not after
// the deadline's 503, a disconnect or a late answer; once started, a 503
// at the deadline is a handler too slow (started() true).
TEST(ExchangeTest, AWorkerStartsOnlyWhatNothingSettled) {
  auto metrics = std::make_shared<ServerMetrics>(std::vector<std::string>{"/r"});
  const SteadyTime later = std::chrono::steady_clock::now() + std::chrono::hours(1);
  auto expired = MakeExchange(later, metrics);
  ASSERT_TRUE(expired->Expire());
  EXPECT_FALSE(expired->TryStart());
  EXPECT_FALSE(expired->started());
  auto gone = MakeExchange(later, metrics);
  gone->Unbind();
  EXPECT_FALSE(gone->TryStart());
  auto late = MakeExchange(std::chrono::steady_clock::now() - milliseconds(1), metrics);
  EXPECT_FALSE(late->Answer(http::Response::Text(200, "late\n")));
  EXPECT_FALSE(late->TryStart());
  auto running = MakeExchange(later, metrics);
  EXPECT_TRUE(running->TryStart());
  EXPECT_TRUE(running->Expire());
  EXPECT_TRUE(running->started());
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

std::shared_ptr<Exchange> MakeStream(size_t limit, std::shared_ptr<ServerMetrics> metrics) {
  return std::make_shared<Exchange>(
      http::Request(), std::vector<std::pair<std::string, std::string>>{},
      std::chrono::steady_clock::now(), SteadyTime::max(), 0, nullptr, nullptr, std::move(metrics),
      ExchangeOptions{.stream_buffer_limit = limit});
}

// A producer that ignores Write()'s "full" may write 4x the limit more and
// is then cut off (memory stays bounded for a slow client); a large piece
// into a buffer with room is taken whole, and room made resets the count.
TEST(ExchangeTest, WritingOnFarPastFullCutsTheStreamOff) {
  auto metrics = std::make_shared<ServerMetrics>(std::vector<std::string>{"/r"});
  auto e = MakeStream(100, metrics);
  ASSERT_TRUE(e->BeginStream(http::Response::Text(200, "")));
  EXPECT_FALSE(e->Write(std::string(350, 'a')));  // had room: taken, now full
  EXPECT_FALSE(e->Write(std::string(400, 'b')));  // 4x the limit after "full"
  EXPECT_FALSE(e->closed());
  EXPECT_EQ(metrics->stream_overruns.load(), 0u);
  EXPECT_FALSE(e->Write("c"));  // one byte more: cut off
  EXPECT_TRUE(e->closed());
  EXPECT_EQ(metrics->stream_overruns.load(), 1u);
  EXPECT_FALSE(e->Write("d"));
  EXPECT_FALSE(e->WaitWritable(std::chrono::hours(1)));  // at once: closed
  ASSERT_TRUE(e->HasUpdate());
  const ExchangeUpdate update = e->TakeUpdate();
  EXPECT_TRUE(update.cut_off);
  EXPECT_FALSE(update.finished);
  EXPECT_EQ(update.body, std::string(350, 'a') + std::string(400, 'b'));
  e->Finish();  // nothing more: the stream is over
  EXPECT_FALSE(e->HasUpdate());
  EXPECT_EQ(metrics->stream_overruns.load(), 1u);
}

// Bytes of earlier answers still unsent on the connection make a stream
// "full" at once, but a producer that waits is never cut off for them; nor
// one that wrote on a while and then got room.
TEST(ExchangeTest, AStreamBehindABacklogIsToldFullNotCutOff) {
  auto metrics = std::make_shared<ServerMetrics>(std::vector<std::string>{"/r"});
  auto e = MakeStream(100, metrics);
  ASSERT_TRUE(e->BeginStream(http::Response::Text(200, "")));
  e->SetUnsent(100000);  // 1000x the limit, the answers before it
  EXPECT_FALSE(e->Write(std::string(1000, 'a')));
  EXPECT_FALSE(e->closed());
  EXPECT_FALSE(e->Write(std::string(300, 'b')));  // within the allowance
  EXPECT_FALSE(e->closed());
  e->TakeUpdate();  // the connection took the pieces...
  e->SetUnsent(0);  // ...and the client read everything: room
  EXPECT_TRUE(e->WaitWritable(std::chrono::nanoseconds(0)));
  EXPECT_FALSE(e->Write(std::string(150, 'c')));  // full again
  EXPECT_FALSE(e->Write(std::string(400, 'd')));  // a new allowance
  EXPECT_FALSE(e->closed());
  EXPECT_EQ(metrics->stream_overruns.load(), 0u);
}

}  // namespace
}  // namespace brisk::internal
