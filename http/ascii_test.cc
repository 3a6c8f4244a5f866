#include "http/ascii.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace brisk::http {
namespace {

// The classes, checked against their RFC definitions byte by byte.
TEST(AsciiTest, CharClassesOfEveryByte) {
  const std::string_view tchar_punct = "!#$%&'*+-.^_`|~";
  const std::string_view reg_punct = "-._~!$&'()*+,;=";
  for (int i = 0; i < 256; ++i) {
    const char c = static_cast<char>(i);
    SCOPED_TRACE(i);
    const bool digit = i >= '0' && i <= '9';
    const bool alpha = (i >= 'a' && i <= 'z') || (i >= 'A' && i <= 'Z');
    const bool hex = digit || (i >= 'a' && i <= 'f') || (i >= 'A' && i <= 'F');
    EXPECT_EQ(IsTokenChar(c),
              digit || alpha || tchar_punct.find(c) != std::string_view::npos);
    EXPECT_EQ(IsDigit(c), digit);
    EXPECT_EQ(IsHexDigit(c), hex);
    EXPECT_EQ(HexDigitValue(c) >= 0, hex);
    EXPECT_EQ(HasCharClass(c, kVisibleChar), i > 0x20 && i < 0x7F);
    EXPECT_EQ(HasCharClass(c, kFieldValueChar),
              i == '\t' || (i >= 0x20 && i != 0x7F));
    EXPECT_EQ(HasCharClass(c, kRegNameChar),
              digit || alpha || reg_punct.find(c) != std::string_view::npos);
    EXPECT_EQ(HasCharClass(c, kTargetDelimiterChar),
              i == '%' || i == '?' || i == '#' || i == '.');
    EXPECT_EQ(IsOws(c), i == ' ' || i == '\t');
  }
  EXPECT_EQ(HexDigitValue('0'), 0);
  EXPECT_EQ(HexDigitValue('9'), 9);
  EXPECT_EQ(HexDigitValue('a'), 10);
  EXPECT_EQ(HexDigitValue('F'), 15);
  EXPECT_TRUE(HasCharClass('a', kDigitChar | kTokenChar));
  EXPECT_FALSE(HasCharClass(' ', kDigitChar | kTokenChar));
}

TEST(AsciiTest, IsToken) {
  EXPECT_TRUE(IsToken("GET"));
  EXPECT_TRUE(IsToken("X-Custom_Header.v2"));
  EXPECT_TRUE(IsToken("!#$%&'*+-.^_`|~"));
  EXPECT_FALSE(IsToken(""));
  EXPECT_FALSE(IsToken("GE T"));
  EXPECT_FALSE(IsToken("a:b"));
  EXPECT_FALSE(IsToken("a(b)"));
  EXPECT_FALSE(IsToken("caf\xC3\xA9"));
  EXPECT_FALSE(IsToken(std::string_view("a\0b", 3)));
  // Long enough for the four-at-a-time scan, the bad byte at each position.
  for (size_t bad = 0; bad < 9; ++bad) {
    std::string s(9, 'a');
    s[bad] = '"';
    EXPECT_FALSE(IsToken(s)) << s;
  }
}

TEST(AsciiTest, SkipCharClass) {
  const std::string_view s = "abcdefg1234 rest";
  EXPECT_EQ(SkipCharClass(s.data(), s.data() + s.size(), kTokenChar),
            s.data() + 11);
  EXPECT_EQ(SkipCharClass(s.data(), s.data() + s.size(), kDigitChar), s.data());
  EXPECT_EQ(SkipCharClass(s.data(), s.data() + 5, kTokenChar), s.data() + 5);
  EXPECT_TRUE(AllOfCharClass("", kDigitChar));
  EXPECT_TRUE(AllOfCharClass("0123456789", kDigitChar));
  EXPECT_FALSE(AllOfCharClass("012345678x", kDigitChar));
}

struct NumberRow {
  const char* input;
  size_t max_digits;
  std::optional<uint64_t> expected;
};

void CheckNumbers(const std::vector<NumberRow>& rows,
                  std::optional<uint64_t> (*parse)(std::string_view, size_t)) {
  for (const NumberRow& row : rows) {
    EXPECT_EQ(parse(row.input, row.max_digits), row.expected)
        << '"' << row.input << "\" max " << row.max_digits;
  }
}

TEST(AsciiTest, ParseDecimal) {
  const std::vector<NumberRow> rows = {
      {"0", 19, 0},
      {"7", 19, 7},
      {"123", 19, 123},
      {"0003", 19, 3},
      {"9999999999999999999", 19, 9999999999999999999ULL},  // 19 digits
      {"10000000000000000000", 19, std::nullopt},           // 20 digits
      {"18446744073709551615", 20, UINT64_MAX},
      {"18446744073709551616", 20, std::nullopt},  // overflow
      {"99999999999999999999", 20, std::nullopt},
      {"000000000000000000000018446744073709551615", 64, UINT64_MAX},
      {"1234", 3, std::nullopt},
      {"123", 3, 123},
      {"", 19, std::nullopt},
      {"+1", 19, std::nullopt},
      {"-1", 19, std::nullopt},
      {" 1", 19, std::nullopt},
      {"1 ", 19, std::nullopt},
      {"1 2", 19, std::nullopt},
      {"0x1", 19, std::nullopt},
      {"1.0", 19, std::nullopt},
      {"1e3", 19, std::nullopt},
      {"a", 19, std::nullopt},
  };
  CheckNumbers(rows, ParseDecimal);
  EXPECT_EQ(ParseDecimal("1234567890123456789"), 1234567890123456789ULL);
  EXPECT_EQ(ParseDecimal(std::string_view("12\0", 3)), std::nullopt);
}

TEST(AsciiTest, ParseHex) {
  const std::vector<NumberRow> rows = {
      {"0", 16, 0},
      {"a", 16, 10},
      {"A", 16, 10},
      {"1a2B", 16, 0x1a2b},
      {"000f", 16, 15},
      {"ffffffffffffffff", 16, UINT64_MAX},
      {"FFFFFFFFFFFFFFFF", 16, UINT64_MAX},
      {"10000000000000000", 16, std::nullopt},  // 17 digits
      {"10000000000000000", 17, std::nullopt},  // overflow
      {"0ffffffffffffffff", 17, UINT64_MAX},
      {"fff", 2, std::nullopt},
      {"", 16, std::nullopt},
      {"0x5", 16, std::nullopt},
      {"+5", 16, std::nullopt},
      {"-5", 16, std::nullopt},
      {" 5", 16, std::nullopt},
      {"5 ", 16, std::nullopt},
      {"5;ext", 16, std::nullopt},
      {"g", 16, std::nullopt},
  };
  CheckNumbers(rows, ParseHex);
  EXPECT_EQ(ParseHex("DeadBeef"), 0xdeadbeefULL);
}

TEST(AsciiTest, AccumulateDigit) {
  uint64_t v = 0;
  EXPECT_TRUE(AccumulateDigit(&v, 10, 4));
  EXPECT_TRUE(AccumulateDigit(&v, 10, 2));
  EXPECT_EQ(v, 42u);
  v = UINT64_MAX / 10;  // 1844674407370955161
  EXPECT_TRUE(AccumulateDigit(&v, 10, 5));
  EXPECT_EQ(v, UINT64_MAX);
  v = UINT64_MAX / 10;
  EXPECT_FALSE(AccumulateDigit(&v, 10, 6));
  EXPECT_EQ(v, UINT64_MAX / 10);  // unchanged
  v = UINT64_MAX >> 4;
  EXPECT_TRUE(AccumulateDigit(&v, 16, 15));
  EXPECT_EQ(v, UINT64_MAX);
  EXPECT_FALSE(AccumulateDigit(&v, 16, 0));
}

TEST(AsciiTest, CaseAndTrim) {
  EXPECT_EQ(AsciiToLower('A'), 'a');
  EXPECT_EQ(AsciiToLower('z'), 'z');
  EXPECT_EQ(AsciiToLower('['), '[');
  EXPECT_TRUE(EqualsIgnoreCase("Content-Length", "content-LENGTH"));
  EXPECT_FALSE(EqualsIgnoreCase("Content-Length", "content-lengt"));
  EXPECT_FALSE(EqualsIgnoreCase("a[", "A{"));  // '[' | 0x20 == '{'
  EXPECT_EQ(TrimOws(" \t a b \t "), "a b");
  EXPECT_EQ(TrimOws(" \t "), "");
  EXPECT_EQ(TrimOws(""), "");
  EXPECT_EQ(TrimOws("\r\na\r\n"), "\r\na\r\n");  // only SP and HTAB
}

TEST(AsciiTest, ForEachListElement) {
  auto collect = [](std::string_view value) {
    std::vector<std::string> out;
    ForEachListElement(value, [&](std::string_view e) {
      out.emplace_back(e);
      return true;
    });
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(collect("gzip, chunked"), (V{"gzip", "chunked"}));
  EXPECT_EQ(collect(" a ,\tb\t,c"), (V{"a", "b", "c"}));
  EXPECT_EQ(collect("a,,b"), (V{"a", "", "b"}));
  EXPECT_EQ(collect(""), (V{""}));
  EXPECT_EQ(collect(","), (V{"", ""}));
  int seen = 0;
  EXPECT_FALSE(ForEachListElement("1,x,3", [&](std::string_view e) {
    ++seen;
    return e != "x";
  }));
  EXPECT_EQ(seen, 2);
}

}  // namespace
}  // namespace brisk::http
