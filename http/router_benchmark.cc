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

void BM_Match(benchmark::State& state, const char* method, const char* path,
              RouteMatch::Kind expected) {
  const Router r = Make50();
  if (r.Match(method, path).kind != expected) std::abort();
  for (auto _ : state) {
    RouteMatch m = r.Match(method, path);
    benchmark::DoNotOptimize(m.route_id);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_Match, param, "GET", "/api/v1/sessions/12345/history",
                  RouteMatch::kFound);
BENCHMARK_CAPTURE(BM_Match, literal, "POST", "/api/v1/reviews",
                  RouteMatch::kFound);
BENCHMARK_CAPTURE(BM_Match, not_found, "GET", "/api/v2/unknown/thing",
                  RouteMatch::kNotFound);
BENCHMARK_CAPTURE(BM_Match, method_not_allowed, "PUT", "/api/v1/users/7",
                  RouteMatch::kMethodNotAllowed);
BENCHMARK_CAPTURE(BM_Match, not_implemented, "PURGE", "/api/v1/users/7",
                  RouteMatch::kNotImplemented);

}  // namespace
}  // namespace brisk::http

BENCHMARK_MAIN();
