// libFuzzer target for TransactionParser and the JSON it produces. Every
// input is parsed twice by one parser (the second parse must agree: no state
// leaks between calls); on success the row must have one finite value per
// feature, or NaN for the one feature the parser lets be null (as the
// shipped model's brisk_nullable_features), and the score answer built from
// it must be valid JSON that reads back the same id; on error the status
// code must be OutOfRange for a body over the size limit and
// InvalidArgument otherwise, and the error body must be valid JSON.
//
//   tools/bazel build --config=fuzz //examples/fraud_scoring:transaction_fuzzer
//   bazel-bin/examples/fraud_scoring/transaction_fuzzer -max_total_time=60 DIR
// with DIR a copy of examples/fraud_scoring/testdata/transaction_fuzzer_corpus
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "examples/fraud_scoring/json_format.h"
#include "examples/fraud_scoring/transaction.h"
#include "simdjson.h"

namespace {

using brisk::fraud_scoring::ErrorJson;
using brisk::fraud_scoring::ScoreResponseJson;
using brisk::fraud_scoring::Transaction;
using brisk::fraud_scoring::TransactionParser;
using brisk::fraud_scoring::TransactionParserOptions;

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

// The shipped model's feature names (model.json); the parser only needs names.
const std::vector<std::string>& Names() {
  static const auto* names = new std::vector<std::string>{
      "amount_usd",   "amount_zscore", "hour_of_day", "merchant_risk",
      "distance_from_home_km", "card_age_days", "txn_count_24h", "is_foreign",
      "card_present", "account_age_days"};
  return *names;
}

// As the shipped model's brisk_nullable_features: only distance_from_home_km
// may be null.
TransactionParserOptions Options() {
  TransactionParserOptions options;
  options.nullable.assign(Names().size(), false);
  options.nullable[4] = true;
  return options;
}

bool SameRow(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static TransactionParser* parser = new TransactionParser(Names(), Options());
  static simdjson::dom::parser* checker = new simdjson::dom::parser();
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  Transaction first;
  const absl::Status s1 = parser->Parse(body, &first);
  Transaction second;
  const absl::Status s2 = parser->Parse(body, &second);
  Require(s1 == s2);
  const bool too_large = size > TransactionParserOptions{}.max_body_bytes;
  Require(!too_large || !s1.ok());

  if (!s1.ok()) {
    // OutOfRange (the service's 413) exactly for a body over the size limit
    // (64 KiB; the corpus file too_large is one byte over, and libFuzzer
    // raises -max_len to the largest seed); every other refusal of the input
    // is InvalidArgument (400).
    Require(s1.code() == (too_large ? absl::StatusCode::kOutOfRange
                                    : absl::StatusCode::kInvalidArgument) &&
            !s1.message().empty());
    const std::string error = ErrorJson(std::string_view(s1.message().data(),
                                                         s1.message().size()));
    simdjson::dom::element e;
    Require(checker->parse(error).get(e) == simdjson::SUCCESS);
    return 0;
  }
  Require(first.features.size() == Names().size());
  for (size_t i = 0; i < first.features.size(); ++i) {
    const float v = first.features[i];
    Require(std::isfinite(v) || (std::isnan(v) && parser->options().nullable[i]));
  }
  Require(SameRow(first.features, second.features) && first.id == second.id);

  const std::string answer = ScoreResponseJson(0.25f, first.id, "fraud_gbt/1");
  simdjson::dom::element root;
  Require(checker->parse(answer).get(root) == simdjson::SUCCESS);
  std::string_view id;
  const bool has_id = root["id"].get(id) == simdjson::SUCCESS;
  Require(has_id == first.id.has_value());
  if (has_id) Require(id == *first.id);
  return 0;
}
