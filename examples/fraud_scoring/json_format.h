// JSON output for the fraud-scoring service: string escaping, float
// formatting, and the bodies of POST /score answers.
//
//   std::string body = ScoreResponseJson(0.0123f, "txn-42", "fraud_gbt/1");
//   // {"score":0.0123,"id":"txn-42","model":"fraud_gbt/1"}
//   std::string err = ErrorJson("features must have 10 numbers, got 9");
//   // {"error":"features must have 10 numbers, got 9"}
//
// Every function always produces valid JSON, whatever bytes it is given:
// quotes, backslashes and control characters are escaped, and a byte that is
// not part of a well-formed UTF-8 sequence is written as \u00XX (its Latin-1
// reading), so a broken id can never break the document. Floats are written
// in the shortest form that reads back as exactly the same float; NaN and
// infinities, which JSON cannot represent, are written as null.
//
// Thread-safety: stateless free functions, safe from any thread.
#ifndef BRISK_EXAMPLES_FRAUD_SCORING_JSON_FORMAT_H_
#define BRISK_EXAMPLES_FRAUD_SCORING_JSON_FORMAT_H_

#include <optional>
#include <string>
#include <string_view>

#include "http/json_string.h"

namespace brisk::fraud_scoring {

// Appends `s` as a JSON string literal, quotes included (http/json_string.h).
using http::AppendJsonString;

// Appends `v` as a JSON number (shortest round-trip form), or null when `v`
// is NaN or infinite.
void AppendJsonFloat(float v, std::string* out);

// The body of a successful POST /score answer:
// {"score":S,"id":"...","model":"..."}. "id" is present only when `id` has a
// value (the request carried one); "model" only when `model` is not empty.
std::string ScoreResponseJson(float score, std::optional<std::string_view> id,
                              std::string_view model);

// The body of an error answer: {"error":"<message>"}.
std::string ErrorJson(std::string_view message);

}  // namespace brisk::fraud_scoring

#endif  // BRISK_EXAMPLES_FRAUD_SCORING_JSON_FORMAT_H_
