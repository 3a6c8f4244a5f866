// The example's handlers, unit-tested through brisk::testing::FakeRequest:
// no sockets, no server, no threads of ours.
#include "examples/hello_embedded/hello_handlers.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "server/testing/fake_request.h"

namespace hello {
namespace {

using brisk::testing::FakeRequest;

TEST(GreetTest, UsesThePathParameterAndQuery) {
  auto req = FakeRequest::Get("/greet/Ada?punctuation=%3F",
                              {.params = {{"name", "Ada"}}});
  brisk::http::Response r = Greet(req->context());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "Hello, Ada?\n");
}

TEST(GreetTest, RejectsLongNames) {
  auto req = FakeRequest::Get("/greet/x", {.params = {{"name", std::string(65, 'x')}}});
  EXPECT_EQ(Greet(req->context()).status, 400);
}

TEST(ShoutTest, AnswersFromTheServiceThread) {
  SlowUppercaseService service(std::chrono::milliseconds(1));
  auto req = FakeRequest::Get("/shout?text=hi%20there");
  Shout(service, req->context(), req->TakeResponder());
  for (int i = 0; i < 2000 && !req->answered(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // guard only
  }
  ASSERT_TRUE(req->answered());
  EXPECT_EQ(req->response().status, 200);
  EXPECT_EQ(req->response().body, "HI THERE\n");
}

TEST(ShoutTest, MissingTextIs400) {
  SlowUppercaseService service(std::chrono::milliseconds(1));
  auto req = FakeRequest::Get("/shout");
  Shout(service, req->context(), req->TakeResponder());
  ASSERT_TRUE(req->answered());
  EXPECT_EQ(req->response().status, 400);
}

TEST(CountTest, StreamsOneLinePerNumber) {
  auto req = FakeRequest::Get("/count?to=5");
  Count(req->context(), req->TakeResponder());
  ASSERT_TRUE(req->streaming());
  EXPECT_EQ(req->streamed_body(), "1\n2\n3\n4\n5\n");
  EXPECT_TRUE(req->finished());
}

TEST(CountTest, RejectsBadCounts) {
  // 1000001 was once accepted (the limit was checked before the last digit
  // was added). The buffer holds all of its ~7 MB, so a regression streams
  // to the end and fails here instead of waiting for a reader.
  for (const char* to : {"1000001", "99999999999", "12x", "-1"}) {
    SCOPED_TRACE(to);
    auto req = FakeRequest::Get(std::string("/count?to=") + to,
                                {.stream_buffer_bytes = 16 << 20});
    Count(req->context(), req->TakeResponder());
    ASSERT_TRUE(req->answered());
    EXPECT_FALSE(req->streaming());
    EXPECT_EQ(req->response().status, 400);
  }
}

TEST(CountTest, WaitsForASlowClientInsteadOfBuffering) {
  auto req = FakeRequest::Get("/count?to=100000", {.stream_buffer_bytes = 1024});
  req->SetClientReading(false);
  brisk::Responder responder = req->TakeResponder();
  std::thread handler([&] { Count(req->context(), std::move(responder)); });
  // The client reads nothing: the handler must stop near the limit.
  for (int i = 0; i < 2000 && req->streamed_body().size() < 1024; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_LT(req->streamed_body().size(), 2048u);
  EXPECT_FALSE(req->finished());
  req->SetClientReading(true);  // now it reads
  while (!req->finished()) {
    req->streamed_body();  // each look takes what arrived and "sends" it
    std::this_thread::yield();
  }
  handler.join();
  EXPECT_TRUE(req->streamed_body().find("\n100000\n") != std::string::npos);
}

TEST(CountTest, StopsWhenTheClientLeaves) {
  auto req = FakeRequest::Get("/count?to=1000000", {.stream_buffer_bytes = 1024});
  req->SetClientReading(false);
  brisk::Responder responder = req->TakeResponder();
  std::thread handler([&] { Count(req->context(), std::move(responder)); });
  for (int i = 0; i < 2000 && req->streamed_body().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  req->Cancel();  // as a disconnect would
  handler.join();  // returns: closed() became true
  // It stopped where the client left, far short of its million lines.
  EXPECT_FALSE(req->finished());
  EXPECT_LT(req->streamed_body().size(), size_t{1} << 20);
  EXPECT_EQ(req->streamed_body().find("\n1000000\n"), std::string::npos);
}

TEST(NumbersTest, StreamsOneLinePerNumber) {
  auto req = FakeRequest::Get("/numbers?to=5");
  Numbers(req->context(), req->TakeResponder());
  ASSERT_TRUE(req->finished());
  EXPECT_EQ(req->response().status, 200);
  EXPECT_EQ(req->streamed_body(), "1\n2\n3\n4\n5\n");
}

TEST(NumbersTest, RejectsBadCounts) {
  auto req = FakeRequest::Get("/numbers?to=x");
  Numbers(req->context(), req->TakeResponder());
  ASSERT_TRUE(req->answered());
  EXPECT_EQ(req->response().status, 400);
}

// Without a thread of its own: the handler returns once the buffer is
// full, and each time the client has read, the OnWritable() callback
// writes more (here on this thread: FakeRequest's "client" reads when the
// test looks, as the reactor would when the socket drains).
TEST(NumbersTest, ReturnsWhenTheBufferIsFullAndGoesOnWhenTheClientReads) {
  auto req = FakeRequest::Get("/numbers?to=100000", {.stream_buffer_bytes = 1024});
  req->SetClientReading(false);
  Numbers(req->context(), req->TakeResponder());  // returns: no blocking
  EXPECT_GE(req->streamed_body().size(), 1024u);
  EXPECT_LT(req->streamed_body().size(), 1024u + 16);  // one line past the limit
  EXPECT_FALSE(req->finished());
  req->SetClientReading(true);
  int looks = 0;
  while (!req->finished() && looks < 1000000) {
    req->streamed_body();  // each look "sends" what came and makes room
    ++looks;
  }
  ASSERT_TRUE(req->finished());
  EXPECT_GT(looks, 10);  // it went on in many steps, not all at once
  const std::string& body = req->streamed_body();
  EXPECT_TRUE(body.starts_with("1\n2\n3\n"));
  EXPECT_TRUE(body.ends_with("\n99999\n100000\n"));
  EXPECT_EQ(std::count(body.begin(), body.end(), '\n'), 100000);
}

// A client that leaves ends the pump (its waiting callback runs, sees the
// stream gone, and the pump with its Responder is released).
TEST(NumbersTest, StopsWhenTheClientLeaves) {
  auto req = FakeRequest::Get("/numbers?to=1000000", {.stream_buffer_bytes = 1024});
  req->SetClientReading(false);
  Numbers(req->context(), req->TakeResponder());
  EXPECT_FALSE(req->finished());
  req->Cancel();  // as a disconnect would
  req->SetClientReading(true);
  EXPECT_FALSE(req->finished());
  EXPECT_LT(req->streamed_body().size(), 2048u);
}

}  // namespace
}  // namespace hello
