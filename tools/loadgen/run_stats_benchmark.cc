// The load generator's end-of-run cost: recording n latency samples, then
// the summary percentiles (one sort).
#include <cstdint>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "tools/loadgen/run_stats.h"

namespace brisk::loadgen {
namespace {

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
BENCHMARK(BM_RecordAndPercentiles)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace brisk::loadgen
