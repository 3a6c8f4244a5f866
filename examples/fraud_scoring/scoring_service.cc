#include "examples/fraud_scoring/scoring_service.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "examples/fraud_scoring/json_format.h"
#include "examples/fraud_scoring/transaction.h"
#include "http/conditional.h"

namespace brisk::fraud_scoring {
namespace {

constexpr char kNonFiniteScore[] = "model produced a non-finite score";

// The HTTP status for a request TransactionParser refused: a body over its
// size limit is 413 Content Too Large (RFC 9110 15.5.14), any other bad
// input 400; anything else (simdjson could not allocate) is ours, 500.
int StatusForParseError(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOutOfRange: return 413;
    case absl::StatusCode::kInvalidArgument: return 400;
    default: return 500;
  }
}

// The first content coding of `request` other than "identity", or "" when
// its body is not encoded. Content-Encoding is a list (RFC 9110 8.4) and
// may be repeated; codings are case-insensitive.
std::string UnsupportedCoding(const http::Request& request) {
  for (const http::HeaderField& field : request.headers()) {
    // (Debian's abseil has its own string_view, not std::string_view.)
    const absl::string_view name(field.name.data(), field.name.size());
    const absl::string_view value(field.value.data(), field.value.size());
    if (!absl::EqualsIgnoreCase(name, "Content-Encoding")) continue;
    for (absl::string_view coding : absl::StrSplit(value, ',')) {
      coding = absl::StripAsciiWhitespace(coding);
      if (!coding.empty() && !absl::EqualsIgnoreCase(coding, "identity")) {
        return std::string(coding);
      }
    }
  }
  return "";
}

// `v` as a Prometheus label value: printable ASCII, with '"' and '\'
// escaped; any other byte (a control character, a byte of a non-ASCII
// name) becomes '_', so a model file's attributes can never break the page.
void AppendLabelValue(std::string_view v, std::string* out) {
  for (const char c : v) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out->push_back(c);
    } else {
      out->push_back('_');
    }
  }
}

}  // namespace

std::string ScoringService::ModelInfoMetric() const {
  const ModelInfo& info = model_->info();
  std::string out =
      "# HELP fraud_model_info The model this process serves (GET /model has the rest).\n"
      "# TYPE fraud_model_info gauge\n"
      "fraud_model_info{name=\"";
  AppendLabelValue(info.name, &out);
  out += "\",version=\"";
  AppendLabelValue(info.version, &out);
  out += "\",sha256=\"";
  AppendLabelValue(info.sha256, &out);
  out += "\"} 1\n";
  return out;
}

absl::StatusOr<std::unique_ptr<ScoringService>> ScoringService::Load(
    const std::string& model_path) {
  absl::StatusOr<std::unique_ptr<FraudModel>> model = FraudModel::Load(model_path);
  if (!model.ok()) return model.status();
  return std::make_unique<ScoringService>(*std::move(model));
}

