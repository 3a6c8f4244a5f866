// Reads testdata/golden.csv, written by train_model.py: a header of feature
// names plus "score", then one row per line of features and XGBoost's own
// predicted probability, every value printed with %.9g ("nan" = missing) so
// it reads back as the exact float32. For tests and benchmarks only.
//
//   absl::StatusOr<GoldenSet> golden =
//       ReadGolden("examples/fraud_scoring/testdata/golden.csv");
//   golden->features;  // row-major, num_rows() x feature_names.size()
//
// Thread-safety: a plain value; ReadGolden is safe from any thread.
#ifndef BRISK_EXAMPLES_FRAUD_SCORING_GOLDEN_H_
#define BRISK_EXAMPLES_FRAUD_SCORING_GOLDEN_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace brisk::fraud_scoring {

struct GoldenSet {
  std::vector<std::string> feature_names;
  std::vector<float> features;  // row-major
  std::vector<float> scores;    // one per row
  size_t num_rows() const { return scores.size(); }
  const float* row(size_t i) const { return features.data() + i * feature_names.size(); }
};

absl::StatusOr<GoldenSet> ReadGolden(const std::string& path);

}  // namespace brisk::fraud_scoring

#endif  // BRISK_EXAMPLES_FRAUD_SCORING_GOLDEN_H_
