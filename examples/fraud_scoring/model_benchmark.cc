// Costs of the fraud-scoring pieces, per call and per row:
//   BM_PredictBatch/N         FraudModel::PredictBatch, N rows per call (what
//                             the service uses: in-place dense prediction,
//                             nthread=1)
//   BM_PredictViaDMatrix/N    the alternative: build a DMatrix from the rows,
//                             XGBoosterPredictFromDMatrix, free it
//   BM_PredictTwoOmpThreads/N in-place prediction as PredictBatch does it,
//                             but nthread=2 (OpenMP fan-out of one batch
//                             over both cores)
//   BM_Parse*                 one POST /score body to a feature row
//                             (TransactionParser: simdjson DOM), and, for
//                             comparison, a minimal simdjson On Demand parse
//   BM_ScoreResponseJson      formatting the answer
//   BM_ScoreOneTransaction    parse + predict one row + format, unbatched
//
//   tools/bazel run //examples/fraud_scoring:model_benchmark
//
// Rows come from testdata/golden.csv (held-out rows of the training
// distribution), taken at a rolling offset so each call sees different rows.
#include <xgboost/c_api.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "benchmark/benchmark.h"
#include "examples/fraud_scoring/golden.h"
#include "examples/fraud_scoring/json_format.h"
#include "examples/fraud_scoring/model.h"
#include "examples/fraud_scoring/transaction.h"
#include "simdjson.h"

namespace brisk::fraud_scoring {
namespace {

constexpr char kModelPath[] = "examples/fraud_scoring/model.json";
constexpr char kGoldenPath[] = "examples/fraud_scoring/testdata/golden.csv";

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "model_benchmark: %s\n", what.c_str());
  std::abort();
}

const FraudModel& Model() {
  static const FraudModel* model = [] {
    auto m = FraudModel::Load(kModelPath);
    if (!m.ok()) Die(std::string(m.status().message()));
    return m->release();
  }();
  return *model;
}

const GoldenSet& Golden() {
  static const GoldenSet* golden = [] {
    auto g = ReadGolden(kGoldenPath);
    if (!g.ok()) Die(std::string(g.status().message()));
    return new GoldenSet(*std::move(g));
  }();
  return *golden;
}