std::vector<http::Response> ScoringService::ScoreBatch(
    const std::vector<RequestContext*>& batch) const {
  // One parser per worker thread (parsers reuse their buffers), remade
  // when this thread serves another model.
  thread_local std::unique_ptr<TransactionParser> parser;
  if (parser == nullptr || parser->feature_names() != model_->feature_names() ||
      parser->options().nullable != model_->info().nullable) {
    parser = std::make_unique<TransactionParser>(
        model_->feature_names(), TransactionParserOptions{.nullable = model_->info().nullable});
  }
  const size_t width = model_->num_features();
  std::vector<http::Response> responses(batch.size());
  std::vector<float> rows;
  rows.reserve(batch.size() * width);
  std::vector<size_t> scored;  // indexes of the rows in `rows`
  std::vector<std::optional<std::string>> ids(batch.size());
  Transaction txn;
  for (size_t i = 0; i < batch.size(); ++i) {
    // An encoded (compressed) body is not JSON to the parser: 415, with
    // the codings accepted (RFC 9110 15.5.16, 12.5.3).
    if (const std::string coding = UnsupportedCoding(batch[i]->request()); !coding.empty()) {
      responses[i] =
          http::Response::Json(415, ErrorJson("Content-Encoding \"" + coding +
                                              "\" is not supported: send the body unencoded"));
      responses[i].AddHeader("Accept-Encoding", "identity");
      continue;
    }
    // /score keeps no representation (GET /score is 405): a precondition
    // asking for one is false, before the body is parsed (RFC 9110 §13.1.1,
    // §13.2.1: after what the head alone decides, as the 415 above).
    if (http::EvaluatePreconditions(batch[i]->request(), {.exists = false}) ==
        http::Precondition::kFailed) {
      responses[i] = http::Response::Json(
          412, ErrorJson("a precondition failed: /score has no current representation"));
      continue;
    }
    absl::Status s = parser->Parse(batch[i]->request().body(), &txn);
    if (!s.ok()) {
      responses[i] = http::Response::Json(StatusForParseError(s),
                                          ErrorJson(std::string(s.message())));
      continue;
    }
    rows.insert(rows.end(), txn.features.begin(), txn.features.end());
    ids[i] = std::move(txn.id);
    scored.push_back(i);
  }
  if (scored.empty()) return responses;
  std::vector<float> scores(scored.size());
  absl::Status s = model_->PredictBatch(rows.data(), scored.size(), scores.data());
  for (size_t k = 0; k < scored.size(); ++k) {
    const size_t i = scored[k];
    if (!s.ok()) {
      responses[i] = http::Response::Json(500, ErrorJson(std::string(s.message())));
      continue;
    }
    // A NaN or infinite leaf on this row's path (a model in a format whose
    // trees Load could not check): no probability to answer, and JSON has
    // no NaN. A model failure, as a failed call is.
    if (!std::isfinite(scores[k])) {
      responses[i] = http::Response::Json(500, ErrorJson(kNonFiniteScore));
      continue;
    }
    const std::optional<std::string>& id = ids[i];
    responses[i] = http::Response::Json(
        200, ScoreResponseJson(scores[k],
                               id ? std::optional<std::string_view>(*id) : std::nullopt,
                               model_->label()));
  }
  return responses;
}

http::Response ScoringService::ScoreOne(RequestContext& request) const {
  std::vector<http::Response> r = ScoreBatch({&request});
  return std::move(r.front());
}

http::Response ScoringService::Metadata() const {
  return http::Response::Json(200, model_->metadata_json());
}

absl::Status ScoringService::Register(HttpServer& server, Batching batching,
                                      BatchOptions batch_options) const {
  // POST /score first: what refuses most often (a batch route without the
  // deadline admission policy) then leaves nothing half-registered, and
  // the caller may retry, say with Batching::kOff.
  absl::Status s;
  // A body over what the transaction parser reads is refused by the server
  // from its Content-Length (413 before the body is sent, and before a 100
  // Continue), not read to be refused. A server whose own limit is lower
  // keeps it: an operator's --max_body_bytes holds on /score too.
  const RouteOptions score_options{.max_body_bytes =
                                       std::min<uint64_t>(TransactionParserOptions{}.max_body_bytes,
                                                          server.options().max_body_bytes)};
  switch (batching) {
    case Batching::kOff:
      s = server.AddRoute(
          "POST", "/score", [this](RequestContext& ctx) { return ScoreOne(ctx); }, score_options);
      break;
    case Batching::kFixed:
    case Batching::kDeadline:
      batch_options.policy = batching == Batching::kFixed ? BatchOptions::Policy::kFixed
                                                          : BatchOptions::Policy::kDeadline;
      s = server.AddBatchRoute(
          "POST", "/score",
          [this](const std::vector<RequestContext*>& batch) { return ScoreBatch(batch); },
          batch_options, score_options);
      break;
  }
  if (!s.ok()) return s;
  s = server.AddRoute("GET", "/model", [this](RequestContext&) { return Metadata(); },
                      {.run_inline = true});
  if (!s.ok()) return s;
  // Which model serves, on the metrics page too (a fleet's dashboards
  // compare it across instances): a prepared string, copied per scrape.
  return server.AddMetricsSource([info = ModelInfoMetric()](std::string* out) { *out += info; });
}

}  // namespace brisk::fraud_scoring
