// FraudModel: a gradient-boosted tree model (XGBoost, through its C API)
// that scores dense rows of features, one row per transaction.
//
//   absl::StatusOr<std::unique_ptr<FraudModel>> model =
//       FraudModel::Load("examples/fraud_scoring/model.json");
//   if (!model.ok()) return model.status();
//   const size_t n = (*model)->num_features();      // 10 for the shipped model
//   std::vector<float> rows(batch * n);             // row-major, NaN = missing
//   std::vector<float> scores(batch);
//   absl::Status s = (*model)->PredictBatch(rows.data(), batch, scores.data());
//   // scores[i] = P(fraud) for row i, exactly what XGBoost's own predict gives
//
// Loading. Load() reads an XGBoost model file (JSON, UBJSON or the legacy
// binary format; the shipped model.json is JSON) and runs one warm-up
// prediction so that XGBoost's lazy configuration is finished before the
// model is shared. Feature names and order come from the model itself
// (XGBoost saves them when the training data had names; "f0".."fN-1"
// otherwise); the attributes brisk_model_name, brisk_model_version and
// brisk_training (set by train_model.py) fill ModelInfo when present, and
// brisk_nullable_features says which features may be missing (see
// ModelInfo::nullable_features). The
// model file is trusted configuration: it is not hardened against hostile
// content the way request bodies are.
//
// Prediction. PredictBatch() hands XGBoost the caller's row-major float
// matrix in place (XGBoosterPredictFromDense with a numpy-style array
// interface and a reused proxy DMatrix; no DMatrix is built, no copy of the
// rows is made) and copies the probabilities out of XGBoost's per-thread
// result buffer. NaN in a row means "missing": XGBoost follows each tree's
// learned default branch. Rows should hold finite values or NaN (the
// transaction parser guarantees it). The cost is a fixed per-call overhead
// (XGBoost parses the interface and config JSON, two libgomp regions) plus
// a per-row tree walk; README.md has the figures and the comparison with
// building a DMatrix per call.
//
// No OpenMP threads. The booster runs with nthread=1, set before the model
// is even parsed (XGBoost parses a JSON model's trees in an OpenMP loop), so
// neither Load() nor PredictBatch() ever starts libgomp's thread pool
// (model_threads_test checks it). A latency-bound server runs many
// predictions side by side on its own workers; fanning one small batch out
// to OpenMP threads costs more than it saves (measured in README.md) and
// would oversubscribe the cores. Results do not depend on the thread count.
//
// Thread-safety: after Load() returns, every const method may be called from
// any number of threads at once on one FraudModel; one model serves all
// workers. Evidence: XGBoost documents prediction on gbtree/dart boosters as
// thread-safe since 1.4 (doc/prediction.rst, "Thread Safety"); in 1.7.4 the
// C API keeps each thread's prediction buffer and output shape in
// thread-local storage keyed by booster (src/learner.cc,
// LearnerAPIThreadLocalStore), the lazy Configure() is double-checked under
// a mutex (and done by Load()), and upstream's Learner.MultiThreadedPredict
// test predicts from 2 x hardware_concurrency threads on one learner. The
// per-call proxy DMatrix is the one piece of XGBoost state that a call
// mutates, so each concurrent call takes its own from a small pool. Load()
// rejects boosters other than gbtree and dart. model_test's
// ConcurrentPredictBatchOnOneModel checks exact scores from 4 threads, also
// under TSan (which sees our code and the libc calls, not the inside of the
// uninstrumented libxgboost). Nothing changes the booster after Load(): a
// parameter change would make XGBoost reconfigure, which is not safe while
// threads predict.
//
// Ownership: FraudModel owns its booster and proxies and frees them on
// destruction; it must outlive every PredictBatch call. Each thread that
// has predicted keeps a small buffer inside XGBoost (as large as its largest
// batch) until the thread exits.
//
// Errors: every failure is an absl::Status carrying XGBoost's message
// (XGBGetLastError, first line, without XGBoost's stack trace); no
// exception escapes (the C API catches them all).
#ifndef BRISK_EXAMPLES_FRAUD_SCORING_MODEL_H_
#define BRISK_EXAMPLES_FRAUD_SCORING_MODEL_H_

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace brisk::fraud_scoring {

// What GET /model reports. Filled once by Load(); immutable afterwards.
struct ModelInfo {
  std::string name;           // attribute brisk_model_name, or the file name
  std::string version;        // attribute brisk_model_version, or ""
  std::string sha256;         // of the file's bytes, lowercase hex (as sha256sum prints)
  std::string booster;        // "gbtree" or "dart"
  std::string objective;      // e.g. "binary:logistic"
  std::string base_score;     // as XGBoost prints it, e.g. "5E-1"
  int num_boosted_rounds = 0;
  int num_trees = 0;          // rounds x parallel trees x output groups
  std::vector<std::string> feature_names;  // in row order
  std::string xgboost_version;             // of the library linked, "1.7.4"
  std::string training_json;  // attribute brisk_training (a JSON object), or ""
  std::string best_iteration;  // attribute best_iteration (early stopping), or ""
  // The features a request may send as null (missing), in row order: those
  // named by the attribute brisk_nullable_features (a JSON array of feature
  // names: the columns that had missing values in training, so the trees
  // learned a default branch for them), or every feature when the model has
  // no such attribute (XGBoost's own rule: any feature may be missing).
  std::vector<std::string> nullable_features;
  // Per feature, in row order: is it in nullable_features?
  std::vector<bool> nullable;
};

class FraudModel {
 public:
  // Loads the model at `path`. NotFound when the file cannot be read,
  // InvalidArgument when XGBoost rejects it, it is not a tree model with
  // one probability per row (objective binary:logistic or reg:logistic),
  // or a JSON file is inconsistent (not JSON simdjson reads, e.g. a NaN
  // written by XGBoost; a base_score that is not a number, or not strictly
  // between 0 and 1; no trees, or not as many as num_trees says; a tree
  // whose children are out of place, which would crash or loop in
  // prediction; splits on features past num_feature; a threshold or leaf
  // value that is not a finite float) or its warm-up prediction (a row of
  // missing values) is not finite, or its brisk_nullable_features is not a
  // JSON array of distinct feature names of the model, Internal for other
  // XGBoost failures.
  static absl::StatusOr<std::unique_ptr<FraudModel>> Load(const std::string& path);

  ~FraudModel();
  FraudModel(const FraudModel&) = delete;
  FraudModel& operator=(const FraudModel&) = delete;

  size_t num_features() const { return info_.feature_names.size(); }
  const std::vector<std::string>& feature_names() const { return info_.feature_names; }
  const ModelInfo& info() const { return info_; }

  // "name/version" (or just the name without a version): the "model" field
  // of a score answer.
  const std::string& label() const { return label_; }

  // The JSON body for GET /model, built once by Load():
  // {"name":..,"version":..,"sha256":"e459..","booster":..,"objective":..,
  //  "base_score":..,
  //  "num_features":10,"feature_names":[..],"num_boosted_rounds":120,
  //  "num_trees":120,"xgboost_version":"1.7.4",
  //  "nullable_features":["distance_from_home_km"],"training":{..}}
  // ("training" only when the model carries the brisk_training attribute).
  const std::string& metadata_json() const { return metadata_json_; }

  // Scores `num_rows` rows of num_features() floats each, stored row-major
  // from `rows`, into scores_out[0..num_rows). num_rows == 0 is a no-op.
  // Safe to call concurrently from many threads.
  absl::Status PredictBatch(const float* rows, size_t num_rows, float* scores_out) const;

 private:
  FraudModel(void* booster, ModelInfo info);

  // A proxy DMatrix (XGProxyDMatrixCreate) carries one call's array to
  // XGBoost. Reusing them matters: XGBoost builds a fresh proxy when given
  // none, and each new one reads two cgroup files to count CPUs (measured:
  // the larger part of a one-row call). One proxy serves one call at a
  // time, so idle ones wait here; the pool grows to the peak number of
  // concurrent calls and is freed with the model.
  void* AcquireProxy() const;
  void ReleaseProxy(void* proxy) const;

  void* booster_;  // BoosterHandle; owned
  // std::mutex, not absl::Mutex: Debian's abseil is not built with TSan
  // annotations, so TSan cannot see absl::Mutex's ordering (it reported
  // races on idle_proxies_ under one); pthread mutexes are intercepted.
  mutable std::mutex proxies_mu_;
  mutable std::vector<void*> idle_proxies_ ABSL_GUARDED_BY(proxies_mu_);  // owned
  ModelInfo info_;
  std::string label_;
  std::string metadata_json_;
};

}  // namespace brisk::fraud_scoring

#endif  // BRISK_EXAMPLES_FRAUD_SCORING_MODEL_H_
