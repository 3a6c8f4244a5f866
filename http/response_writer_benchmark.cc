// Serializer cost: a small text response and a response with several
// caller headers, appended into a reused buffer (as a connection does).
#include <cstdlib>
#include <string>

#include "benchmark/benchmark.h"
#include "http/response.h"
#include "http/response_writer.h"

namespace brisk::http {
namespace {

void BM_Append(benchmark::State& state, const Response& response) {
  HttpDate date;
  ResponseOptions options;
  options.date = date.Get(1795000000);
  std::string out;
  AppendResponse(response, options, &out);
  if (out.find("Content-Length: " + std::to_string(response.body.size())) ==
      std::string::npos) {
    std::abort();
  }
  for (auto _ : state) {
    out.clear();
    AppendResponse(response, options, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * out.size());
}

Response WithHeaders() {
  Response response = Response::Json(200, std::string(512, 'x'));
  response.AddHeader("Cache-Control", "no-store")
      .AddHeader("X-Request-Id", "0123456789abcdef")
      .AddHeader("Vary", "Accept-Encoding")
      .AddHeader("X-Frame-Options", "DENY");
  return response;
}

BENCHMARK_CAPTURE(BM_Append, hello, Response::Text(200, "Hello, World!\n"));
BENCHMARK_CAPTURE(BM_Append, json_512B_4_headers, WithHeaders());

void BM_HttpDateGet(benchmark::State& state) {
  HttpDate date;
  int64_t now = 1795000000;
  int64_t i = 0;
  for (auto _ : state) {
    // A new second every 1000 calls, as under load.
    benchmark::DoNotOptimize(date.Get(now + (i++ >> 10)).data());
  }
}
BENCHMARK(BM_HttpDateGet);

}  // namespace
}  // namespace brisk::http

BENCHMARK_MAIN();
