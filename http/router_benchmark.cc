// Router lookup with 50 routes (literal and parameterised), the mix of a
// typical REST service.
#include <cstdlib>
#include <string>

#include "benchmark/benchmark.h"
#include "http/router.h"

namespace brisk::http {
namespace {

Router Make50() {
  Router r;
  size_t id = 0;
  const char* resources[] = {"users", "orders", "products", "carts",
                             "invoices", "payments", "shipments", "reviews",
                             "coupons", "sessions"};
  for (const char* res : resources) {
    const std::string base = std::string("/api/v1/") + res;
    if (!r.Add("GET", base, id++).ok() || !r.Add("POST", base, id++).ok() ||
        !r.Add("GET", base + "/{id}", id++).ok() ||
        !r.Add("DELETE", base + "/{id}", id++).ok() ||
        !r.Add("GET", base + "/{id}/history", id++).ok()) {
      std::abort();
    }
  }
  if (r.size() != 50) std::abort();
  return r;
}

void BM_MatchParam(benchmark::State& state) {
  const Router r = Make50();
  const RouteMatch check = r.Match("GET", "/api/v1/sessions/12345/history");
  if (check.kind != RouteMatch::kFound || check.Param("id") != "12345") {
    std::abort();
  }
  for (auto _ : state) {
    RouteMatch m = r.Match("GET", "/api/v1/sessions/12345/history");
    benchmark::DoNotOptimize(m.route_id);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MatchParam);

void BM_MatchLiteral(benchmark::State& state) {
  const Router r = Make50();
  if (r.Match("POST", "/api/v1/reviews").kind != RouteMatch::kFound) {
    std::abort();
  }
  for (auto _ : state) {
    RouteMatch m = r.Match("POST", "/api/v1/reviews");
    benchmark::DoNotOptimize(m.route_id);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MatchLiteral);

void BM_MatchNotFound(benchmark::State& state) {
  const Router r = Make50();
  for (auto _ : state) {
    RouteMatch m = r.Match("GET", "/api/v2/unknown/thing");
    benchmark::DoNotOptimize(m.kind);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MatchNotFound);

}  // namespace
}  // namespace brisk::http

BENCHMARK_MAIN();
