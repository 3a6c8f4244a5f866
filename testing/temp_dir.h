// brisk::testing::TempDir: a private directory for one test, removed with
// everything in it when destroyed. The one temporary-directory helper of
// every package's tests (it depends on nothing of brisk's, so any layer's
// tests may use it).
//
//   brisk::testing::TempDir dir;                    // under $TEST_TMPDIR
//   std::string key = dir.Write("key.pem", pem);    // written atomically
//   auto uds = brisk::testing::TempDir::Short("brisk-uds");  // under /tmp
//   std::string sock = uds.path() + "/handover.sock";
//
// Creating one aborts with a message if mkdtemp fails, and Write aborts if
// the file cannot be written (the environment is broken, not the code under
// test). Thread-safety: a value; one owner.
#ifndef BRISK_TESTING_TEMP_DIR_H_
#define BRISK_TESTING_TEMP_DIR_H_

#include <string>
#include <string_view>

namespace brisk::testing {

class TempDir {
 public:
  // $TEST_TMPDIR/PREFIX-XXXXXX (/tmp when TEST_TMPDIR is unset), mode 0700.
  explicit TempDir(std::string_view prefix = "brisk");
  // /tmp/PREFIX-XXXXXX: for paths that must be short (a Unix socket's
  // sun_path holds 107 bytes, and Bazel's TEST_TMPDIR is longer).
  static TempDir Short(std::string_view prefix);

  ~TempDir();  // removes the directory and what it holds
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

  // Removes the directory and what it holds now (the destructor then does
  // nothing). For a fixture kept in a leaked static, as fuzzers and
  // benchmarks keep theirs: it is never destroyed, and test keys must not be
  // left in /tmp.
  void Remove();

  // Writes (replaces) `name` in the directory through a temporary file and
  // a rename, as a deploy script would (a reader never sees half a file);
  // returns its path. Aborts after Remove() or a move (no directory).
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  TempDir(std::string_view parent, std::string_view prefix);

  std::string path_;  // empty once moved from
};

}  // namespace brisk::testing

#endif  // BRISK_TESTING_TEMP_DIR_H_
