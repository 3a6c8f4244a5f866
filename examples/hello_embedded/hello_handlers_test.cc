// The example's handlers, unit-tested through brisk::testing::FakeRequest:
// no sockets, no server, no threads of ours.
#include "examples/hello_embedded/hello_handlers.h"

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

}  // namespace
}  // namespace hello
