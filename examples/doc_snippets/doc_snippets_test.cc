// The embedder docs' C++ snippets, compiled as written: each .inc is a
// block of README.md or server/README.md (marked <!-- doc_snippet: NAME -->,
// extracted at build time by extract_snippet.py), included here with only
// what its text implies around it: the names it leaves to the reader
// (Score, rpc, service, model, ...) and, for fragments, a main() or a
// `server`. Snippets whose server listens on 8080 or reads real TLS files
// are only compiled; the others also run, on 127.0.0.1 port 0, and are
// checked to do what their text says.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "server/http_server.h"
#include "server/testing/fake_request.h"
#include "server/testing/raw_client.h"

namespace doc_snippets {
namespace {

using brisk::testing::RawClient;
using brisk::testing::RawResponse;

// A callback-style RPC client, as hello_embedded's SlowUppercaseService
// (and most RPC libraries) take a std::function: the async snippets must
// compile against it.
struct RpcClient {
  void Call(std::string request, std::function<void(std::string)> done) const {
    std::thread([request = std::move(request), done = std::move(done)] {
      done("\"" + request + "\"");
    }).detach();
  }
};

brisk::ServerOptions TestOptions() {
  brisk::ServerOptions o;
  o.address = "127.0.0.1";
  o.port = 0;
  o.handle_signals = false;
  return o;
}

std::string Post(std::string_view target, std::string_view body) {
  return "POST " + std::string(target) + " HTTP/1.1\r\nHost: t\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

// README.md, "Embedding": compiled only (it listens on 8080 until SIGTERM).
namespace embedding {
std::string Score(std::string_view id) { return "{\"id\":\"" + std::string(id) + "\"}"; }
const RpcClient rpc;
[[maybe_unused]] int Main() {
#include "examples/doc_snippets/embedding.inc"
}
}  // namespace embedding

// server/README.md, "Batch routes": one response per request, in order.
namespace batch {
struct Model {
  std::vector<float> PredictBatch(const std::vector<float>& rows) const {
    std::vector<float> scores;
    for (float x : rows) scores.push_back(x / 2);
    return scores;
  }
};
std::vector<float> ParseAll(const std::vector<brisk::RequestContext*>& batch) {
  std::vector<float> rows;
  for (brisk::RequestContext* ctx : batch) {
    rows.push_back(std::stof(std::string(ctx->request().body())));
  }
  return rows;
}
std::vector<brisk::http::Response> Responses(const std::vector<float>& scores) {
  std::vector<brisk::http::Response> out;
  for (float s : scores) out.push_back(brisk::http::Response::Text(200, std::to_string(s)));
  return out;
}

TEST(DocSnippetsTest, BatchRouteAnswersEachRequestInOrder) {
  const Model model;
  brisk::HttpServer server(TestOptions());
#include "examples/doc_snippets/batch.inc"
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(server.Start().ok());
  RawClient c(server.port());
  ASSERT_TRUE(c.Send(Post("/score", "1") + Post("/score", "3") + Post("/score", "5")));
  for (const char* want : {"0.500000", "1.500000", "2.500000"}) {
    std::optional<RawResponse> r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, want);
  }
  server.Stop();
}
}  // namespace batch

// server/README.md, "Admission and isolation": a request's hint is its cost
// from the first request on, so one that cannot finish before its deadline
// (the server's 5 s here) is refused at arrival, with no measurement yet.
namespace hint {
int RowsOf(const brisk::RequestContext& ctx) {
  return std::stoi(ctx.Query("rows").value_or("0"));
}
brisk::http::Response Export(brisk::RequestContext& ctx) {
  return brisk::http::Response::Text(200, std::to_string(RowsOf(ctx)) + " rows\n");
}

TEST(DocSnippetsTest, HintedRouteRefusesAtArrivalWhatCannotFinish) {
  brisk::HttpServer server(TestOptions());
#include "examples/doc_snippets/hint.inc"
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(server.Start().ok());
  RawClient c(server.port());
  ASSERT_TRUE(c.Send(brisk::testing::Get("/export?rows=10000000")));  // 20 s
  std::optional<RawResponse> r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->Header("retry-after"), "1");
  ASSERT_TRUE(c.Send(brisk::testing::Get("/export?rows=10")));  // 20 us
  r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "10 rows\n");
  server.Stop();
}
}  // namespace hint

// server/README.md, the background lane: compiled only (8080).
namespace background {
brisk::http::Response Report(brisk::RequestContext&) {
  return brisk::http::Response::Text(200, "report\n");
}
[[maybe_unused]] absl::Status Register() {
#include "examples/doc_snippets/background.inc"
  return s;
}
}  // namespace background

// server/README.md, "HTTPS and mutual TLS": compiled only (real files).
namespace tls {
[[maybe_unused]] absl::Status StartTls() {
#include "examples/doc_snippets/tls.inc"
  return s;
}
}  // namespace tls

// server/README.md, "Testing handlers", with the Greet of the complete
// example and an async Score.
namespace testing {
brisk::http::Response Greet(brisk::RequestContext& ctx) {
  return brisk::http::Response::Text(
      200, "Hello, " + std::string(*ctx.Param("name")) + "\n");
}
void Score(brisk::RequestContext& ctx, brisk::Responder r) {
  r.Send(brisk::http::Response::Json(200, std::string(ctx.request().body())));
}

TEST(DocSnippetsTest, TestingHandlersWithFakeRequest) {
#include "examples/doc_snippets/testing.inc"
  EXPECT_EQ(post->response().body, R"({"x": 1})");
}

// server/README.md, "Testing a running server": the same Greet, served.
TEST(DocSnippetsTest, TestingARunningServerWithRawClient) {
#include "examples/doc_snippets/testing_server.inc"
}
}  // namespace testing

}  // namespace

// server/README.md, "A complete example": compiled only (8080). Outside the
// anonymous namespace: its main() is never called.
namespace complete_example {
const RpcClient service;
#include "examples/doc_snippets/complete_example.inc"
}  // namespace complete_example

}  // namespace doc_snippets
