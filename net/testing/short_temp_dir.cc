#include "net/testing/short_temp_dir.h"

#include <stdlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

namespace brisk::net {

ShortTempDir::ShortTempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    std::fprintf(stderr, "ShortTempDir: mkdtemp(%s): %s\n", tmpl.c_str(),
                 std::strerror(errno));
    std::abort();
  }
  path_ = buf.data();
}

ShortTempDir::~ShortTempDir() {
  std::error_code ignored;  // a test's leftovers must not fail the test
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace brisk::net
