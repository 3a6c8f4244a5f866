#include "http/json_string.h"

#include <string>

#include "gtest/gtest.h"

namespace brisk::http {
namespace {

std::string Json(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

TEST(JsonStringTest, Escapes) {
  struct Row {
    const char* name;
    std::string in, out;
  } rows[] = {
      {"empty", "", R"("")"},
      {"plain", "/hello", R"("/hello")"},
      {"quote", "/a\"b", R"("/a\"b")"},
      {"backslash", "back\\slash", R"("back\\slash")"},
      {"short escapes", "a\nb\rc\td\be\ff", R"("a\nb\rc\td\be\ff")"},
      {"nul", std::string("nul\0x", 5), R"("nul\u0000x")"},
      {"other controls", "\x01\x1f\x7f", R"("\u0001\u001f\u007f")"},
      {"markup kept", "</script>", R"("</script>")"},
      {"utf-8 kept", "caf\xc3\xa9 \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\""},
      {"invalid byte", "bad\xff", R"("bad\u00ff")"},
      {"truncated", "\xc3", R"("\u00c3")"},
      {"overlong", "\xc0\xaf", R"("\u00c0\u00af")"},
      {"surrogate", "\xed\xa0\x80", R"("\u00ed\u00a0\u0080")"},
      {"above U+10FFFF", "\xf4\x90\x80\x80", R"("\u00f4\u0090\u0080\u0080")"},
  };
  for (const Row& r : rows) EXPECT_EQ(Json(r.in), r.out) << r.name;
}

TEST(JsonStringTest, Appends) {
  std::string out = "{\"k\":";
  AppendJsonString("v", &out);
  out += "}";
  EXPECT_EQ(out, R"({"k":"v"})");
}

}  // namespace
}  // namespace brisk::http
