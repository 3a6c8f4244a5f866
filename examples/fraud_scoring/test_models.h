// Edited copies of the shipped model for tests: the model's text, a value
// of one tree's node array replaced, written to TEST_TMPDIR as JSON or, to
// get past the JSON checks of FraudModel::Load, as UBJSON. For tests only.
//
//   const std::string path = TempPath("nan_leaf.ubj");
//   ASSERT_TRUE(SaveAsUbjson(WithNodeValue(ShippedModelText(), "split_conditions",
//                                          /*tree=*/0, /*index=*/17, "NaN"),
//                            path).ok());
//
// Thread-safety: the functions share nothing; files of one name collide.
#ifndef BRISK_EXAMPLES_FRAUD_SCORING_TEST_MODELS_H_
#define BRISK_EXAMPLES_FRAUD_SCORING_TEST_MODELS_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"

namespace brisk::fraud_scoring {

// examples/fraud_scoring/model.json (tests run from the runfiles root).
inline constexpr char kShippedModelPath[] = "examples/fraud_scoring/model.json";

// The shipped model's bytes ("" when it cannot be read).
std::string ShippedModelText();

// $TEST_TMPDIR/name (/tmp/name outside bazel test).
std::string TempPath(const std::string& name);

// Writes `text` to TempPath(name); returns that path.
std::string WriteTemp(const std::string& name, const std::string& text);

// `json` (an XGBoost JSON model) with value `index` of the node array `key`
// of tree `tree` (the tree's position in "trees") replaced by `value`, or
// removed when `value` is empty; "" when there is no such value. The node
// arrays are flat lists of numbers, one per node.
std::string WithNodeValue(std::string json, const std::string& key, size_t tree, size_t index,
                          const std::string& value);

// Loads `json` with XGBoost (which reads NaN and Infinity in it) and saves
// it as UBJSON at `path` (which must end in .ubj).
absl::Status SaveAsUbjson(const std::string& json, const std::string& path);

}  // namespace brisk::fraud_scoring

#endif  // BRISK_EXAMPLES_FRAUD_SCORING_TEST_MODELS_H_
