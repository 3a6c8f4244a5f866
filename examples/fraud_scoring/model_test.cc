// FraudModel against XGBoost's own predictions (testdata/golden.csv, written
// by train_model.py through python3-xgboost, which loads the same
// libxgboost.so this test links): every score must be bit-for-bit equal,
// row by row, in batches of several sizes, and from several threads at once.
#include "examples/fraud_scoring/model.h"

#include <sys/stat.h>
#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "examples/fraud_scoring/golden.h"
#include "examples/fraud_scoring/test_models.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace brisk::fraud_scoring {
namespace {

constexpr char kModelPath[] = "examples/fraud_scoring/model.json";
constexpr char kGoldenPath[] = "examples/fraud_scoring/testdata/golden.csv";

class ModelTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto model = FraudModel::Load(kModelPath);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = model->release();
    auto golden = ReadGolden(kGoldenPath);
    ASSERT_TRUE(golden.ok()) << golden.status();
    golden_ = new GoldenSet(*std::move(golden));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete golden_;
  }
  static const FraudModel* model_;
  static const GoldenSet* golden_;
};
const FraudModel* ModelTest::model_ = nullptr;
const GoldenSet* ModelTest::golden_ = nullptr;

// Bit-for-bit comparison (EXPECT_EQ on floats would also pass -0 == 0).
::testing::AssertionResult SameFloat(float got, float want) {
  if (std::memcmp(&got, &want, sizeof(float)) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << got << ", XGBoost's own prediction is "
                                       << want << " (diff " << (got - want) << ")";
}

TEST_F(ModelTest, FeatureNamesComeFromTheModelInTrainingOrder) {
  EXPECT_EQ(model_->num_features(), 10u);
  EXPECT_EQ(model_->feature_names(), golden_->feature_names);
}

TEST_F(ModelTest, GoldenRowsOneAtATime) {
  ASSERT_GE(golden_->num_rows(), 100u);
  int missing_rows = 0;
  for (size_t i = 0; i < golden_->num_rows(); ++i) {
    float score = -1;
    ASSERT_TRUE(model_->PredictBatch(golden_->row(i), 1, &score).ok());
    EXPECT_TRUE(SameFloat(score, golden_->scores[i])) << "row " << i;
    for (size_t j = 0; j < model_->num_features(); ++j) {
      if (std::isnan(golden_->row(i)[j])) {
        ++missing_rows;
        break;
      }
    }
  }
  // The golden set exercises XGBoost's missing-value branches too.
  EXPECT_GT(missing_rows, 0);
}

TEST_F(ModelTest, GoldenRowsInBatchesOfEverySize) {
  for (size_t batch : {2, 3, 7, 8, 16, 31, 64, 65, 128, 300}) {
    for (size_t begin = 0; begin < golden_->num_rows(); begin += batch) {
      const size_t n = std::min(batch, golden_->num_rows() - begin);
      std::vector<float> scores(n, -1);
      ASSERT_TRUE(model_->PredictBatch(golden_->row(begin), n, scores.data()).ok());
      for (size_t i = 0; i < n; ++i) {
        EXPECT_TRUE(SameFloat(scores[i], golden_->scores[begin + i]))
            << "batch " << batch << " row " << begin + i;
      }
    }
  }
}

TEST_F(ModelTest, ScoresDependOnTheRow) {
  // Guards against a model that ignores its input: its own scores of the
  // golden rows span a wide range.
  std::vector<float> scores(golden_->num_rows(), -1);
  ASSERT_TRUE(model_->PredictBatch(golden_->row(0), scores.size(), scores.data()).ok());
  float lo = 1, hi = 0;
  for (float s : scores) {
    lo = std::min(lo, s);
    hi = std::max(hi, s);
  }
  EXPECT_LT(lo, 0.01f);
  EXPECT_GT(hi, 0.5f);
}

TEST_F(ModelTest, AllMissingRowIsScored) {
  std::vector<float> row(model_->num_features(), std::nanf(""));
  float score = -1;
  ASSERT_TRUE(model_->PredictBatch(row.data(), 1, &score).ok());
  EXPECT_GT(score, 0.0f);
  EXPECT_LT(score, 1.0f);
}

TEST_F(ModelTest, EmptyBatchAndNullPointers) {
  EXPECT_TRUE(model_->PredictBatch(nullptr, 0, nullptr).ok());
  float score;
  EXPECT_EQ(model_->PredictBatch(nullptr, 1, &score).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model_->PredictBatch(golden_->row(0), 1, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ModelTest, Metadata) {
  const ModelInfo& info = model_->info();
  EXPECT_EQ(info.name, "fraud_gbt");
  EXPECT_EQ(info.version, "1");
  EXPECT_EQ(model_->label(), "fraud_gbt/1");
  // `sha256sum examples/fraud_scoring/model.json` (change it with the model).
  EXPECT_EQ(info.sha256, "e459aa0b9c4d33cc6ffd326420e8fb96cf251593d0305c00aaa9efb9c4aad288");
  EXPECT_EQ(info.booster, "gbtree");
  EXPECT_EQ(info.objective, "binary:logistic");
  EXPECT_EQ(info.num_boosted_rounds, 120);
  EXPECT_EQ(info.num_trees, 120);
  // The one column with missing values in training (train_model.py).
  EXPECT_EQ(info.nullable_features, std::vector<std::string>{"distance_from_home_km"});
  int major, minor, patch;
  XGBoostVersion(&major, &minor, &patch);
  EXPECT_EQ(info.xgboost_version, std::to_string(major) + "." + std::to_string(minor) + "." +
                                      std::to_string(patch));

  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(model_->metadata_json()).get(root), simdjson::SUCCESS)
      << model_->metadata_json();
  uint64_t num_features = 0;
  ASSERT_EQ(root["num_features"].get(num_features), simdjson::SUCCESS);
  EXPECT_EQ(num_features, 10u);
  simdjson::dom::array names;
  ASSERT_EQ(root["feature_names"].get(names), simdjson::SUCCESS);
  ASSERT_EQ(names.size(), 10u);
  std::string_view first;
  ASSERT_EQ(names.at(0).get(first), simdjson::SUCCESS);
  EXPECT_EQ(first, "amount_usd");
  std::string_view sha256;
  ASSERT_EQ(root["sha256"].get(sha256), simdjson::SUCCESS);
  EXPECT_EQ(sha256, info.sha256);
  std::string_view objective;
  ASSERT_EQ(root["objective"].get(objective), simdjson::SUCCESS);
  EXPECT_EQ(objective, "binary:logistic");
  uint64_t seed = 0;
  ASSERT_EQ(root["training"]["seed"].get(seed), simdjson::SUCCESS);
  EXPECT_EQ(seed, 20240611u);
}

// Several threads score overlapping slices of the golden set at once on one
// FraudModel; every score must still be XGBoost's. Run under --config=tsan.
TEST_F(ModelTest, ConcurrentPredictBatchOnOneModel) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 20;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const size_t batch = size_t{1} << t;  // 1, 2, 4, 8 rows per call
      std::vector<float> scores(batch);
      for (int round = 0; round < kRounds; ++round) {
        for (size_t begin = t; begin + batch <= golden_->num_rows(); begin += 7 * batch) {
          if (!model_->PredictBatch(golden_->row(begin), batch, scores.data()).ok()) {
            ++failures[t];
            continue;
          }
          for (size_t i = 0; i < batch; ++i) {
            if (!SameFloat(scores[i], golden_->scores[begin + i])) ++mismatches[t];
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(failures[t], 0) << "thread " << t;
    EXPECT_EQ(mismatches[t], 0) << "thread " << t;
  }
}

// --- Load errors, and models Load refuses --------------------------------

// Trains a tiny model through XGBoost's C API with `params` and saves it as
// JSON to `path`. Labels are 0..classes-1; `with_names` names the features.
void TrainTinyModel(const std::vector<std::pair<const char*, const char*>>& params,
                    int classes, bool with_names, const std::string& path) {
  constexpr int kRows = 64, kCols = 3;
  std::vector<float> x(kRows * kCols), y(kRows);
  for (int i = 0; i < kRows; ++i) {
    for (int j = 0; j < kCols; ++j) x[i * kCols + j] = static_cast<float>((i * 7 + j * 3) % 11);
    y[i] = static_cast<float>((i / 3) % classes);
  }
  DMatrixHandle dm;
  ASSERT_EQ(XGDMatrixCreateFromMat(x.data(), kRows, kCols, std::nanf(""), &dm), 0);
  ASSERT_EQ(XGDMatrixSetFloatInfo(dm, "label", y.data(), kRows), 0);
  if (with_names) {
    const char* names[] = {"a", "b", "c"};
    ASSERT_EQ(XGDMatrixSetStrFeatureInfo(dm, "feature_name", names, kCols), 0);
  }
  BoosterHandle b;
  ASSERT_EQ(XGBoosterCreate(&dm, 1, &b), 0);
  if (with_names) {  // as python's Booster does: names go on the booster too
    const char* names[] = {"a", "b", "c"};
    ASSERT_EQ(XGBoosterSetStrFeatureInfo(b, "feature_name", names, kCols), 0);
  }
  ASSERT_EQ(XGBoosterSetParam(b, "nthread", "1"), 0);
  for (auto [k, v] : params) ASSERT_EQ(XGBoosterSetParam(b, k, v), 0) << k;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(XGBoosterUpdateOneIter(b, i, dm), 0) << XGBGetLastError();
  ASSERT_EQ(XGBoosterSaveModel(b, path.c_str()), 0) << XGBGetLastError();
  XGBoosterFree(b);
  XGDMatrixFree(dm);
}

TEST(ModelLoadTest, MissingFileIsNotFound) {
  auto model = FraudModel::Load(TempPath("no_such_model.json"));
  EXPECT_EQ(model.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(model.status().message().find("no_such_model.json"), std::string_view::npos);
}

// A path that opens but cannot be read (a directory here; EIO on a bad
// disk alike) is an error, not an exception that aborts the binary.
TEST(ModelLoadTest, ADirectoryIsAnErrorNotACrash) {
  const char* dir = std::getenv("TEST_TMPDIR");
  auto model = FraudModel::Load(dir != nullptr ? dir : "/tmp");
  // The code follows errno (EISDIR); it read NotFound whatever the cause.
  EXPECT_EQ(model.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(model.status().message().find("Is a directory"), std::string_view::npos)
      << model.status();
}

// A device is read without end (/dev/zero grew until bad_alloc aborted
// the binary) and a FIFO hung the start in open(): both are refused.
TEST(ModelLoadTest, ADeviceOrAFifoIsRefusedAtOnce) {
  auto device = FraudModel::Load("/dev/zero");
  EXPECT_EQ(device.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(device.status().message().find("not a regular file"), std::string_view::npos)
      << device.status();
  const std::string fifo = TempPath("model.fifo");
  std::remove(fifo.c_str());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto pipe = FraudModel::Load(fifo);  // no writer: open() would block
  EXPECT_EQ(pipe.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(pipe.status().message().find("not a regular file"), std::string_view::npos)
      << pipe.status();
}

TEST(ModelLoadTest, GarbageIsInvalidArgument) {
  // The last is how /etc/passwd starts: XGBoost's whole message for it was
  // "basic_string::_M_replace_aux".
  for (const char* content : {"", "{", "{\"learner\": 1}", "not a model at all",
                              "root:x:0:0:root:/root:/bin/bash\n"}) {
    const std::string path = TempPath("garbage.json");
    std::ofstream(path) << content;
    auto model = FraudModel::Load(path);
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << content;
    // What was tried is said; XGBoost's message is kept, its stack trace is not.
    EXPECT_NE(model.status().message().find("not an XGBoost model"), std::string_view::npos)
        << model.status();
    EXPECT_EQ(model.status().message().find('\n'), std::string_view::npos);
  }
}

TEST(ModelLoadTest, ModelWithoutNamesGetsXgboostDefaultNames) {
  const std::string path = TempPath("unnamed.json");
  TrainTinyModel({{"objective", "binary:logistic"}}, 2, /*with_names=*/false, path);
  auto model = FraudModel::Load(path);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->feature_names(), (std::vector<std::string>{"f0", "f1", "f2"}));
  EXPECT_EQ((*model)->info().name, "unnamed.json");  // no brisk_model_name attribute
  EXPECT_EQ((*model)->label(), "unnamed.json");
}

// The hash is of the file's bytes, not of the trees: a copy that differs
// only by a trailing newline (the same model to XGBoost) hashes apart.
TEST(ModelLoadTest, TheHashIsOfTheFileAsLoaded) {
  std::ifstream in(kModelPath, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(bytes.empty());
  const std::string path = TempPath("model_with_newline.json");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes << '\n';
  }
  auto model = FraudModel::Load(path);
  ASSERT_TRUE(model.ok()) << model.status();
  // `(cat model.json; printf '\n') | sha256sum`
  EXPECT_EQ((*model)->info().sha256,
            "11017a6a58df06682f0c80dc6fcae53e8fcc0334125c1029c31d1fc6bafe4925");
  EXPECT_EQ((*model)->info().num_boosted_rounds, 120);
}

TEST(ModelLoadTest, NamedTinyModelPredicts) {
  const std::string path = TempPath("named.json");
  TrainTinyModel({{"objective", "binary:logistic"}}, 2, /*with_names=*/true, path);
  auto model = FraudModel::Load(path);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->feature_names(), (std::vector<std::string>{"a", "b", "c"}));
  const float rows[6] = {1, 2, 3, 4, 5, 6};
  float scores[2] = {-1, -1};
  ASSERT_TRUE((*model)->PredictBatch(rows, 2, scores).ok());
  EXPECT_GT(scores[0], 0.0f);
  EXPECT_LT(scores[0], 1.0f);
}

TEST(ModelLoadTest, RejectsModelsItCannotServe) {
  struct Row {
    const char* file;
    std::vector<std::pair<const char*, const char*>> params;
    int classes;
    const char* error;
  } rows[] = {
      {"linear.json", {{"objective", "binary:logistic"}, {"booster", "gblinear"}}, 2, "gblinear"},
      {"softprob.json",
       {{"objective", "multi:softprob"}, {"num_class", "3"}},
       3,
       "\"multi:softprob\", whose output is not a probability"},
      // Single-output models whose output is not P(fraud): served, they
      // answered class indices, margins and regression values as "score".
      {"softmax.json",
       {{"objective", "multi:softmax"}, {"num_class", "3"}},
       3,
       "\"multi:softmax\", whose output is not a probability"},
      {"logitraw.json",
       {{"objective", "binary:logitraw"}},
       2,
       "\"binary:logitraw\", whose output is not a probability"},
      {"squared.json",
       {{"objective", "reg:squarederror"}},
       2,
       "\"reg:squarederror\", whose output is not a probability"},
  };
  for (const Row& r : rows) {
    const std::string path = TempPath(r.file);
    TrainTinyModel(r.params, r.classes, /*with_names=*/true, path);
    auto model = FraudModel::Load(path);
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << r.file;
    EXPECT_NE(model.status().message().find(r.error), std::string_view::npos)
        << model.status();
  }
}

TEST(ModelLoadTest, RegLogisticIsAProbabilityToo) {
  const std::string path = TempPath("reg_logistic.json");
  TrainTinyModel({{"objective", "reg:logistic"}}, 2, /*with_names=*/true, path);
  auto model = FraudModel::Load(path);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->info().objective, "reg:logistic");
}

// The shipped model with one edit, written to a temp file.
std::string EditedModel(const std::string& name, const std::string& from, const std::string& to) {
  std::string text = ShippedModelText();
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return WriteTemp(name, text);
}

// XGBoost >= 3.1 writes base_score as an array; the XGBoost linked here
// read it as 0.5 without a word and every score moved (0.0023 for a row
// the model scores 0.0007).
TEST(ModelLoadTest, AnArrayBaseScoreIsRefusedNotReadAsOneHalf) {
  const std::string path = EditedModel("array_base_score.json", "\"base_score\":\"5E-1\"",
                                       "\"base_score\":\"[2.4E-1]\"");
  auto model = FraudModel::Load(path);
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find("base_score \"[2.4E-1]\", not a number"),
            std::string_view::npos)
      << model.status();
}

// A JSON model missing a key XGBoost 1.7 reads with std::map::at failed
// with "map::at" alone; the message names the key.
TEST(ModelLoadTest, AJsonModelMissingAKeyNamesIt) {
  struct Row {
    const char* from;
    const char* to;
    const char* key;
  };
  for (const Row& row :
       {Row{"\"attributes\":{", "\"attributez\":{", "learner/attributes"},
        Row{"\"objective\":{\"name\"", "\"objectivez\":{\"name\"", "learner/objective"},
        Row{"\"learner\":{", "\"learnerz\":{", "learner\""}}) {
    SCOPED_TRACE(row.key);
    const std::string path = EditedModel("missing_key.json", row.from, row.to);
    auto model = FraudModel::Load(path);
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(model.status().message().find(std::string("it has no \"") + row.key),
              std::string_view::npos)
        << model.status();
  }
}

// A num_feature below the features the trees split on made prediction
// read past each row: scores changed from call to call.
TEST(ModelLoadTest, SplitsOnFeaturesPastNumFeatureAreRefused) {
  const std::string path =
      EditedModel("small_num_feature.json", "\"num_class\":\"0\",\"num_feature\":\"10\"",
                  "\"num_class\":\"0\",\"num_feature\":\"5\"");
  auto model = FraudModel::Load(path);
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find("not below num_feature (5)"), std::string_view::npos)
      << model.status();
}

// The shipped model with the value at `index` of the node array `key` of
// tree `tree` replaced by `value` (removed when `value` is empty), written
// to a temp file.
std::string ModelWithNodeValue(const std::string& key, size_t tree, size_t index,
                               const std::string& value) {
  const std::string text = WithNodeValue(ShippedModelText(), key, tree, index, value);
  EXPECT_FALSE(text.empty()) << key << "[" << index << "] of tree " << tree;
  return WriteTemp("edited_tree.json", text);
}

// `text` with what starts at `begin` and ends before the next `end` after
// it replaced by `with`.
std::string ReplacedUpTo(std::string text, size_t begin, const std::string& end,
                         const std::string& with) {
  const size_t at = begin == std::string::npos ? begin : text.find(end, begin);
  EXPECT_NE(at, std::string::npos) << end;
  if (at != std::string::npos) text.replace(begin, at - begin, with);
  return text;
}

void ExpectRefused(const std::string& path, const std::string& error) {
  auto model = FraudModel::Load(path);
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << model.status();
  EXPECT_NE(model.status().message().find(error), std::string_view::npos) << model.status();
  EXPECT_NE(model.status().message().find(path), std::string_view::npos) << model.status();
}

// A corrupt tree loaded and then crashed the first prediction (a child
// index far past the tree), or made it loop forever and pin a worker (a
// child pointing back at its parent), or was read by XGBoost as it was.
// Each rule of the structure check, on tree 0 (31 nodes; 0..14 inner,
// 15..30 leaves) or tree 3.
TEST(ModelLoadTest, ACorruptTreeIsRefusedAtLoad) {
  struct Row {
    const char* key;
    size_t tree;
    size_t index;
    const char* value;
    const char* error;
  };
  for (const Row& row : {
           Row{"left_children", 0, 0, "1000000",
               "tree 0 node 0 has child 1000000, not after it among the 31 nodes"},
           Row{"left_children", 0, 0, "0", "tree 0 node 0 has child 0, not after it"},
           Row{"right_children", 3, 2, "1", "tree 3 node 2 has child 1, not after it"},
           Row{"right_children", 0, 0, "1", "tree 0 node 0 has node 1 as both children"},
           Row{"right_children", 0, 15, "20",
               "tree 0 node 15 has children -1 and 20: a leaf has -1 for both"},
           Row{"left_children", 0, 14, "-1",
               "tree 0 node 14 has children -1 and 30: a leaf has -1 for both"},
           Row{"split_conditions", 0, 17, "1E39",
               "tree 0 node 17 has split_conditions 1e+39, not a finite 32-bit float"},
           Row{"split_conditions", 0, 3, "-1E39", "tree 0 node 3 has split_conditions -1e+39"},
           Row{"default_left", 3, 0, "", "tree 3 has 24 \"default_left\" for 25 \"left_children\""},
           Row{"split_indices", 0, 30, "", "tree 0 has 30 \"split_indices\" for 31"},
           Row{"split_conditions", 0, 30, "", "tree 0 has 30 \"split_conditions\" for 31"},
           Row{"right_children", 0, 30, "", "tree 0 has 30 \"right_children\" for 31"},
           Row{"parents", 0, 30, "", "tree 0 has 30 \"parents\" for 31"},
           Row{"base_weights", 0, 30, "", "tree 0 has 30 \"base_weights\" for 31"},
           Row{"left_children", 0, 3, "7.5",
               "tree 0 has no \"left_children\" array of numbers of the right type"},
       }) {
    SCOPED_TRACE(std::string(row.key) + "[" + std::to_string(row.index) + "] = " + row.value);
    ExpectRefused(ModelWithNodeValue(row.key, row.tree, row.index, row.value), row.error);
  }
}

TEST(ModelLoadTest, ATreeWithoutNodesOrANodeArrayIsRefused) {
  ExpectRefused(
      EditedModel("no_split_conditions.json", "\"split_conditions\":[", "\"split_conditionz\":["),
      "tree 0 has no \"split_conditions\" array");
  ExpectRefused(EditedModel("no_default_left.json", "\"default_left\":[", "\"default_lefz\":["),
                "tree 0 has no \"default_left\"");
  // Every node array of tree 0 emptied.
  const std::string text = ShippedModelText();
  const std::string empty = ReplacedUpTo(
      text, text.find("{\"base_weights\":["), "\"tree_param\":",
      "{\"base_weights\":[],\"categories\":[],\"categories_nodes\":[],"
      "\"categories_segments\":[],\"categories_sizes\":[],\"default_left\":[],\"id\":0,"
      "\"left_children\":[],\"loss_changes\":[],\"parents\":[],\"right_children\":[],"
      "\"split_conditions\":[],\"split_indices\":[],\"split_type\":[],"
      "\"sum_hessian\":[],");
  ExpectRefused(WriteTemp("empty_tree.json", empty), "tree 0 has no nodes");
}

// XGBoost places each tree by its id: a repeated one left a tree unset and
// the first prediction crashed.
TEST(ModelLoadTest, ATreeIdThatIsNotItsPositionIsRefused) {
  ExpectRefused(EditedModel("repeated_id.json", "\"id\":1,", "\"id\":0,"),
                "tree 1 has \"id\" 0, not its position 1");
}

// XGBoost writes a non-finite number as NaN (JSON has none) and loads it:
// a NaN leaf would have been served. Such a file is not JSON to simdjson,
// so it is refused before XGBoost reads it.
TEST(ModelLoadTest, ANanLeafIsRefused) {
  ExpectRefused(ModelWithNodeValue("split_conditions", 0, 17, "NaN"), "is not valid JSON");
  ExpectRefused(ModelWithNodeValue("split_conditions", 0, 17, "Infinity"), "is not valid JSON");
}

// A truncated tree list loaded and changed every score; a model without
// trees answered 0.5 to everything; a short tree_info crashed prediction.
TEST(ModelLoadTest, TheTreeCountMustMatchTheModelsOwn) {
  ExpectRefused(EditedModel("num_trees.json", "\"num_trees\":\"120\"", "\"num_trees\":\"121\""),
                "has 120 trees but gbtree_model_param says num_trees \"121\"");
  // The last tree cut from the list.
  const std::string text = ShippedModelText();
  constexpr char kTreesEnd[] = "]},\"name\":\"gbtree\"";
  ExpectRefused(WriteTemp("truncated_trees.json",
                          ReplacedUpTo(text, text.rfind(",{\"base_weights\":["), kTreesEnd, "")),
                "has 119 trees but gbtree_model_param says num_trees \"120\"");
  // No trees at all.
  ExpectRefused(
      WriteTemp("no_trees.json", ReplacedUpTo(text, text.find("\"trees\":[") + 9, kTreesEnd, "")),
      "has no trees");

  ExpectRefused(EditedModel("short_tree_info.json", "\"tree_info\":[0,", "\"tree_info\":["),
                "has a \"tree_info\" that is not one output group (0 to 0) per tree");
  ExpectRefused(EditedModel("bad_tree_info.json", "\"tree_info\":[0,", "\"tree_info\":[5,"),
                "has a \"tree_info\" that is not one output group (0 to 0) per tree");
}

// SimpleAtod reads "nan" and "inf": such a base_score loaded. A logistic
// objective needs a probability, strictly between 0 and 1 (XGBoost itself
// refused 0 and 1 only at the first prediction, with a message about
// the prediction's shape).
TEST(ModelLoadTest, ABaseScoreThatIsNoProbabilityIsRefused) {
  for (const char* value : {"nan", "inf", "-inf", "0E0", "1E0", "2E0", "-5E-1"}) {
    SCOPED_TRACE(value);
    ExpectRefused(EditedModel("bad_base_score.json", "\"base_score\":\"5E-1\"",
                              std::string("\"base_score\":\"") + value + "\""),
                  std::string("has base_score \"") + value +
                      "\": a probability objective needs a finite base_score strictly between "
                      "0 and 1");
  }
}

// The edits above start from the shipped model, which loads: the check
// refuses them for what was changed.
TEST(ModelLoadTest, TheShippedModelPassesTheChecks) {
  auto model = FraudModel::Load(WriteTemp("shipped_copy.json", ShippedModelText()));
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->info().num_trees, 120);
}

// XGBoost reads a NaN leaf from a UBJSON model, whose trees Load's JSON
// checks do not see. Here it is the leaf of tree 0 that a row of missing
// values reaches (leaf 29), so the warm-up prediction is NaN: Load refuses
// the model rather than serve it.
TEST(ModelLoadTest, AModelWhoseWarmUpScoreIsNotFiniteIsRefused) {
  const std::string path = TempPath("nan_warm_up.ubj");
  ASSERT_TRUE(
      SaveAsUbjson(WithNodeValue(ShippedModelText(), "split_conditions", 0, 29, "NaN"), path).ok());
  ExpectRefused(path, "to a row of missing values: a score must be finite");
}

// The shipped model with the attribute brisk_nullable_features set to
// `value` (its JSON text; quotes are escaped here), written to a temp file.
std::string ModelWithNullable(const std::string& value) {
  std::string escaped;
  for (char c : value) {
    if (c == '"' || c == '\\') escaped.push_back('\\');
    escaped.push_back(c);
  }
  std::string text = ShippedModelText();
  const std::string attributes = "\"attributes\":{";
  const size_t at = text.find(attributes);
  EXPECT_NE(at, std::string::npos);
  // A key of its own; XGBoost reads the attributes in any order.
  text.insert(at + attributes.size(), "\"brisk_nullable_features\":\"" + escaped + "\",");
  const size_t existing = text.find("\"brisk_nullable_features\"", at + attributes.size() + 1);
  if (existing != std::string::npos) {  // the shipped model's own, renamed
    text.replace(existing, 25, "\"brisk_nullable_featurez\"");
  }
  return WriteTemp("nullable.json", text);
}

TEST(ModelLoadTest, TheNullableFeaturesComeFromTheModelsAttribute) {
  auto model = FraudModel::Load(ModelWithNullable("[\"card_present\", \"distance_from_home_km\"]"));
  ASSERT_TRUE(model.ok()) << model.status();
  // In row order, whatever the attribute's.
  EXPECT_EQ((*model)->info().nullable_features,
            (std::vector<std::string>{"distance_from_home_km", "card_present"}));
  EXPECT_EQ((*model)->info().nullable, (std::vector<bool>{false, false, false, false, true, false,
                                                          false, false, true, false}));
  EXPECT_NE((*model)->metadata_json().find(
                ",\"nullable_features\":[\"distance_from_home_km\",\"card_present\"]"),
            std::string::npos)
      << (*model)->metadata_json();
  // An empty list: no feature may be missing.
  model = FraudModel::Load(ModelWithNullable("[]"));
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->info().nullable, std::vector<bool>(10, false));
  EXPECT_NE((*model)->metadata_json().find(",\"nullable_features\":[]"), std::string::npos);
}

