// ResponseParser on a load generator's hot path: one response per
// iteration, body counted and skipped (the default), and kept
// (keep_message, what a test client uses).
//
//   tools/bazel run //http:response_parser_benchmark
#include <string>

#include "benchmark/benchmark.h"
#include "http/response_parser.h"

namespace brisk::http {
namespace {

void ReadResponses(benchmark::State& state, const std::string& response,
                   ResponseParserOptions options = {}) {
  ResponseParser parser(options);
  parser.BeginResponse();
  if (parser.Feed(response).state != ResponseParser::kComplete ||
      parser.body_bytes() != 13) {
    state.SkipWithError("response does not parse");
    return;
  }
  for (auto _ : state) {
    parser.BeginResponse();
    ResponseParser::Result r = parser.Feed(response);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * response.size());
  state.SetItemsProcessed(state.iterations());
}

// ~100 bytes each, 13-byte bodies.
const char kContentLength[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
    "Date: Mon, 23 Nov 2026 18:00:00 GMT\r\nContent-Length: 13\r\n"
    "\r\nHello, world!";
const char kChunked[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
    "Transfer-Encoding: chunked\r\n\r\n"
    "7\r\nHello, \r\n6\r\nworld!\r\n0\r\n\r\n";

void BM_ReadContentLengthResponse(benchmark::State& state) {
  ReadResponses(state, kContentLength);
}
BENCHMARK(BM_ReadContentLengthResponse);

void BM_ReadChunkedResponse(benchmark::State& state) {
  ReadResponses(state, kChunked);
}
BENCHMARK(BM_ReadChunkedResponse);

void BM_ReadChunkedResponseKept(benchmark::State& state) {
  ReadResponses(state, kChunked, {.keep_message = true});
}
BENCHMARK(BM_ReadChunkedResponseKept);

}  // namespace
}  // namespace brisk::http
