// The fraud-scoring service's routes on brisk, in a library of their own so
// tests can drive them with or without a server.
//
//   POST /score  {"features": [f1, ..., fN]} or the named form (see
//                transaction.h) -> {"score": 0.0123, "id": ..., "model": ...}
//                400 {"error": "..."} for bad JSON, wrong types or counts;
//                413 {"error": "request body is larger than 65536 bytes"}
//                for a body over the parser's max_body_bytes; 500
//                {"error": ...} when the model call fails or gives the row
//                a score that is not finite ("model produced a non-finite
//                score"; never a null score).
//   GET /model   JSON metadata, including "num_features".
//   On the server's metrics page (if it has one): fraud_model_info, the
//   model's name, version and file hash as labels.
//
//   absl::StatusOr<std::unique_ptr<ScoringService>> service =
//       ScoringService::Load("examples/fraud_scoring/model.json");
//   (*service)->Register(server, Batching::kDeadline, {.max_batch = 32});
//
// Batching: kDeadline (brisk's deadline-aware batch route), kFixed (the
// fixed-delay policy, as Triton's dynamic batcher), kOff (one request per
// handler call: an ordinary offloaded route). Either way a batch of
// requests is parsed row by row (each bad one answered 400 or 413 on its
// own) and the good rows are scored with one call to the model. Batch
// routes need the server's deadline admission policy: with
// ServerOptions::Admission::kCodel, Register() fails with
// FAILED_PRECONDITION unless `batching` is kOff.
//
// Thread-safety: the handlers may be called from any number of workers at
// once (the model is shared; each worker thread keeps its own JSON parser).
#ifndef BRISK_EXAMPLES_FRAUD_SCORING_SCORING_SERVICE_H_
#define BRISK_EXAMPLES_FRAUD_SCORING_SCORING_SERVICE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "examples/fraud_scoring/model.h"
#include "http/response.h"
#include "server/handler.h"
#include "server/http_server.h"

namespace brisk::fraud_scoring {

enum class Batching { kDeadline, kFixed, kOff };

class ScoringService {
 public:
  static absl::StatusOr<std::unique_ptr<ScoringService>> Load(
      const std::string& model_path);
  explicit ScoringService(std::unique_ptr<FraudModel> model)
      : model_(std::move(model)) {}

  // Adds POST /score and GET /model to `server` (before Start()). The
  // handlers use this service: it must outlive the server's Stop(). A
  // refused POST /score (a batch route without deadline admission) adds
  // nothing, so a second call (say with kOff) may follow.
  // `batch_options` is used by kDeadline and kFixed (kFixed takes its
  // policy from `batching`).
  absl::Status Register(HttpServer& server, Batching batching,
                        BatchOptions batch_options) const;

  // The handlers.
  std::vector<http::Response> ScoreBatch(
      const std::vector<RequestContext*>& batch) const;
  http::Response ScoreOne(RequestContext& request) const;
  http::Response Metadata() const;
  // The metrics page's family for the model (Register adds it):
  // fraud_model_info{name="fraud_gbt",version="1",sha256="e459..."} 1
  std::string ModelInfoMetric() const;

  const FraudModel& model() const { return *model_; }

 private:
  std::unique_ptr<FraudModel> model_;
};

}  // namespace brisk::fraud_scoring

#endif  // BRISK_EXAMPLES_FRAUD_SCORING_SCORING_SERVICE_H_
