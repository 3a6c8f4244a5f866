#include "net/lazy_bytes.h"

#include <string>

#include "gtest/gtest.h"

namespace brisk::net {
namespace {

TEST(LazyBytesTest, HoldsOnePointerAndNothingWhileEmpty) {
  static_assert(sizeof(LazyBytes) == sizeof(void*));
  LazyBytes b;
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.size(), 0u);
  b.append("");  // an empty append allocates nothing and stays empty
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.Take(), "");
}

TEST(LazyBytesTest, AppendsInOrderAndTakeEmptiesIt) {
  LazyBytes b;
  b.append("GET / HTTP/1.1\r\n");
  b.append("Host: a\r\n\r\n");
  EXPECT_FALSE(b.empty());
  EXPECT_EQ(b.size(), 27u);
  EXPECT_EQ(b.Take(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_TRUE(b.empty());
  b.append("x");
  EXPECT_EQ(b.Take(), "x");
}

TEST(LazyBytesTest, ClearDropsTheBytes) {
  LazyBytes b;
  b.append("abc");
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.Take(), "");
}

}  // namespace
}  // namespace brisk::net
