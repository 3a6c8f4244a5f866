#include "testing/temp_dir.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace brisk::testing {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(TempDirTest, PrivateDirectoryUnderTestTmpdirRemovedWithItsFiles) {
  std::string path;
  {
    TempDir dir("brisk-x");
    path = dir.path();
    const char* base = std::getenv("TEST_TMPDIR");
    ASSERT_NE(base, nullptr);  // Bazel sets it
    EXPECT_EQ(path.rfind(std::string(base) + "/brisk-x-", 0), 0u) << path;
    struct stat st{};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    const std::string file = dir.Write("a.pem", "one");
    EXPECT_EQ(Read(file), "one");
    EXPECT_EQ(dir.Write("a.pem", "two"), file);  // replaced
    EXPECT_EQ(Read(file), "two");
    EXPECT_FALSE(std::filesystem::exists(file + ".tmp"));
    std::filesystem::create_directories(path + "/sub/dir");
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(TempDirTest, ShortIsUnderTmpAndMovable) {
  std::string path;
  {
    TempDir a = TempDir::Short("brisk-uds");
    EXPECT_EQ(a.path().rfind("/tmp/brisk-uds-", 0), 0u) << a.path();
    EXPECT_LT(a.path().size() + sizeof("/handover.sock"), 107u);
    TempDir b(std::move(a));
    path = b.path();
    EXPECT_TRUE(a.path().empty());
    EXPECT_TRUE(std::filesystem::exists(path));
  }  // a (moved from) removes nothing; b removes the directory
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(TempDirTest, RemoveDeletesNowForAFixtureThatIsNeverDestroyed) {
  auto* leaked = new TempDir("brisk-leaked");  // as a fuzzer's static fixture
  const std::string path = leaked->path();
  leaked->Write("key.pem", "secret");
  leaked->Remove();
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(leaked->path().empty());
  leaked->Remove();  // again: nothing to do
  // Writing now would put the file at /key.pem: refused.
  EXPECT_DEATH(leaked->Write("key.pem", "secret"), "after Remove");
  delete leaked;  // nor here
}

}  // namespace
}  // namespace brisk::testing
