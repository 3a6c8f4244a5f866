// brisk::testing::FakeRequest: unit-test handlers without sockets, threads
// or a server. It parses a request with the server's own parser and gives
// the handler the same RequestContext (and, for async handlers, the same
// Responder) the server would, then shows what the handler answered.
//
//   auto req = brisk::testing::FakeRequest::Get(
//       "/users/7?verbose=1", {.params = {{"id", "7"}}});
//   http::Response r = GetUser(req->context());          // a sync handler
//   EXPECT_EQ(r.status, 200);
//
//   auto post = brisk::testing::FakeRequest::Post("/score", "{...}");
//   Score(post->context(), post->TakeResponder());      // an async handler
//   ASSERT_TRUE(post->answered());
//   EXPECT_EQ(post->response().status, 200);
//
// With FakeRequestOptions::deadline, the deadline acts as in the server: at
// it, unless the handler answered first, the request is cancelled
// (cancelled() turns true, SleepFor() wakes, a late Send() returns false)
// and the answer is the server's "503 deadline exceeded" (a helper thread
// waits for it). response() has status 0 until something was answered.
// Cancel() sets the request's cancellation flag (as a deadline or a
// disconnect would); destroying the FakeRequest does too, as the server's
// going away does (a Responder kept past it is closed(), Send() false). A streamed answer's pieces accumulate in
// streamed_body(); with SetClientReading(false) they stay "unsent", so the
// handler meets the stream's backpressure (Write() returns false).
// What it shows is the handler's own answer: what the server does around a
// handler is not applied (a handler that throws throws into the test, not a
// 500; HEAD keeps the body; a 200 with a false precondition is not turned
// into 304/412; path parameters are the ones given in options, not matched
// from a pattern). Test those through a server on port 0
// (server/testing/raw_client.h).
// Thread-safety: one test thread, plus any thread the handler answers from.
#ifndef BRISK_SERVER_TESTING_FAKE_REQUEST_H_
#define BRISK_SERVER_TESTING_FAKE_REQUEST_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "http/response.h"
#include "server/handler.h"
#include "tls/peer_identity.h"

namespace brisk::testing {

struct FakeRequestOptions {
  // Path parameters, as the route pattern would bind them.
  std::vector<std::pair<std::string, std::string>> params;
  SteadyTime deadline = SteadyTime::max();
  std::string peer_address = "127.0.0.1";
  // As ServerOptions::trusted_proxies: with peer_address in it,
  // client_address() is the client the request's X-Forwarded-For names.
  std::string trusted_proxies;
  // As if the request came over TLS (RequestContext::secure()); a client
  // certificate implies it (RequestContext::client_certificate()).
  bool secure = false;
  std::optional<tls::PeerIdentity> client_certificate;
  // Stream buffer limit (ServerOptions::stream_buffer_bytes).
  size_t stream_buffer_bytes = 256 * 1024;
};

class FakeRequest {
 public:
  // `raw` is one whole HTTP/1.1 request ("GET / HTTP/1.1\r\nHost: t\r\n\r\n"),
  // nothing after it (InvalidArgument otherwise).
  static absl::StatusOr<std::unique_ptr<FakeRequest>> Parse(
      std::string_view raw, FakeRequestOptions options = {});
  // Convenience forms; they abort the test binary on a malformed target.
  static std::unique_ptr<FakeRequest> Get(std::string_view target,
                                          FakeRequestOptions options = {});
  static std::unique_ptr<FakeRequest> Post(
      std::string_view target, std::string_view body,
      std::string_view content_type = "application/json",
      FakeRequestOptions options = {});
  ~FakeRequest();

  RequestContext& context();
  // As a passed deadline or a client disconnect would.
  void Cancel();
  // The Responder an async handler receives (once).
  Responder TakeResponder();

  // What the handler delivered so far.
  bool answered();            // a whole answer, or a stream head
  bool streaming();           // the answer is a stream
  // The answer or the stream's head; status 0 while none came.
  const http::Response& response();
  const std::string& streamed_body();
  bool finished();            // the stream ended with Finish()
  bool cut_off();             // the Responder was dropped mid-stream
  // false: streamed bytes stay unsent (a client that does not read).
  void SetClientReading(bool reading);

 private:
  FakeRequest() = default;
  void Poll();

  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace brisk::testing

#endif  // BRISK_SERVER_TESTING_FAKE_REQUEST_H_
