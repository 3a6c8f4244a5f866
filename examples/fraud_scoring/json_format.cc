#include "examples/fraud_scoring/json_format.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>

namespace brisk::fraud_scoring {

void AppendJsonFloat(float v, std::string* out) {
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  char buf[32];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v);
  // 32 bytes always hold the shortest form of a float ("-1.17549435e-38").
  if (r.ec != std::errc()) {
    out->append("null");
    return;
  }
  out->append(buf, r.ptr);
}

std::string ScoreResponseJson(float score, std::optional<std::string_view> id,
                              std::string_view model) {
  std::string out;
  out.reserve(48 + (id ? id->size() : 0) + model.size());
  out.append("{\"score\":");
  AppendJsonFloat(score, &out);
  if (id) {
    out.append(",\"id\":");
    AppendJsonString(*id, &out);
  }
  if (!model.empty()) {
    out.append(",\"model\":");
    AppendJsonString(model, &out);
  }
  out.push_back('}');
  return out;
}

std::string ErrorJson(std::string_view message) {
  std::string out = "{\"error\":";
  AppendJsonString(message, &out);
  out.push_back('}');
  return out;
}

}  // namespace brisk::fraud_scoring
