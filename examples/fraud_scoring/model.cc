#include "examples/fraud_scoring/model.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xgboost/c_api.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "examples/fraud_scoring/json_format.h"
#include "simdjson.h"

namespace brisk::fraud_scoring {
namespace {

// Configuration of every prediction (see XGBoosterPredictFromDMatrix in
// xgboost/c_api.h): probabilities (type 0) from all trees, NaN as missing,
// strict shape so a single-output model answers [rows, 1].
constexpr char kPredictConfig[] =
    "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
    "\"iteration_end\": 0, \"strict_shape\": true, \"cache_id\": 0, "
    "\"missing\": NaN}";

// XGBoost's last error on this thread, first line only (XGBoost appends a
// stack trace after it).
std::string LastXgbError() {
  const char* e = XGBGetLastError();
  std::string_view msg = e == nullptr ? "" : e;
  msg = msg.substr(0, msg.find('\n'));
  return std::string(msg);
}

absl::Status XgbStatus(absl::StatusCode code, std::string_view what) {
  return absl::Status(code, std::string(what) + ": " + LastXgbError());
}

// SHA-256 of `bytes` in lowercase hex, or "" if OpenSSL cannot digest
// (no SHA-256 provider loaded).
std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    return "";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

struct BoosterDeleter {
  void operator()(void* b) const { XGBoosterFree(static_cast<BoosterHandle>(b)); }
};
using BoosterPtr = std::unique_ptr<void, BoosterDeleter>;

// A numpy __array_interface__ (version 3) describing `num_rows` x `num_cols`
// little-endian float32 values at `data`, read-only, as XGBoost expects it.
// Written with snprintf into a stack buffer: no allocation per call.
struct ArrayInterface {
  char text[160];
  ArrayInterface(const float* data, size_t num_rows, size_t num_cols) {
    std::snprintf(text, sizeof(text),
                  "{\"data\": [%zu, true], \"shape\": [%zu, %zu], "
                  "\"typestr\": \"<f4\", \"version\": 3}",
                  reinterpret_cast<size_t>(data), num_rows, num_cols);
  }
};

// `proxy`: a proxy DMatrix used by this call alone, or null (XGBoost then
// makes a fresh one).
absl::Status Predict(BoosterHandle booster, DMatrixHandle proxy, const float* rows,
                     size_t num_rows, size_t num_features, float* scores_out) {
  const ArrayInterface iface(rows, num_rows, num_features);
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  if (XGBoosterPredictFromDense(booster, iface.text, kPredictConfig, proxy, &shape, &dim,
                                &result) != 0) {
    return XgbStatus(absl::StatusCode::kInternal, "XGBoosterPredictFromDense");
  }
  if (dim != 2 || shape[0] != num_rows || shape[1] != 1) {
    return absl::InternalError("XGBoost returned an unexpected prediction shape");
  }
  // `result` is XGBoost's thread-local buffer: copy before the next call.
  std::memcpy(scores_out, result, num_rows * sizeof(float));
  return absl::OkStatus();
}

// Far above any tree model a latency-bound service would load (the shipped
// one is 248 KB), and below what a start should try to allocate.
constexpr uint64_t kMaxModelBytes = uint64_t{1} << 30;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  // POSIX reads, not an ifstream: libstdc++ throws from a stream iterator
  // on a read error (a directory, EIO on a bad disk), which aborted the
  // binary instead of refusing the model.
  const auto fail = [&path](int error) {
    // The status code follows errno (ENOENT: NotFound, EACCES:
    // PermissionDenied, EIO: Unavailable, ...).
    return absl::Status(
        absl::ErrnoToStatusCode(error),
        absl::StrCat("cannot read model file ", path, ": ", std::strerror(error)));
  };
  // O_NONBLOCK: a FIFO given by mistake must not hang the start in open()
  // (it is refused below; reads of a regular file ignore the flag).
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return fail(errno);
  absl::Cleanup close_fd = [fd] { close(fd); };
  struct stat st;
  if (fstat(fd, &st) != 0) return fail(errno);
  if (S_ISDIR(st.st_mode)) return fail(EISDIR);
  // A device (/dev/zero) or a pipe would be read without end.
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read model file ", path, ": not a regular file"));
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxModelBytes) {
    return absl::InvalidArgumentError(absl::StrCat("model file ", path, " has ", st.st_size,
                                                   " bytes, more than the ", kMaxModelBytes,
                                                   " a model may have here"));
  }
  std::string bytes;
  bytes.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno);  // EIO on a bad disk, ...
    }
    bytes.append(buf, static_cast<size_t>(n));
  }
  return bytes;
}

