// json_format: exact output for known inputs, and for every input a document
// that a strict JSON parser (simdjson) accepts and reads back.
#include "examples/fraud_scoring/json_format.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "simdjson.h"

namespace brisk::fraud_scoring {
namespace {

std::string Str(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

std::string Num(float v) {
  std::string out;
  AppendJsonFloat(v, &out);
  return out;
}

// Parses `json` strictly; returns the string value of the document.
std::string ReadBackString(const std::string& json) {
  simdjson::dom::parser parser;
  std::string_view s;
  EXPECT_EQ(parser.parse(json).get(s), simdjson::SUCCESS) << json;
  return std::string(s);
}

TEST(JsonFormatTest, StringEscapes) {
  struct Row {
    std::string in, out;
  } rows[] = {
      {"", R"("")"},
      {"txn-42", R"("txn-42")"},
      {"say \"hi\"", R"("say \"hi\"")"},
      {"back\\slash", R"("back\\slash")"},
      {"a\nb\rc\td\be\ff", R"("a\nb\rc\td\be\ff")"},
      {std::string("nul\0x", 5), R"("nul\u0000x")"},
      {"\x01\x1f\x7f", R"("\u0001\u001f\u007f")"},
      {"/slash/", R"("/slash/")"},
      {"caf\xc3\xa9", "\"caf\xc3\xa9\""},                        // valid UTF-8 kept
      {"\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""},              // 4-byte sequence
      {"\xe2\x80\xa8", "\"\xe2\x80\xa8\""},                      // U+2028 kept
      {"bad\xff", R"("bad\u00ff")"},                             // invalid byte
      {"\xc3", R"("\u00c3")"},                                   // truncated sequence
      {"\xc0\xaf", R"("\u00c0\u00af")"},                         // overlong '/'
      {"\xed\xa0\x80", R"("\u00ed\u00a0\u0080")"},               // UTF-16 surrogate
      {"\xf4\x90\x80\x80", R"("\u00f4\u0090\u0080\u0080")"},     // above U+10FFFF
      {"\xe0\x80\x80", R"("\u00e0\u0080\u0080")"},               // overlong 3-byte
  };
  for (const Row& r : rows) {
    EXPECT_EQ(Str(r.in), r.out) << r.in;
    ReadBackString(Str(r.in));
  }
}

TEST(JsonFormatTest, ValidUtf8RoundTripsExactly) {
  for (std::string s : {"plain", "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80", "q\"\\\n\x01"}) {
    EXPECT_EQ(ReadBackString(Str(s)), s);
  }
}

TEST(JsonFormatTest, RandomBytesAlwaysGiveValidJson) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 12, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    ReadBackString(Str(s));
  }
}

TEST(JsonFormatTest, FloatsAreShortestRoundTrip) {
  EXPECT_EQ(Num(0.0f), "0");
  EXPECT_EQ(Num(-0.0f), "-0");
  EXPECT_EQ(Num(0.5f), "0.5");
  EXPECT_EQ(Num(0.0123f), "0.0123");
  EXPECT_EQ(Num(1e-7f), "1e-07");
  EXPECT_EQ(Num(std::numeric_limits<float>::quiet_NaN()), "null");
  EXPECT_EQ(Num(std::numeric_limits<float>::infinity()), "null");
  EXPECT_EQ(Num(-std::numeric_limits<float>::infinity()), "null");
  std::mt19937 rng(11);
  for (int i = 0; i < 2000; ++i) {
    uint32_t bits = rng();
    float v;
    std::memcpy(&v, &bits, sizeof(v));
    if (!std::isfinite(v)) continue;
    const std::string text = Num(v);
    EXPECT_EQ(std::strtof(text.c_str(), nullptr), v) << text;
    simdjson::dom::parser parser;
    double d;
    EXPECT_EQ(parser.parse(text).get(d), simdjson::SUCCESS) << text;
  }
}

TEST(JsonFormatTest, ScoreResponse) {
  EXPECT_EQ(ScoreResponseJson(0.0123f, "txn-42", "fraud_gbt/1"),
            R"({"score":0.0123,"id":"txn-42","model":"fraud_gbt/1"})");
  EXPECT_EQ(ScoreResponseJson(0.5f, std::nullopt, "m"), R"({"score":0.5,"model":"m"})");
  EXPECT_EQ(ScoreResponseJson(0.5f, "", ""), R"({"score":0.5,"id":""})");
  EXPECT_EQ(ScoreResponseJson(1.0f, "a\"b", "m"), R"({"score":1,"id":"a\"b","model":"m"})");
}

TEST(JsonFormatTest, ErrorBody) {
  EXPECT_EQ(ErrorJson("features[3] must be a number or null, got string"),
            R"({"error":"features[3] must be a number or null, got string"})");
  EXPECT_EQ(ErrorJson("missing features: \"a\""), R"({"error":"missing features: \"a\""})");
}

}  // namespace
}  // namespace brisk::fraud_scoring
