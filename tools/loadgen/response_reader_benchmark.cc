// Costs on the generator's hot path: reading a response (the per-request
// parse), and computing exact percentiles at the end of a run.
#include <cstdint>
#include <random>
#include <string>

#include "benchmark/benchmark.h"
#include "tools/loadgen/response_reader.h"
#include "tools/loadgen/run_stats.h"

namespace brisk::loadgen {
namespace {

void ReadResponses(benchmark::State& state, const std::string& response) {
  ResponseReader reader;
  reader.BeginResponse();
  if (reader.Feed(response).state != ResponseReader::kComplete) {
    state.SkipWithError("response does not parse");
    return;
  }
  for (auto _ : state) {
    reader.BeginResponse();
    ResponseReader::Result r = reader.Feed(response);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * response.size());
  state.SetItemsProcessed(state.iterations());
}

void BM_ReadContentLengthResponse(benchmark::State& state) {
  ReadResponses(state,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                "Date: Mon, 23 Nov 2026 18:00:00 GMT\r\nContent-Length: 13\r\n"
                "\r\nHello, world!");
}
BENCHMARK(BM_ReadContentLengthResponse);

void BM_ReadChunkedResponse(benchmark::State& state) {
  ReadResponses(state,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
                "7\r\nHello, \r\n6\r\nworld!\r\n0\r\n\r\n");
}
BENCHMARK(BM_ReadChunkedResponse);

// Record n samples, then the summary percentiles (one sort).
void BM_RecordAndPercentiles(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::mt19937 rng(1);
  std::lognormal_distribution<double> latency(6.0, 1.0);  // ~400 us median
  std::vector<uint32_t> samples(n);
  for (uint32_t& s : samples) s = static_cast<uint32_t>(latency(rng));
  for (auto _ : state) {
    LatencyRecorder r;
    for (uint32_t s : samples) r.RecordMicros(s);
    for (double p : {50.0, 90.0, 99.0, 99.9, 100.0}) {
      benchmark::DoNotOptimize(r.Percentile(p));
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_RecordAndPercentiles)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace brisk::loadgen
