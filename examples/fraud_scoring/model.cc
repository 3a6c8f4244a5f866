#include "examples/fraud_scoring/model.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xgboost/c_api.h>

#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
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

// ["a","b",...] (JSON strings).
void AppendJsonStringArray(const std::vector<std::string>& strings, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < strings.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(strings[i], out);
  }
  out->push_back(']');
}

// Fills info->nullable_features and info->nullable from the attribute
// brisk_nullable_features (`attribute`; "" when the model has none: then
// every feature may be null, as XGBoost itself allows).
absl::Status ReadNullable(const std::string& path, const std::string& attribute, ModelInfo* info) {
  const std::vector<std::string>& names = info->feature_names;
  info->nullable.assign(names.size(), attribute.empty());
  info->nullable_features.clear();
  if (attribute.empty()) {
    info->nullable_features = names;
    return absl::OkStatus();
  }
  const auto fail = [&](const std::string& what) {
    return absl::InvalidArgumentError(
        "model " + path + " has brisk_nullable_features " + attribute + ": " + what +
        "; it must be a JSON array of the names of the features that may be missing");
  };
  simdjson::dom::parser parser;
  simdjson::dom::array array;
  if (parser.parse(attribute).get(array) != simdjson::SUCCESS) return fail("not a JSON array");
  for (simdjson::dom::element e : array) {
    std::string_view name;
    if (e.get(name) != simdjson::SUCCESS) return fail("an element is not a string");
    const size_t i = std::find(names.begin(), names.end(), name) - names.begin();
    if (i == names.size()) {
      return fail("\"" + std::string(name) + "\" is not a feature of the model");
    }
    if (info->nullable[i]) return fail("\"" + std::string(name) + "\" is named twice");
    info->nullable[i] = true;
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (info->nullable[i]) info->nullable_features.push_back(names[i]);
  }
  return absl::OkStatus();
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
  out += ",\"feature_names\":";
  AppendJsonStringArray(info.feature_names, &out);
  out += ",\"num_boosted_rounds\":" + std::to_string(info.num_boosted_rounds);
  out += ",\"num_trees\":" + std::to_string(info.num_trees);
  out += ",\"xgboost_version\":";
  AppendJsonString(info.xgboost_version, &out);
  // Saved by early stopping; every tree is used all the same (as XGBoost's
  // own Booster.predict does; the sklearn wrapper stops at it).
  if (int64_t best = 0; absl::SimpleAtoi(info.best_iteration, &best)) {
    out += ",\"best_iteration\":" + std::to_string(best);
  }
  out += ",\"nullable_features\":";
  AppendJsonStringArray(info.nullable_features, &out);
  if (!info.training_json.empty()) out += ",\"training\":" + info.training_json;
  out.push_back('}');
  return out;
}

// What a score means: only these objectives give P(fraud) per row.
bool GivesProbability(std::string_view objective) {
  return objective == "binary:logistic" || objective == "reg:logistic";
}

// Reads the array `key` of `element` into `out` (integers as int64_t, any
// number as double); false when it is absent or holds anything else.
template <typename T>
bool ReadArray(simdjson::dom::element element, const char* key, std::vector<T>* out) {
  out->clear();
  simdjson::dom::array array;
  if (element.at_key(key).get(array) != simdjson::SUCCESS) return false;
  for (simdjson::dom::element e : array) {
    T v;
    if (e.get(v) != simdjson::SUCCESS) return false;
    out->push_back(v);
  }
  return true;
}

// The number of elements of the array `key` of `element`, or nullopt when
// it has none (counted: simdjson's size() saturates on huge arrays).
std::optional<size_t> ArrayLength(simdjson::dom::element element, const char* key) {
  simdjson::dom::array array;
  if (element.at_key(key).get(array) != simdjson::SUCCESS) return std::nullopt;
  size_t n = 0;
  for ([[maybe_unused]] simdjson::dom::element e : array) ++n;
  return n;
}

// One tree's node arrays, reused from tree to tree (one pass over the
// model, few allocations).
struct TreeArrays {
  std::vector<int64_t> left, right, split;
  std::vector<double> conditions;
};

