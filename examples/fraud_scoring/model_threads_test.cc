// FraudModel starts no threads: loading the model and predicting run on the
// calling thread only (the booster is set to nthread=1 before the model is
// parsed, so XGBoost's OpenMP loops never start libgomp's thread pool). A
// separate test binary, so no earlier test can have started the pool.
#include <filesystem>
#include <vector>

#include "examples/fraud_scoring/model.h"
#include "gtest/gtest.h"

namespace brisk::fraud_scoring {
namespace {

int ThreadCount() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    ++n;
  }
  return n;
}

TEST(ModelThreadsTest, LoadAndPredictStartNoThreads) {
  const int before = ThreadCount();
  auto model = FraudModel::Load("examples/fraud_scoring/model.json");
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<float> rows(128 * (*model)->num_features(), 1.0f);
  std::vector<float> scores(128);
  ASSERT_TRUE((*model)->PredictBatch(rows.data(), 128, scores.data()).ok());
  EXPECT_EQ(ThreadCount(), before);
}

}  // namespace
}  // namespace brisk::fraud_scoring
