#include "http/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace brisk::http {
namespace {

TEST(Utf8Test, SequenceLength) {
  struct Row {
    const char* name;
    std::string in;
    size_t length;
  } rows[] = {
      {"empty", "", 0},
      {"ascii", "a", 1},
      {"nul", std::string("\0", 1), 1},
      {"two bytes", "\xc3\xa9", 2},
      {"three bytes", "\xe2\x82\xac", 3},
      {"four bytes", "\xf0\x9f\x98\x80", 4},
      {"only the first character", "\xc3\xa9z", 2},
      {"continuation byte", "\x80", 0},
      {"cut short", "\xe2\x82", 0},
      {"overlong two", "\xc0\xaf", 0},
      {"overlong three", "\xe0\x80\xaf", 0},
      {"overlong four", "\xf0\x80\x80\xaf", 0},
      {"surrogate", "\xed\xa0\x80", 0},
      {"above U+10FFFF", "\xf4\x90\x80\x80", 0},
      {"not a lead byte", "\xff", 0},
  };
  for (const Row& r : rows) EXPECT_EQ(Utf8SequenceLength(r.in), r.length) << r.name;
}

std::string AsUtf8(std::string_view s) {
  std::string out = "<";
  AppendAsUtf8(s, &out);
  return out;
}

TEST(Utf8Test, AppendAsUtf8KeepsValidTextAndReadsOtherBytesAsLatin1) {
  EXPECT_EQ(AsUtf8(""), "<");
  EXPECT_EQ(AsUtf8("/caf\xc3\xa9 \xf0\x9f\x98\x80"), "</caf\xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(AsUtf8("/caf\xe9"), "</caf\xc3\xa9");
  EXPECT_EQ(AsUtf8("\xff\x80"), "<\xc3\xbf\xc2\x80");
  EXPECT_EQ(AsUtf8("\xe2\x82z"), "<\xc3\xa2\xc2\x82z");
}

TEST(Utf8Test, AppendAsUtf8AlwaysGivesWellFormedUtf8) {
  // Every one- and two-byte input, and a few longer ones around the edges.
  std::string input;
  for (int a = 0; a < 256; ++a) {
    for (int b = -1; b < 256; ++b) {
      input.assign(1, static_cast<char>(a));
      if (b >= 0) input.push_back(static_cast<char>(b));
      std::string out;
      AppendAsUtf8(input, &out);
      for (size_t i = 0; i < out.size();) {
        const size_t n = Utf8SequenceLength(std::string_view(out).substr(i));
        ASSERT_GT(n, 0u) << "input " << a << "," << b << " at " << i;
        i += n;
      }
    }
  }
}

}  // namespace
}  // namespace brisk::http
