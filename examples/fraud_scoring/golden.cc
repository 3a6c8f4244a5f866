#include "examples/fraud_scoring/golden.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"

namespace brisk::fraud_scoring {
namespace {

std::vector<std::string> SplitCsvLine(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream in(line);
  std::string cell;
  while (std::getline(in, cell, ',')) cells.push_back(cell);
  return cells;
}

}  // namespace

absl::StatusOr<GoldenSet> ReadGolden(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot open " + path);
  std::string line;
  if (!std::getline(in, line)) return absl::InvalidArgumentError(path + " is empty");
  GoldenSet golden;
  golden.feature_names = SplitCsvLine(line);
  if (golden.feature_names.size() < 2 || golden.feature_names.back() != "score") {
    return absl::InvalidArgumentError(path + ": the last column must be \"score\"");
  }
  golden.feature_names.pop_back();
  const size_t cols = golden.feature_names.size() + 1;
  for (int line_no = 2; std::getline(in, line); ++line_no) {
    std::vector<std::string> cells = SplitCsvLine(line);
    if (cells.size() != cols) {
      return absl::InvalidArgumentError(path + ":" + std::to_string(line_no) + ": expected " +
                                        std::to_string(cols) + " values");
    }
    for (size_t i = 0; i < cols; ++i) {
      char* end = nullptr;
      errno = 0;
      const float v = std::strtof(cells[i].c_str(), &end);
      if (end == cells[i].c_str() || *end != '\0' || errno != 0) {
        return absl::InvalidArgumentError(path + ":" + std::to_string(line_no) +
                                          ": bad number \"" + cells[i] + "\"");
      }
      (i + 1 < cols ? golden.features : golden.scores).push_back(v);
    }
  }
  if (golden.scores.empty()) return absl::InvalidArgumentError(path + " has no rows");
  return golden;
}

}  // namespace brisk::fraud_scoring