// Checks the tree at `index` in a JSON model's "trees", so that XGBoost's
// walk from the root can neither leave it nor loop: its "id" is its
// position; the node arrays have one entry per node (at least one node);
// a node is a leaf exactly when both its children are -1; an inner node's
// children are distinct and come after it (XGBoost numbers them so, which
// rules out cycles) inside the tree; it splits on a feature below
// num_feature; every split_conditions value (a threshold, or a leaf's
// value) is a finite float. An outside review found that a file with
// left_children[0] = 1000000 loaded and crashed the first prediction, with
// left_children[0] = 0 made every prediction loop forever, and with a
// repeated id crashed it too.
absl::Status CheckTree(const std::string& path, size_t index, simdjson::dom::element tree,
                       uint64_t num_feature, const std::string& num_feature_text, TreeArrays* a) {
  const auto fail = [&](const std::string& what) {
    return absl::InvalidArgumentError("model " + path + ": tree " + std::to_string(index) + " " +
                                      what + "; the file is inconsistent");
  };
  int64_t id = -1;
  if (tree.at_key("id").get(id) != simdjson::SUCCESS || id != static_cast<int64_t>(index)) {
    return fail("has \"id\" " + std::to_string(id) + ", not its position " + std::to_string(index) +
                " (XGBoost places each tree by its id)");
  }
  for (auto [key, ok] :
       {std::pair{"left_children", ReadArray(tree, "left_children", &a->left)},
        std::pair{"right_children", ReadArray(tree, "right_children", &a->right)},
        std::pair{"split_indices", ReadArray(tree, "split_indices", &a->split)},
        std::pair{"split_conditions", ReadArray(tree, "split_conditions", &a->conditions)}}) {
    if (!ok) return fail("has no \"" + std::string(key) + "\" array of numbers of the right type");
  }
  const size_t n = a->left.size();
  if (n == 0) return fail("has no nodes");
  for (auto [key, length, required] :
       {std::tuple{"right_children", std::optional<size_t>(a->right.size()), true},
        std::tuple{"split_indices", std::optional<size_t>(a->split.size()), true},
        std::tuple{"split_conditions", std::optional<size_t>(a->conditions.size()), true},
        std::tuple{"default_left", ArrayLength(tree, "default_left"), true},
        std::tuple{"parents", ArrayLength(tree, "parents"), false},
        std::tuple{"base_weights", ArrayLength(tree, "base_weights"), false}}) {
    if (!length.has_value()) {
      if (required) return fail("has no \"" + std::string(key) + "\"");
      continue;
    }
    if (*length != n) {
      return fail("has " + std::to_string(*length) + " \"" + key + "\" for " + std::to_string(n) +
                  " \"left_children\" (one of each per node)");
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const std::string node = "node " + std::to_string(i);
    const int64_t left = a->left[i];
    const int64_t right = a->right[i];
    // XGBoost reads it as a float: a double beyond FLT_MAX is infinity.
    if (!(std::fabs(a->conditions[i]) <= FLT_MAX)) {
      return fail(node + " has split_conditions " + absl::StrCat(a->conditions[i]) +
                  ", not a finite 32-bit float (a leaf's value, or a threshold)");
    }
    if ((left == -1) != (right == -1)) {
      return fail(node + " has children " + std::to_string(left) + " and " + std::to_string(right) +
                  ": a leaf has -1 for both, an inner node for neither");
    }
    if (left == -1) continue;  // a leaf: its split index is unused
    for (const int64_t child : {left, right}) {
      if (child <= static_cast<int64_t>(i) || child >= static_cast<int64_t>(n)) {
        return fail(node + " has child " + std::to_string(child) + ", not after it among the " +
                    std::to_string(n) + " nodes (children come after their parent)");
      }
    }
    if (left == right) {
      return fail(node + " has node " + std::to_string(left) + " as both children");
    }
    if (a->split[i] < 0 || static_cast<uint64_t>(a->split[i]) >= num_feature) {
      return fail("splits on a feature index that is not below num_feature (" + num_feature_text +
                  ")");
    }
  }
  return absl::OkStatus();
}

// The integer at `path` (keys, its value a string as XGBoost writes them)
// under `root`, or `otherwise` when absent or not an integer.
uint64_t ConfigInteger(simdjson::dom::element root, std::initializer_list<const char*> path,
                       uint64_t otherwise) {
  uint64_t v = 0;
  return absl::SimpleAtoi(ConfigString(root, path), &v) ? v : otherwise;
}

// Checks a JSON model file before XGBoost reads it, for what XGBoost 1.7
// itself does not check (found by an outside review, each giving wrong
// scores, a crash or a hung worker without a word):
//  - the file must be JSON simdjson reads: XGBoost writes a non-finite
//    number as NaN or Infinity, which JSON has not (and would load it);
//  - base_score must be a number: XGBoost >= 3.1 writes it as an array
//    ("[2.4E-1]"), which 1.7 silently replaces with 0.5, shifting every
//    score; for a probability objective, one strictly between 0 and 1
//    ("nan" and "inf" read as numbers, and loaded);
//  - the trees are as many as gbtree_model_param's num_trees (a truncated
//    list changed every score), at least one (a model without trees
//    answered 0.5 to everything), each with one tree_info entry naming an
//    output group that exists (a short tree_info crashed the prediction);
//  - each tree's structure (CheckTree): a bad child index crashed the
//    first prediction or made it loop forever; a split on a feature index
//    not below num_feature read past the end of each row (scores changed
//    from call to call; a far larger index crashed the load).
// One pass over the parsed document. Other formats (UBJSON, binary) are
// handed to XGBoost as they are.
absl::Status CheckJsonModel(const std::string& path, const std::string& bytes) {
  const size_t first = bytes.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || bytes[first] != '{') return absl::OkStatus();
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (const simdjson::error_code e = parser.parse(bytes).get(root); e != simdjson::SUCCESS) {
    // XGBoost reads bytes starting with {" as a JSON model (UBJSON has a
    // type marker there): refuse one that would load unchecked. For
    // anything else XGBoost's own error says more.
    if (bytes.compare(0, 2, "{\"") != 0) return absl::OkStatus();
    return absl::InvalidArgumentError(
        "model " + path + " is not valid JSON (" + simdjson::error_message(e) +
        "), so it cannot be checked before loading; XGBoost writes a non-finite number as NaN "
        "or Infinity, which a model that is served must not hold");
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
  double base = 0;
  if (!base_score.empty() && !absl::SimpleAtod(base_score, &base)) {
    return absl::InvalidArgumentError(
        "model " + path + " has base_score \"" + base_score +
        "\", not a number: it was saved by a newer XGBoost (3.1 and later write an array), "
        "which the XGBoost linked here would read as 0.5 and shift every score; write the "
        "single intercept as a number (\"2.4E-1\"), or save the model with XGBoost < 3.1");
  }
  if (!base_score.empty() && GivesProbability(ConfigString(learner, {"objective", "name"})) &&
      !(base > 0 && base < 1)) {
    return absl::InvalidArgumentError(
        "model " + path + " has base_score \"" + base_score +
        "\": a probability objective needs a finite base_score strictly between 0 and 1");
  }
  const std::string num_feature_text =
      ConfigString(learner, {"learner_model_param", "num_feature"});
  uint64_t num_feature = 0;
  if (!absl::SimpleAtoi(num_feature_text, &num_feature)) return absl::OkStatus();
  // gbtree keeps its trees under "model"; dart wraps a gbtree.
  simdjson::dom::element model;
  simdjson::dom::array trees;
  if ((learner.at_pointer("/gradient_booster/model").get(model) != simdjson::SUCCESS &&
       learner.at_pointer("/gradient_booster/gbtree/model").get(model) != simdjson::SUCCESS) ||
      model.at_key("trees").get(trees) != simdjson::SUCCESS) {
    return absl::OkStatus();
  }
  const size_t num_trees = ArrayLength(model, "trees").value_or(0);
  if (num_trees == 0) {
    return absl::InvalidArgumentError("model " + path +
                                      " has no trees: it would give every row the same score");
  }
  const std::string declared = ConfigString(model, {"gbtree_model_param", "num_trees"});
  if (declared != std::to_string(num_trees)) {
    return absl::InvalidArgumentError("model " + path + " has " + std::to_string(num_trees) +
                                      " trees but gbtree_model_param says num_trees \"" + declared +
                                      "\"; the file is truncated or inconsistent");
  }
  const uint64_t num_groups =
      std::max({ConfigInteger(learner, {"learner_model_param", "num_class"}, 0),
                ConfigInteger(learner, {"learner_model_param", "num_target"}, 0), uint64_t{1}});
  std::vector<int64_t> groups;
  if (!ReadArray(model, "tree_info", &groups) || groups.size() != num_trees ||
      std::any_of(groups.begin(), groups.end(), [num_groups](int64_t g) {
        return g < 0 || static_cast<uint64_t>(g) >= num_groups;
      })) {
    return absl::InvalidArgumentError(
        "model " + path + " has a \"tree_info\" that is not one output group (0 to " +
        std::to_string(num_groups - 1) + ") per tree; the file is inconsistent");
  }
  TreeArrays arrays;
  size_t index = 0;
  for (simdjson::dom::element tree : trees) {
    absl::Status s = CheckTree(path, index++, tree, num_feature, num_feature_text, &arrays);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
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
  // A NaN or infinite leaf value (XGBoost reads them from any format; the
  // JSON checks above refuse them in JSON only) gives no probability.
  if (!std::isfinite(score)) {
    return absl::InvalidArgumentError("model " + path + " gives the score " + absl::StrCat(score) +
                                      " to a row of missing values: a score must be finite "
                                      "(a NaN or infinite leaf value?)");
  }

  if (XGBoosterBoostedRounds(handle, &info.num_boosted_rounds) != 0) {
    return XgbStatus(absl::StatusCode::kInternal, "XGBoosterBoostedRounds");
  }
  int major = 0, minor = 0, patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  info.xgboost_version =
      std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);

  std::string nullable_attribute;
  for (auto [key, field] :
       {std::pair{"brisk_model_name", &info.name}, std::pair{"brisk_model_version", &info.version},
        std::pair{"brisk_training", &info.training_json},
        std::pair{"brisk_nullable_features", &nullable_attribute},
        std::pair{"best_iteration", &info.best_iteration}}) {
    absl::StatusOr<std::string> value = Attribute(handle, key);
    if (!value.ok()) return value.status();
    *field = *std::move(value);
  }
  info.training_json = TrainingJson(info.training_json);
  if (absl::Status s = ReadNullable(path, nullable_attribute, &info); !s.ok()) return s;
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