// Per-row cost as a counter: seconds per row (printed with an SI prefix).
void SetRowCounters(benchmark::State& state, size_t rows) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows));
  state.counters["per_row"] = benchmark::Counter(
      static_cast<double>(rows),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// Start offsets cycling through the golden rows for batches of `rows`.
size_t NextOffset(size_t offset, size_t rows) {
  const size_t limit = Golden().num_rows() - rows;
  offset += rows;
  return offset > limit ? 0 : offset;
}

// Scores `rows` rows starting at `data` into `scores`; false on failure.
using PredictFn = absl::FunctionRef<bool(const float* data, size_t rows, float* scores)>;

// Checks once that `predict` reproduces XGBoost's own golden scores, then
// times it on `state.range(0)` rows per call.
void RunPredictBenchmark(benchmark::State& state, const char* what, PredictFn predict) {
  const GoldenSet& golden = Golden();
  const size_t rows = static_cast<size_t>(state.range(0));
  std::vector<float> scores(rows);
  if (!predict(golden.row(0), rows, scores.data()) ||
      std::memcmp(scores.data(), golden.scores.data(), rows * sizeof(float)) != 0) {
    Die(std::string(what) + " does not reproduce the golden scores");
  }
  size_t offset = 0;
  for (auto _ : state) {
    if (!predict(golden.row(offset), rows, scores.data())) Die(what);
    benchmark::DoNotOptimize(scores.data());
    offset = NextOffset(offset, rows);
  }
  SetRowCounters(state, rows);
}

void BM_PredictBatch(benchmark::State& state) {
  const FraudModel& model = Model();
  RunPredictBenchmark(state, "PredictBatch", [&](const float* data, size_t rows, float* out) {
    return model.PredictBatch(data, rows, out).ok();
  });
}
BENCHMARK(BM_PredictBatch)->RangeMultiplier(2)->Range(1, 128);

// A raw booster for the alternatives FraudModel does not use.
BoosterHandle RawBooster(const char* nthread) {
  BoosterHandle b = nullptr;
  if (XGBoosterCreate(nullptr, 0, &b) != 0 || XGBoosterLoadModel(b, kModelPath) != 0 ||
      XGBoosterSetParam(b, "nthread", nthread) != 0) {
    Die(XGBGetLastError());
  }
  return b;
}

// Copies XGBoost's thread-local result out after a call that returned
// `rc`; false on failure.
bool CopyResult(int rc, const float* result, size_t rows, float* scores) {
  if (rc != 0) return false;
  std::memcpy(scores, result, rows * sizeof(float));
  return true;
}

void BM_PredictViaDMatrix(benchmark::State& state) {
  static BoosterHandle booster = RawBooster("1");
  const size_t cols = Model().num_features();
  const char config[] =
      "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
      "\"strict_shape\": false}";
  RunPredictBenchmark(state, "DMatrix prediction", [&](const float* data, size_t rows,
                                                       float* scores) {
    DMatrixHandle dm = nullptr;
    if (XGDMatrixCreateFromMat_omp(data, rows, cols, std::nanf(""), &dm, 1) != 0) return false;
    const bst_ulong* shape = nullptr;
    bst_ulong dim = 0;
    const float* out = nullptr;
    const int rc = XGBoosterPredictFromDMatrix(booster, dm, config, &shape, &dim, &out);
    const bool ok = CopyResult(rc, out, rows, scores);
    XGDMatrixFree(dm);
    return ok;
  });
}
BENCHMARK(BM_PredictViaDMatrix)->RangeMultiplier(2)->Range(1, 128);

void BM_PredictTwoOmpThreads(benchmark::State& state) {
  static BoosterHandle booster = RawBooster("2");
  static DMatrixHandle proxy = [] {
    DMatrixHandle p = nullptr;
    if (XGProxyDMatrixCreate(&p) != 0) Die(XGBGetLastError());
    return p;
  }();
  const size_t cols = Model().num_features();
  const char config[] =
      "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
      "\"strict_shape\": false, \"cache_id\": 0, \"missing\": NaN}";
  RunPredictBenchmark(state, "two-thread prediction", [&](const float* data, size_t rows,
                                                          float* scores) {
    char iface[160];
    std::snprintf(iface, sizeof(iface),
                  "{\"data\": [%zu, true], \"shape\": [%zu, %zu], \"typestr\": \"<f4\", "
                  "\"version\": 3}",
                  reinterpret_cast<size_t>(data), rows, cols);
    const bst_ulong* shape = nullptr;
    bst_ulong dim = 0;
    const float* out = nullptr;
    const int rc = XGBoosterPredictFromDense(booster, iface, config, proxy, &shape, &dim, &out);
    return CopyResult(rc, out, rows, scores);
  });
}
BENCHMARK(BM_PredictTwoOmpThreads)->Arg(1)->Arg(16)->Arg(128);

// ---- Parsing and formatting ----

// A request body for golden row `i`: positional or named, with an id.
std::string Body(size_t i, bool named) {
  const GoldenSet& golden = Golden();
  std::string body = "{\"id\":\"txn-000123456\",";
  body += named ? "" : "\"features\":[";
  for (size_t j = 0; j < golden.feature_names.size(); ++j) {
    if (j > 0) body += ",";
    if (named) body += "\"" + golden.feature_names[j] + "\":";
    const float v = golden.row(i)[j];
    if (std::isnan(v)) {
      body += "null";
    } else {
      AppendJsonFloat(v, &body);
    }
  }
  body += named ? "}" : "]}";
  return body;
}

bool SameRow(const std::vector<float>& got, const float* want) {
  for (size_t j = 0; j < got.size(); ++j) {
    if (!(got[j] == want[j] || (std::isnan(got[j]) && std::isnan(want[j])))) return false;
  }
  return true;
}

void ParseBenchmark(benchmark::State& state, bool named) {
  TransactionParser parser(Model().feature_names());
  const std::string body = Body(1, named);
  Transaction txn;
  if (!parser.Parse(body, &txn).ok() || !SameRow(txn.features, Golden().row(1))) {
    Die("parse check failed: " + body);
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(parser.Parse(body, &txn));
    benchmark::DoNotOptimize(txn.features.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_ParseTransaction(benchmark::State& state) { ParseBenchmark(state, false); }
BENCHMARK(BM_ParseTransaction);

void BM_ParseTransactionNamed(benchmark::State& state) { ParseBenchmark(state, true); }
BENCHMARK(BM_ParseTransactionNamed);

// The least an On Demand parse of the same body does: copy into a padded
// buffer, find "features", read N numbers (no validation of other fields,
// no check for trailing bytes). For comparison with the DOM parser only.
void BM_ParseOnDemandBaseline(benchmark::State& state) {
  const std::string body = Body(1, false);
  simdjson::ondemand::parser parser;
  std::vector<float> row(Model().num_features());
  std::string buffer;
  auto parse = [&]() -> bool {
    buffer.assign(body);
    buffer.append(simdjson::SIMDJSON_PADDING, '\0');
    simdjson::ondemand::document doc;
    if (parser.iterate(buffer.data(), body.size(), buffer.size()).get(doc)) return false;
    simdjson::ondemand::array array;
    if (doc["features"].get_array().get(array)) return false;
    size_t i = 0;
    for (auto v : array) {
      double d;
      if (i >= row.size()) return false;
      if (v.get_double().get(d)) {
        bool is_null = false;
        if (v.is_null().get(is_null) || !is_null) return false;
        d = std::numeric_limits<double>::quiet_NaN();
      }
      row[i++] = static_cast<float>(d);
    }
    return i == row.size();
  };
  if (!parse() || !SameRow(row, Golden().row(1))) Die("on-demand check failed");
  for (auto _ : state) {
    benchmark::DoNotOptimize(parse());
    benchmark::DoNotOptimize(row.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(std::string("ondemand kernel: ") +
                 simdjson::builtin_implementation()->name());
}
BENCHMARK(BM_ParseOnDemandBaseline);

void BM_ScoreResponseJson(benchmark::State& state) {
  const std::string& label = Model().label();
  for (auto _ : state) {
    benchmark::DoNotOptimize(ScoreResponseJson(0.0123456f, "txn-000123456", label));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ScoreResponseJson);

// One transaction end to end without batching: body -> row -> score -> body.
void BM_ScoreOneTransaction(benchmark::State& state) {
  const FraudModel& model = Model();
  TransactionParser parser(model.feature_names());
  const std::string body = Body(1, false);
  Transaction txn;
  for (auto _ : state) {
    float score = 0;
    if (!parser.Parse(body, &txn).ok() ||
        !model.PredictBatch(txn.features.data(), 1, &score).ok()) {
      Die("score");
    }
    benchmark::DoNotOptimize(ScoreResponseJson(score, txn.id, model.label()));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ScoreOneTransaction);

}  // namespace
}  // namespace brisk::fraud_scoring

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext(
      "simdjson", std::string("DOM kernel ") +
                      simdjson::get_active_implementation()->name() + ", ondemand kernel " +
                      simdjson::builtin_implementation()->name());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