// Returns the string at `path` (keys) under `root`, or "" when absent.
std::string ConfigString(simdjson::dom::element root, std::initializer_list<const char*> path) {
  simdjson::dom::element e = root;
  for (const char* key : path) {
    if (e.at_key(key).get(e) != simdjson::SUCCESS) return "";
  }
  std::string_view s;
  if (e.get(s) != simdjson::SUCCESS) return "";
  return std::string(s);
}

// Fills the parts of `info` that come from the booster's JSON configuration.
absl::Status ReadConfig(BoosterHandle booster, ModelInfo* info) {
  bst_ulong len = 0;
  const char* text = nullptr;
  if (XGBoosterSaveJsonConfig(booster, &len, &text) != 0) {
    return XgbStatus(absl::StatusCode::kInternal, "XGBoosterSaveJsonConfig");
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(text, len).get(root) != simdjson::SUCCESS) {
    return absl::InternalError("XGBoost's configuration is not valid JSON");
  }
  info->booster = ConfigString(root, {"learner", "gradient_booster", "name"});
  info->objective = ConfigString(root, {"learner", "objective", "name"});
  info->base_score = ConfigString(root, {"learner", "learner_model_param", "base_score"});
  // gbtree keeps its model parameters at the top; dart wraps a gbtree.
  std::string trees =
      ConfigString(root, {"learner", "gradient_booster", "gbtree_model_param", "num_trees"});
  if (trees.empty()) {
    trees = ConfigString(
        root, {"learner", "gradient_booster", "gbtree", "gbtree_model_param", "num_trees"});
  }
  info->num_trees = trees.empty() ? 0 : std::atoi(trees.c_str());
  return absl::OkStatus();
}

// The value of attribute `key`, or "" when the model has none.
absl::StatusOr<std::string> Attribute(BoosterHandle booster, const char* key) {
  const char* value = nullptr;
  int found = 0;
  if (XGBoosterGetAttr(booster, key, &value, &found) != 0) {
    return XgbStatus(absl::StatusCode::kInternal, "XGBoosterGetAttr");
  }
  return found && value != nullptr ? std::string(value) : std::string();
}

absl::StatusOr<std::vector<std::string>> FeatureNames(BoosterHandle booster) {
  bst_ulong num_features = 0;
  if (XGBoosterGetNumFeature(booster, &num_features) != 0) {
    return XgbStatus(absl::StatusCode::kInvalidArgument, "XGBoosterGetNumFeature");
  }
  if (num_features == 0) return absl::InvalidArgumentError("the model has no features");
  bst_ulong len = 0;
  const char** names = nullptr;
  if (XGBoosterGetStrFeatureInfo(booster, "feature_name", &len, &names) != 0) {
    return XgbStatus(absl::StatusCode::kInternal, "XGBoosterGetStrFeatureInfo");
  }
  std::vector<std::string> out;
  if (len == 0) {  // trained without names: XGBoost's own default names
    for (bst_ulong i = 0; i < num_features; ++i) out.push_back("f" + std::to_string(i));
    return out;
  }
  if (len != num_features) {
    return absl::InvalidArgumentError("the model has " + std::to_string(num_features) +
                                      " features but " + std::to_string(len) + " names");
  }
  for (bst_ulong i = 0; i < len; ++i) out.emplace_back(names[i]);
  return out;
}

// "training" must be embedded as a JSON object: keep it only when it is one,
// minified by simdjson (so it is valid JSON whatever the attribute held).
std::string TrainingJson(const std::string& attribute) {
  if (attribute.empty()) return "";
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(attribute).get(root) != simdjson::SUCCESS || !root.is_object()) return "";
  return simdjson::minify(root);
}

