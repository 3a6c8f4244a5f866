// TransactionParser: turns a POST /score request body (JSON) into one row of
// model features, or an error message fit for a 400 (or 413) answer.
//
//   TransactionParser parser(model.feature_names());   // one per thread
//   Transaction txn;
//   absl::Status s = parser.Parse(request.body(), &txn);
//   if (!s.ok()) {   // OutOfRange: too large (413); InvalidArgument: 400
//     int status = absl::IsOutOfRange(s) ? 413 : 400;
//     return Response::Json(status, ErrorJson(std::string(s.message())));
//   }
//   // txn.features.size() == model.num_features(); txn.id is the echo id
//
// Accepted bodies (a JSON object; `N` = number of feature names):
//   {"features": [f1, ..., fN]}                       positional, model order
//   {"amount_usd": 12.5, "hour_of_day": 3, ...}       named, every feature
//   either one plus "id": "any string"                echoed in the answer
// A feature value is a JSON number or, when the feature may be missing
// (TransactionParserOptions::nullable), null. null means "missing" and
// becomes NaN, which XGBoost treats as a missing value (each tree's default
// branch). A model learns a default branch only for the features that had
// missing values in training: for any other, every split sends a missing
// value the same way as a large one, so null is refused there rather than
// silently scored as such (the service marks the features of its model's
// brisk_nullable_features attribute; without one, every feature).
// Numbers are converted to float; one whose magnitude does not fit a float
// is an error (rather than silently becoming infinity).
//
// Decisions (see README.md for the reasons):
//   - Named form: every feature must appear (null allowed). An absent name is
//     an error listing the absent names, so a typo in a field name is
//     reported, not scored as missing.
//   - Fields that are neither "features", "id" nor a feature name are ignored
//     (clients may send their own context, e.g. a merchant id). They are still
//     validated as JSON: the whole body must be well-formed.
//   - "features" together with named feature fields is an error (ambiguous);
//     a repeated known field is an error.
//   - The body must be one JSON value: trailing bytes other than whitespace
//     are an error. Nesting deeper than `max_depth` is an error.
//
// Errors. A body longer than max_body_bytes is OutOfRange ("request body
// is larger than 65536 bytes"; HTTP 413 Content Too Large, RFC 9110
// 15.5.14), checked before anything else. Every other rejection of the
// input is InvalidArgument (HTTP 400), with messages such as:
//   invalid JSON at byte 12: Problem while parsing an atom starting with the letter 't'
//   request body is empty
//   request body must be a JSON object
//   "features" must have 10 numbers, got 9
//   features[3] must be a number or null, got string
//   features[8] ("card_present") must be a number: the model has no learned
//     default for a missing value          (a null where nullable is false)
//   "card_present" must be a number: the model has no learned default ...
//   features[3] is out of range for a 32-bit float
//   "amount_usd" must be a number or null, got array
//   missing features: "card_present", "is_foreign"
//   "id" must be a string of at most 256 bytes
//
// Parsing: simdjson's DOM parser (the whole document is validated, UTF-8
// included, before any field is read). The body is copied into the parser's
// own padded buffer, so any std::string_view may be passed: simdjson's
// SIMDJSON_PADDING requirement never falls on the caller. Nothing throws.
//
// Thread-safety: a TransactionParser is NOT thread-safe (it reuses its
// simdjson buffers across calls); give each worker thread its own. It is
// cheap to construct (no allocation until the first Parse) and keeps
// memory proportional to the largest body it has parsed.
#ifndef BRISK_EXAMPLES_FRAUD_SCORING_TRANSACTION_H_
#define BRISK_EXAMPLES_FRAUD_SCORING_TRANSACTION_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace brisk::fraud_scoring {

// One parsed request.
struct Transaction {
  std::vector<float> features;    // one per feature name, in order; NaN = missing
  std::optional<std::string> id;  // the request's "id", when it had one
};

struct TransactionParserOptions {
  size_t max_body_bytes = 64 * 1024;  // larger: OutOfRange, unparsed
  size_t max_depth = 32;              // JSON nesting limit
  size_t max_id_bytes = 256;
  // Per feature name, in order: may its value be null (missing)? A null for
  // a feature marked false is InvalidArgument. Empty (the default): every
  // feature may be null; features past its end may too. A service passes
  // its model's FraudModel::info().nullable.
  std::vector<bool> nullable;
};

class TransactionParser {
 public:
  explicit TransactionParser(std::vector<std::string> feature_names,
                             TransactionParserOptions options = {});
  ~TransactionParser();
  TransactionParser(TransactionParser&&) noexcept;
  TransactionParser& operator=(TransactionParser&&) noexcept;

  // Parses `body` into `*out` (its vectors are reused). On error `*out` is
  // unspecified and the status carries a message for the client:
  // OutOfRange when body.size() > max_body_bytes, InvalidArgument for any
  // other bad input, ResourceExhausted if simdjson cannot allocate.
  absl::Status Parse(std::string_view body, Transaction* out);

  const std::vector<std::string>& feature_names() const { return names_; }
  const TransactionParserOptions& options() const { return options_; }

  // "features" and "id", the body's own keys: a feature of either name can
  // be given only positionally.
  static bool IsReservedKey(std::string_view key) {
    return key == kFeaturesKey || key == kIdKey;
  }
  static constexpr std::string_view kFeaturesKey = "features";
  static constexpr std::string_view kIdKey = "id";

 private:
  bool Nullable(size_t i) const { return i >= options_.nullable.size() || options_.nullable[i]; }

  struct Impl;
  std::vector<std::string> names_;
  TransactionParserOptions options_;
  std::unique_ptr<Impl> impl_;  // simdjson state, kept out of this header
};

}  // namespace brisk::fraud_scoring

#endif  // BRISK_EXAMPLES_FRAUD_SCORING_TRANSACTION_H_