// A model without the attribute (a team's own): every feature may be
// missing, as XGBoost itself allows.
TEST(ModelLoadTest, WithoutTheAttributeEveryFeatureIsNullable) {
  const std::string path = TempPath("no_nullable_attribute.json");
  TrainTinyModel({{"objective", "binary:logistic"}}, 2, /*with_names=*/true, path);
  auto model = FraudModel::Load(path);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->info().nullable_features, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ((*model)->info().nullable, std::vector<bool>(3, true));
  EXPECT_NE((*model)->metadata_json().find(",\"nullable_features\":[\"a\",\"b\",\"c\"]"),
            std::string::npos)
      << (*model)->metadata_json();
}

TEST(ModelLoadTest, ABadNullableAttributeIsRefused) {
  struct Row {
    const char* value;
    const char* error;
  };
  for (const Row& row : {
           Row{"distance_from_home_km", "not a JSON array"},
           Row{"{\"distance_from_home_km\": 1}", "not a JSON array"},
           Row{"[4]", "an element is not a string"},
           Row{"[\"distance\"]", "\"distance\" is not a feature of the model"},
           Row{"[\"card_present\", \"card_present\"]", "\"card_present\" is named twice"},
       }) {
    SCOPED_TRACE(row.value);
    ExpectRefused(ModelWithNullable(row.value),
                  std::string("has brisk_nullable_features ") + row.value + ": " + row.error +
                      "; it must be a JSON array of the names of the features that may be missing");
  }
}

TEST_F(ModelTest, MetadataSaysTheEarlyStoppingIterationAllTreesAreUsed) {
  EXPECT_NE(model_->metadata_json().find("\"best_iteration\":119"), std::string::npos)
      << model_->metadata_json();
}

}  // namespace
}  // namespace brisk::fraud_scoring