std::string MetadataJson(const ModelInfo& info) {
  std::string out = "{\"name\":";
  AppendJsonString(info.name, &out);
  out += ",\"version\":";
  AppendJsonString(info.version, &out);
  out += ",\"sha256\":";
  AppendJsonString(info.sha256, &out);
  out += ",\"booster\":";
  AppendJsonString(info.booster, &out);
  out += ",\"objective\":";
  AppendJsonString(info.objective, &out);
  out += ",\"base_score\":";
  AppendJsonString(info.base_score, &out);
  out += ",\"num_features\":" + std::to_string(info.feature_names.size());
  out += ",\"feature_names\":[";
  for (size_t i = 0; i < info.feature_names.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(info.feature_names[i], &out);
  }
  out += "],\"num_boosted_rounds\":" + std::to_string(info.num_boosted_rounds);
  out += ",\"num_trees\":" + std::to_string(info.num_trees);
  out += ",\"xgboost_version\":";
  AppendJsonString(info.xgboost_version, &out);
  // Saved by early stopping; every tree is used all the same (as XGBoost's
  // own Booster.predict does; the sklearn wrapper stops at it).
  if (int64_t best = 0; absl::SimpleAtoi(info.best_iteration, &best)) {
    out += ",\"best_iteration\":" + std::to_string(best);
  }
  if (!info.training_json.empty()) out += ",\"training\":" + info.training_json;
  out.push_back('}');
  return out;
}

// Checks a JSON model file before XGBoost reads it, for what XGBoost 1.7
// itself does not check (found by an outside review, each giving wrong
// scores without a word):
//  - base_score must be a number: XGBoost >= 3.1 writes it as an array
//    ("[2.4E-1]"), which 1.7 silently replaces with 0.5, shifting every
//    score;
//  - every tree's split_indices must be below num_feature: a smaller
//    num_feature made prediction read past the end of each row (scores
//    changed from call to call), a far larger index crashed the load.
// Other formats (UBJSON, binary) are handed to XGBoost as they are.
absl::Status CheckJsonModel(const std::string& path, const std::string& bytes) {
  const size_t first = bytes.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || bytes[first] != '{') return absl::OkStatus();
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(bytes).get(root) != simdjson::SUCCESS) {
    return absl::OkStatus();  // XGBoost's own error says more
  }
  // What XGBoost 1.7 reads with std::map::at: a file without one of these
  // failed with that bare text ("map::at"); name the key instead.
  simdjson::dom::object top;
  if (root.get(top) != simdjson::SUCCESS) return absl::OkStatus();  // XGBoost says
  for (const char* key : {"/learner", "/learner/attributes", "/learner/gradient_booster",
                          "/learner/learner_model_param", "/learner/objective"}) {
    if (root.at_pointer(key).error() != simdjson::SUCCESS) {
      return absl::InvalidArgumentError(
          "model " + path + " is JSON but not an XGBoost model: it has no \"" +
          std::string(key + 1) +
          "\" (XGBoost writes one in every JSON model it saves; was the file trimmed "
          "or written by hand?)");
    }
  }
  simdjson::dom::element learner;
  if (root.at_key("learner").get(learner) != simdjson::SUCCESS) return absl::OkStatus();
  const std::string base_score = ConfigString(learner, {"learner_model_param", "base_score"});
  double unused = 0;
  if (!base_score.empty() && !absl::SimpleAtod(base_score, &unused)) {
    return absl::InvalidArgumentError(
        "model " + path + " has base_score \"" + base_score +
        "\", not a number: it was saved by a newer XGBoost (3.1 and later write an array), "
        "which the XGBoost linked here would read as 0.5 and shift every score; write the "
        "single intercept as a number (\"2.4E-1\"), or save the model with XGBoost < 3.1");
  }
  const std::string num_feature_text =
      ConfigString(learner, {"learner_model_param", "num_feature"});
  uint64_t num_feature = 0;
  if (!absl::SimpleAtoi(num_feature_text, &num_feature)) return absl::OkStatus();
  // gbtree keeps its trees under "model"; dart wraps a gbtree.
  simdjson::dom::array trees;
  if (learner.at_pointer("/gradient_booster/model/trees").get(trees) != simdjson::SUCCESS &&
      learner.at_pointer("/gradient_booster/gbtree/model/trees").get(trees) != simdjson::SUCCESS) {
    return absl::OkStatus();
  }
  size_t tree_index = 0;
  for (simdjson::dom::element tree : trees) {
    simdjson::dom::array splits;
    simdjson::dom::array left;
    if (tree.at_key("split_indices").get(splits) == simdjson::SUCCESS &&
        tree.at_key("left_children").get(left) == simdjson::SUCCESS) {
      auto child = left.begin();
      for (simdjson::dom::element split : splits) {
        int64_t left_child = -1;
        if (child != left.end()) {
          if ((*child).get(left_child) != simdjson::SUCCESS) left_child = -1;
          ++child;
        }
        if (left_child == -1) continue;  // a leaf: its index is unused
        uint64_t feature = 0;
        if (split.get(feature) != simdjson::SUCCESS || feature >= num_feature) {
          return absl::InvalidArgumentError(
              "model " + path + ": tree " + std::to_string(tree_index) +
              " splits on a feature index that is not below num_feature (" + num_feature_text +
              "); the file is inconsistent");
        }
      }
    }
    ++tree_index;
  }
  return absl::OkStatus();
}

