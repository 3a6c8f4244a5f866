// brisk::net::ShortTempDir: a private directory under /tmp for tests that
// need short paths (a Unix socket's sun_path holds 107 bytes, and Bazel's
// TEST_TMPDIR is longer), removed with everything in it when destroyed.
//
//   brisk::net::ShortTempDir dir("brisk-uds");
//   const std::string path = dir.path() + "/handover.sock";
//
// Creating one aborts with a message if mkdtemp fails (the environment is
// broken, not the code under test). Thread-safety: a value; one owner.
#ifndef BRISK_NET_TESTING_SHORT_TEMP_DIR_H_
#define BRISK_NET_TESTING_SHORT_TEMP_DIR_H_

#include <string>

namespace brisk::net {

class ShortTempDir {
 public:
  // Makes /tmp/PREFIX-XXXXXX (mode 0700).
  explicit ShortTempDir(const std::string& prefix);
  ~ShortTempDir();  // removes the directory and what it holds

  ShortTempDir(const ShortTempDir&) = delete;
  ShortTempDir& operator=(const ShortTempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace brisk::net

#endif  // BRISK_NET_TESTING_SHORT_TEMP_DIR_H_
