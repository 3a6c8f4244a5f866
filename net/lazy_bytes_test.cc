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

TEST(LazyBytesTest, TakeFrontHandsOverInPiecesInOrder) {
  LazyBytes b;
  EXPECT_EQ(b.TakeFront(4), "");
  std::string all;
  for (int i = 0; i < 1000; ++i) all += std::to_string(i) + ",";
  b.append(all);
  std::string got;
  size_t piece = 1;
  int round = 0;
  while (!b.empty()) {
    const size_t before = b.size();
    const std::string p = b.TakeFront(piece);
    ASSERT_EQ(p.size(), std::min(piece, before));
    EXPECT_EQ(b.size(), before - p.size());
    got += p;
    if (++round % 7 == 0 && round < 300) {  // appends between takes
      const std::string more = "+" + std::to_string(round) + ";";
      b.append(more);
      all += more;
    }
    piece = piece * 2 % 97 + 1;
  }
  EXPECT_EQ(got, all);
  // An append after a partial take, then Take(): what was left, then it.
  b.append("abcdefgh");
  EXPECT_EQ(b.TakeFront(2), "ab");
  b.append("ij");
  EXPECT_EQ(b.size(), 8u);
  EXPECT_EQ(b.Take(), "cdefghij");
  EXPECT_TRUE(b.empty());
  b.append("xyz");
  EXPECT_EQ(b.TakeFront(0), "");
  EXPECT_EQ(b.TakeFront(3), "xyz");  // all of it: empty, nothing held
  EXPECT_TRUE(b.empty());
}

}  // namespace
}  // namespace brisk::net