// What a score means: only these objectives give P(fraud) per row.
bool GivesProbability(std::string_view objective) {
  return objective == "binary:logistic" || objective == "reg:logistic";
}

}  // namespace

absl::StatusOr<std::unique_ptr<FraudModel>> FraudModel::Load(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  if (absl::Status s = CheckJsonModel(path, *bytes); !s.ok()) return s;

  BoosterHandle handle = nullptr;
  if (XGBoosterCreate(nullptr, 0, &handle) != 0) {
    return XgbStatus(absl::StatusCode::kInternal, "XGBoosterCreate");
  }
  BoosterPtr booster(handle);
  // One thread from the start. XGBoost parses the trees of a JSON model in
  // an OpenMP loop sized by the booster's context, which only a
  // configuration pass updates: set nthread=1 and configure the empty
  // booster (XGBoosterSaveJsonConfig does; an empty booster needs some
  // num_feature to configure, which the loaded model then replaces) before
  // loading, so not even the load starts OpenMP threads. Set nthread again
  // after loading, before the first prediction: changing a parameter later
  // would make XGBoost reconfigure, which is not safe while threads predict.
  bst_ulong unused_len = 0;
  const char* unused_config = nullptr;
  if (XGBoosterSetParam(handle, "nthread", "1") != 0 ||
      XGBoosterSetParam(handle, "num_feature", "1") != 0 ||
      XGBoosterSaveJsonConfig(handle, &unused_len, &unused_config) != 0) {
    return XgbStatus(absl::StatusCode::kInternal, "configuring nthread=1");
  }
  if (XGBoosterLoadModelFromBuffer(handle, bytes->data(), bytes->size()) != 0) {
    // XGBoost's message alone may be a bare C++ exception text
    // ("basic_string::_M_replace_aux" for a text file): say what was tried.
    return XgbStatus(absl::StatusCode::kInvalidArgument,
                     "cannot load model " + path +
                         ": not an XGBoost model (JSON, UBJSON or binary format); XGBoost said");
  }
  if (XGBoosterSetParam(handle, "nthread", "1") != 0) {
    return XgbStatus(absl::StatusCode::kInternal, "XGBoosterSetParam(nthread)");
  }

  ModelInfo info;
  // Which file is serving, byte for byte: what an operator compares with
  // `sha256sum` of the file a rollout meant to ship.
  info.sha256 = Sha256Hex(*bytes);
  absl::StatusOr<std::vector<std::string>> names = FeatureNames(handle);
  if (!names.ok()) return names.status();
  info.feature_names = *std::move(names);

  if (absl::Status s = ReadConfig(handle, &info); !s.ok()) return s;
  if (info.booster != "gbtree" && info.booster != "dart") {
    return absl::InvalidArgumentError("model " + path + " uses booster \"" + info.booster +
                                      "\"; only gbtree and dart predict thread-safely");
  }
  // The service answers a probability ("score"); a margin, a class index or
  // a regression value would be served under the same name.
  if (!GivesProbability(info.objective)) {
    return absl::InvalidArgumentError(
        "model " + path + " has objective \"" + info.objective +
        "\", whose output is not a probability; the service serves binary:logistic "
        "(or reg:logistic) models");
  }
  // Warm-up: finishes XGBoost's lazy configuration (under its own lock) and
  // checks that the model gives one probability per row.
  std::vector<float> row(info.feature_names.size(), std::numeric_limits<float>::quiet_NaN());
  float score = 0;
  if (absl::Status s = Predict(handle, nullptr, row.data(), 1, row.size(), &score); !s.ok()) {
    return absl::InvalidArgumentError("model " + path +
                                      " does not give one score per row: " +
                                      std::string(s.message()));
  }

  if (XGBoosterBoostedRounds(handle, &info.num_boosted_rounds) != 0) {
    return XgbStatus(absl::StatusCode::kInternal, "XGBoosterBoostedRounds");
  }
  int major = 0, minor = 0, patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  info.xgboost_version =
      std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);

  for (auto [key, field] :
       {std::pair{"brisk_model_name", &info.name}, std::pair{"brisk_model_version", &info.version},
        std::pair{"brisk_training", &info.training_json},
        std::pair{"best_iteration", &info.best_iteration}}) {
    absl::StatusOr<std::string> value = Attribute(handle, key);
    if (!value.ok()) return value.status();
    *field = *std::move(value);
  }
  info.training_json = TrainingJson(info.training_json);
  if (info.name.empty()) info.name = path.substr(path.find_last_of('/') + 1);

  return std::unique_ptr<FraudModel>(new FraudModel(booster.release(), std::move(info)));
}

