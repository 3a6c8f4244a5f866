// FakeRequest behaves as the server does where a handler can tell.
#include "server/testing/fake_request.h"

#include <chrono>
#include <memory>
#include <stdexcept>
#include <utility>

#include "gtest/gtest.h"
#include "http/response.h"
#include "server/sse.h"

namespace brisk::testing {
namespace {

TEST(FakeRequestTest, AClientBehindATrustedProxy) {
  const std::string raw =
      "GET / HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n";
  auto direct = FakeRequest::Parse(raw);
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ((*direct)->context().client_address(), "127.0.0.1");
  auto proxied = FakeRequest::Parse(
      raw, {.peer_address = "10.0.0.9", .trusted_proxies = "10.0.0.0/8"});
  ASSERT_TRUE(proxied.ok());
  EXPECT_EQ((*proxied)->context().client_address(), "203.0.113.7");
  EXPECT_EQ((*proxied)->context().peer_address(), "10.0.0.9");
  EXPECT_FALSE(FakeRequest::Parse(raw, {.trusted_proxies = "10.0.0.0/99"}).ok());
}

// Assigning onto an SseStream ends its stream cleanly, as its destructor
// does: the Responder's own assignment would cut it off.
TEST(FakeRequestTest, AnSseStreamAssignedOverFinishesItsStream) {
  auto first = FakeRequest::Get("/events");
  auto second = FakeRequest::Get("/events");
  SseStream sse(first->TakeResponder());
  EXPECT_TRUE(sse.Send("one"));
  sse = SseStream(second->TakeResponder());
  EXPECT_TRUE(first->finished());
  EXPECT_FALSE(first->cut_off());
  EXPECT_EQ(first->streamed_body(), "data: one\n\n");
  EXPECT_TRUE(sse.Send("two"));
  EXPECT_EQ(second->streamed_body(), "data: two\n\n");
}

// A handler that throws mid-stream cuts its event stream off (the client
// sees it incomplete, as for any stream whose handler failed); the
// SseStream's destructor used to finish it, so the failure looked like a
// complete stream.
TEST(FakeRequestTest, AnSseStreamUnwoundByAnExceptionIsCutOff) {
  auto req = FakeRequest::Get("/events");
  try {
    SseStream sse(req->TakeResponder());
    EXPECT_TRUE(sse.Send("one"));
    throw std::runtime_error("the feed broke");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(req->finished());
  EXPECT_TRUE(req->cut_off());
  EXPECT_EQ(req->streamed_body(), "data: one\n\n");
  // Destroyed normally (and moved from first), it finishes.
  auto ok = FakeRequest::Get("/events");
  {
    SseStream first(ok->TakeResponder());
    SseStream sse(std::move(first));
    EXPECT_TRUE(sse.Send("two"));
  }
  EXPECT_TRUE(ok->finished());
  EXPECT_FALSE(ok->cut_off());
}

// Parse() takes one request: a second one after it was silently ignored.
TEST(FakeRequestTest, ParseRefusesBytesAfterTheRequest) {
  const std::string one = "GET /a HTTP/1.1\r\nHost: t\r\n\r\n";
  EXPECT_TRUE(FakeRequest::Parse(one).ok());
  EXPECT_EQ(FakeRequest::Parse(one + one).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FakeRequest::Parse(one + "x").status().code(), absl::StatusCode::kInvalidArgument);
}

// 204 and 304 have no content: a stream begun with one is its head alone,
// and pieces written after it are refused, not taken and dropped.
TEST(FakeRequestTest, AStreamWithANoContentStatusTakesNoPieces) {
  for (int status : {204, 304}) {
    auto req = FakeRequest::Get("/x");
    Responder r = req->TakeResponder();
    ASSERT_TRUE(r.BeginStream(http::Response::Text(status, "")));
    EXPECT_FALSE(r.Write("piece")) << status;
    EXPECT_TRUE(r.closed()) << status;
    EXPECT_TRUE(req->answered());
    EXPECT_FALSE(req->streaming()) << status;
    EXPECT_EQ(req->response().status, status);
  }
}

TEST(FakeRequestTest, CancelClosesTheResponder) {
  auto req = FakeRequest::Get("/x");
  Responder r = req->TakeResponder();
  req->Cancel();
  EXPECT_TRUE(req->context().cancelled());
  EXPECT_TRUE(r.closed());
  EXPECT_FALSE(r.Send(http::Response::Text(200, "late")));
  EXPECT_FALSE(req->answered());
}

// A Responder outliving its FakeRequest stayed open: Send() returned true
// (the server answers false once it is gone) and a streaming handler
// looping on !closed() never stopped, hanging the test that dropped it.
TEST(FakeRequestTest, AResponderOutlivingItsFakeRequestIsClosed) {
  Responder r;
  {
    auto req = FakeRequest::Get("/x");
    r = req->TakeResponder();
  }
  EXPECT_TRUE(r.closed());
  EXPECT_TRUE(r.context().cancelled());
  EXPECT_FALSE(r.Send(http::Response::Text(200, "late")));
}

// The deadline acts as in the server: the handler's SleepFor() wakes at it,
// the request is cancelled, a late Send() is refused and the answer is the
// server's 503. (It used to be a number only: SleepFor() slept its whole
// time and nothing was answered.)
TEST(FakeRequestTest, TheDeadlineCancelsAndAnswers503) {
  auto req = FakeRequest::Get(
      "/x", {.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(20)});
  Responder r = req->TakeResponder();
  EXPECT_FALSE(req->context().SleepFor(std::chrono::seconds(60)));  // woken
  EXPECT_TRUE(req->context().cancelled());
  EXPECT_TRUE(r.closed());
  EXPECT_FALSE(r.Send(http::Response::Text(200, "late")));
  ASSERT_TRUE(req->answered());
  EXPECT_EQ(req->response().status, 503);
}

// An answer before the deadline wins, as in the server.
TEST(FakeRequestTest, AnAnswerBeforeTheDeadlineStands) {
  auto req = FakeRequest::Get(
      "/x", {.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60)});
  Responder r = req->TakeResponder();
  EXPECT_TRUE(r.Send(http::Response::Text(200, "in time")));
  ASSERT_TRUE(req->answered());
  EXPECT_EQ(req->response().status, 200);
  EXPECT_FALSE(req->context().cancelled());
}

// Nothing answered reads as status 0, not as a default 200 a test could
// take for the handler's answer.
TEST(FakeRequestTest, NoAnswerYetIsStatusZero) {
  auto req = FakeRequest::Get("/x");
  Responder r = req->TakeResponder();
  EXPECT_FALSE(req->answered());
  EXPECT_EQ(req->response().status, 0);
}

// A pending OnWritable callback that holds the last owner of its Responder
// (a pump object sharing itself with its callback), replaced by another:
// destroying the old one destroys the Responder, whose destructor takes
// the exchange's lock. It was destroyed under that lock: the thread
// deadlocked on itself.
TEST(FakeRequestTest, ReplacingAWritableCallbackThatOwnsItsResponderReturns) {
  auto req = FakeRequest::Get("/x", {.stream_buffer_bytes = 4});
  req->SetClientReading(false);
  struct Pump {
    Responder responder;
  };
  auto pump = std::make_shared<Pump>(Pump{req->TakeResponder()});
  ASSERT_TRUE(pump->responder.BeginStream(http::Response::Text(200, "")));
  pump->responder.Write("12345678");  // past the limit: not writable
  ASSERT_FALSE(pump->responder.WaitWritable(std::chrono::nanoseconds(0)));
  bool first_ran = false;
  pump->responder.OnWritable([pump, &first_ran] { first_ran = true; });
  Pump* raw = pump.get();
  pump.reset();  // the stored callback is its last owner
  // Replacing it destroys the pump and its Responder (dropped: the stream
  // is cut off), and returns.
  std::shared_ptr<bool> second = std::make_shared<bool>(false);
  raw->responder.OnWritable([second] { *second = true; });
  EXPECT_FALSE(first_ran);
  EXPECT_TRUE(req->answered());
}

}  // namespace
}  // namespace brisk::testing
