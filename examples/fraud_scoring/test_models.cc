#include "examples/fraud_scoring/test_models.h"

#include <xgboost/c_api.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

namespace brisk::fraud_scoring {

std::string ShippedModelText() {
  std::ifstream in(kShippedModelPath, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::string path = TempPath(name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  return path;
}

std::string WithNodeValue(std::string json, const std::string& key, size_t tree, size_t index,
                          const std::string& value) {
  const std::string opening = "\"" + key + "\":[";
  size_t at = std::string::npos;
  for (size_t k = 0; k <= tree; ++k) {
    at = json.find(opening, at + 1);
    if (at == std::string::npos) return "";
  }
  const size_t close = json.find(']', at);
  size_t begin = at + opening.size();
  for (size_t k = 0; k < index; ++k) {
    begin = json.find(',', begin) + 1;
    if (begin == 0 || begin > close) return "";
  }
  const size_t end = json.find_first_of(",]", begin);
  if (value.empty()) {
    json.erase(json[end] == ',' ? begin : begin - 1, end - begin + 1);  // the value and a comma
  } else {
    json.replace(begin, end - begin, value);
  }
  return json;
}

absl::Status SaveAsUbjson(const std::string& json, const std::string& path) {
  BoosterHandle booster = nullptr;
  if (XGBoosterCreate(nullptr, 0, &booster) != 0) return absl::InternalError(XGBGetLastError());
  absl::Status status;
  // As FraudModel::Load: nthread=1 reaches the tree parser's OpenMP loop
  // only through a configuration pass before the load (else OpenMP threads
  // parse the trees, which TSan, not seeing libgomp's synchronisation,
  // reports as races).
  bst_ulong unused_len = 0;
  const char* unused_config = nullptr;
  if (XGBoosterSetParam(booster, "nthread", "1") != 0 ||
      XGBoosterSetParam(booster, "num_feature", "1") != 0 ||
      XGBoosterSaveJsonConfig(booster, &unused_len, &unused_config) != 0 ||
      XGBoosterLoadModelFromBuffer(booster, json.data(), json.size()) != 0 ||
      XGBoosterSaveModel(booster, path.c_str()) != 0) {
    status = absl::InternalError(XGBGetLastError());
  }
  XGBoosterFree(booster);
  return status;
}

}  // namespace brisk::fraud_scoring