FraudModel::FraudModel(void* booster, ModelInfo info)
    : booster_(booster), info_(std::move(info)) {
  label_ = info_.version.empty() ? info_.name : info_.name + "/" + info_.version;
  metadata_json_ = MetadataJson(info_);
}

FraudModel::~FraudModel() {
  std::lock_guard<std::mutex> lock(proxies_mu_);
  for (void* proxy : idle_proxies_) XGDMatrixFree(static_cast<DMatrixHandle>(proxy));
  XGBoosterFree(static_cast<BoosterHandle>(booster_));
}

void* FraudModel::AcquireProxy() const {
  {
    std::lock_guard<std::mutex> lock(proxies_mu_);
    if (!idle_proxies_.empty()) {
      void* proxy = idle_proxies_.back();
      idle_proxies_.pop_back();
      return proxy;
    }
  }
  DMatrixHandle proxy = nullptr;
  if (XGProxyDMatrixCreate(&proxy) != 0) return nullptr;  // XGBoost makes its own
  return proxy;
}

void FraudModel::ReleaseProxy(void* proxy) const {
  if (proxy == nullptr) return;
  std::lock_guard<std::mutex> lock(proxies_mu_);
  idle_proxies_.push_back(proxy);
}

absl::Status FraudModel::PredictBatch(const float* rows, size_t num_rows,
                                      float* scores_out) const {
  if (num_rows == 0) return absl::OkStatus();
  if (rows == nullptr || scores_out == nullptr) {
    return absl::InvalidArgumentError("PredictBatch: null rows or scores");
  }
  if (num_rows > std::numeric_limits<size_t>::max() / sizeof(float) / num_features()) {
    return absl::InvalidArgumentError("PredictBatch: too many rows");
  }
  void* proxy = AcquireProxy();
  absl::Status status = Predict(static_cast<BoosterHandle>(booster_), proxy, rows, num_rows,
                                num_features(), scores_out);
  ReleaseProxy(proxy);
  return status;
}

}  // namespace brisk::fraud_scoring
