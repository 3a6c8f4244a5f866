// Serializer cost: a small text response and a response with several
// caller headers, appended into a reused buffer (as a connection does).
#include <cstdlib>
#include <string>

#include "benchmark/benchmark.h"
#include "http/response.h"
#include "http/response_writer.h"

namespace brisk::http {
namespace {

void BM_AppendHello(benchmark::State& state) {
  const Response response = Response::Text(200, "Hello, World!\n");
  HttpDate date;
  ResponseOptions options;
  options.date = date.Get(1795000000);
  std::string out;
  AppendResponse(response, options, &out);
  if (out.find("Content-Length: 14\r\n") == std::string::npos) std::abort();
  for (auto _ : state) {
    out.clear();
    AppendResponse(response, options, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * out.size());
}
BENCHMARK(BM_AppendHello);

void BM_AppendWithHeaders(benchmark::State& state) {
  Response response = Response::Json(200, std::string(512, 'x'));
  response.AddHeader("Cache-Control", "no-store")
      .AddHeader("X-Request-Id", "0123456789abcdef")
      .AddHeader("Vary", "Accept-Encoding")
      .AddHeader("X-Frame-Options", "DENY");
  HttpDate date;
  ResponseOptions options;
  options.date = date.Get(1795000000);
  std::string out;
  for (auto _ : state) {
    out.clear();
    AppendResponse(response, options, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * out.size());
}
BENCHMARK(BM_AppendWithHeaders);

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
