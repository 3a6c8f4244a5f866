// FakeRequest behaves as the server does where a handler can tell.
#include "server/testing/fake_request.h"

#include <memory>
#include <utility>

#include "gtest/gtest.h"
#include "http/response.h"

namespace brisk::testing {
namespace {

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

}  // namespace
}  // namespace brisk::testing
