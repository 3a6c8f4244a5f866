#include "testing/temp_dir.h"

#include <stdlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <utility>

namespace brisk::testing {

TempDir::TempDir(std::string_view parent, std::string_view prefix) {
  std::string tmpl = std::string(parent) + "/" + std::string(prefix) + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::fprintf(stderr, "TempDir: mkdtemp(%s): %s\n", tmpl.c_str(),
                 std::strerror(errno));
    std::abort();
  }
  path_ = std::move(tmpl);
}

TempDir::TempDir(std::string_view prefix)
    : TempDir([] {
        const char* base = std::getenv("TEST_TMPDIR");
        return std::string_view(base != nullptr && *base != '\0' ? base : "/tmp");
      }(),
              prefix) {}

TempDir TempDir::Short(std::string_view prefix) { return TempDir("/tmp", prefix); }

TempDir::TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, "")) {}

TempDir::~TempDir() { Remove(); }

void TempDir::Remove() {
  if (path_.empty()) return;
  std::error_code ignored;  // a test's leftovers must not fail the test
  std::filesystem::remove_all(path_, ignored);
  path_.clear();
}

std::string TempDir::Write(const std::string& name, const std::string& content) const {
  if (path_.empty()) {  // removed or moved from: "/name" would be written
    std::fprintf(stderr, "TempDir: Write(%s) after Remove() or a move\n", name.c_str());
    std::abort();
  }
  const std::string path = path_ + "/" + name;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) {
      std::fprintf(stderr, "TempDir: cannot write %s\n", tmp.c_str());
      std::abort();
    }
  }
  std::error_code error;
  std::filesystem::rename(tmp, path, error);
  if (error) {
    std::fprintf(stderr, "TempDir: rename %s: %s\n", tmp.c_str(),
                 error.message().c_str());
    std::abort();
  }
  return path;
}

}  // namespace brisk::testing
