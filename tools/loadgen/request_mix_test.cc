#include "tools/loadgen/request_mix.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace brisk::loadgen {
namespace {

using std::chrono::milliseconds;
using namespace std::string_literals;

ClassSpec Defaults() {
  return ClassSpec{.method = "GET",
                   .target = "/hello",
                   .headers = {"X-Global: 1"},
                   .body = "",
                   .sla = milliseconds(100),
                   .connections = 64};
}

// A file under the test's temporary directory holding `content`.
std::string TempFile(const std::string& name, const std::string& content) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr);
  if (f != nullptr) {
    EXPECT_EQ(std::fwrite(content.data(), 1, content.size(), f), content.size());
    std::fclose(f);
  }
  return path;
}

TEST(ParseClassSpecTest, KeysOverrideDefaults) {
  absl::StatusOr<ClassSpec> c = ParseClassSpec(
      "fast rate=450 target=/cpu?us=1000 sla=20ms "
      "header=\"X-Request-Budget-Ms: 20\" connections=8 method=HEAD",
      Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "fast");
  EXPECT_EQ(c->rate, 450u);
  EXPECT_EQ(c->method, "HEAD");
  EXPECT_EQ(c->target, "/cpu?us=1000");
  EXPECT_EQ(c->headers,
            (std::vector<std::string>{"X-Global: 1", "X-Request-Budget-Ms: 20"}));
  EXPECT_EQ(c->sla, milliseconds(20));
  EXPECT_EQ(c->connections, 8);
}

TEST(ParseClassSpecTest, MissingKeysTakeTheDefaults) {
  absl::StatusOr<ClassSpec> c = ParseClassSpec("  slow\trate=7  ", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "slow");
  EXPECT_EQ(c->rate, 7u);
  EXPECT_EQ(c->method, "GET");
  EXPECT_EQ(c->target, "/hello");
  EXPECT_EQ(c->headers, (std::vector<std::string>{"X-Global: 1"}));
  EXPECT_EQ(c->sla, milliseconds(100));
  EXPECT_EQ(c->connections, 64);
}

TEST(ParseClassSpecTest, QuotedValues) {
  absl::StatusOr<ClassSpec> c = ParseClassSpec(
      R"(q rate=1 method=POST body="{\"a\": \"b\\c\"}" header="A: x=y, z" )",
      Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->body, R"({"a": "b\c"})");
  EXPECT_EQ(c->headers.back(), "A: x=y, z");
  // A backslash before anything else stays.
  c = ParseClassSpec(R"(q rate=1 body="a\nb")", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->body, R"(a\nb)");
  c = ParseClassSpec(R"(q rate=1 body="")", Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->body, "");
}

TEST(ParseClassSpecTest, BodyFileIsReadAsIs) {
  const std::string json = "{\"features\": [1.5, 2, 3]}\n\0x"s;
  const std::string path = TempFile("tx.json", json);
  absl::StatusOr<ClassSpec> c = ParseClassSpec(
      "score rate=10 method=POST target=/score body_file=" + path, Defaults());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->body, json);
  EXPECT_EQ(ReadFile(path).value_or(""), json);
}

TEST(ParseClassSpecTest, Errors) {
  const std::string body_path = TempFile("b.txt", "x");
  struct Row {
    const char* name;
    std::string text;
    const char* message_part;
  };
  const Row rows[] = {
      {"empty", "", "starts with its name"},
      {"no name", "rate=1", "starts with its name"},
      {"bad name char", "a/b rate=1", "starts with its name"},
      {"no rate", "a target=/x", "rate=N is required"},
      {"zero rate", "a rate=0", "bad value for rate"},
      {"negative rate", "a rate=-5", "bad value for rate"},
      {"fractional rate", "a rate=1.5", "bad value for rate"},
      {"bad connections", "a rate=1 connections=0", "bad value for connections"},
      {"bad sla", "a rate=1 sla=20", "bad value for sla"},
      {"negative sla", "a rate=1 sla=-1ms", "bad value for sla"},
      {"unknown key", "a rate=1 path=/x", "unknown key 'path'"},
      {"repeated key", "a rate=1 rate=2", "rate given twice"},
      {"not key=value", "a rate=1 oops", "expected key=value"},
      {"empty key", "a =1", "expected key=value"},
      {"unterminated quote", "a rate=1 body=\"abc", "unterminated quote"},
      {"text after quote", "a rate=1 body=\"abc\"def", "must end at a space"},
      {"header without colon", "a rate=1 header=Nope", "bad value for header"},
      {"empty target", "a rate=1 target=", "bad value for target"},
      {"missing body file", "a rate=1 body_file=/nonexistent/x", "cannot read"},
      {"body and body_file", "a rate=1 body=x body_file=" + body_path,
       "body and body_file"},
  };
  for (const Row& row : rows) {
    absl::StatusOr<ClassSpec> c = ParseClassSpec(row.text, Defaults());
    ASSERT_FALSE(c.ok()) << row.name;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << row.name;
    EXPECT_NE(c.status().message().find(row.message_part), std::string::npos)
        << row.name << ": " << c.status();
  }
}

TEST(ParseMixFileTest, OneClassPerLineWithCommentsAndBlankLines) {
  absl::StatusOr<std::vector<ClassSpec>> mix = ParseMixFile(
      "# mixed-SLA scenario\n"
      "\n"
      "fast rate=450 target=/cpu?us=1000 sla=20ms\r\n"
      "   # indented comment\n"
      "slow rate=200 target=/cpu?us=20000 sla=500ms",
      Defaults());
  ASSERT_TRUE(mix.ok()) << mix.status();
  ASSERT_EQ(mix->size(), 2u);
  EXPECT_EQ((*mix)[0].name, "fast");
  EXPECT_EQ((*mix)[0].sla, milliseconds(20));
  EXPECT_EQ((*mix)[1].name, "slow");
  EXPECT_EQ((*mix)[1].rate, 200u);
  EXPECT_EQ((*mix)[1].target, "/cpu?us=20000");
}

TEST(ParseMixFileTest, ErrorsNameTheLine) {
  absl::StatusOr<std::vector<ClassSpec>> mix =
      ParseMixFile("a rate=1\n\nb rate=x\n", Defaults());
  ASSERT_FALSE(mix.ok());
  EXPECT_NE(mix.status().message().find("line 3: class b: bad value for rate"),
            std::string::npos)
      << mix.status();
  mix = ParseMixFile("# nothing\n", Defaults());
  ASSERT_TRUE(mix.ok());
  EXPECT_TRUE(mix->empty());
}

TEST(CheckClassNamesTest, NamesMustBeUnique) {
  EXPECT_TRUE(CheckClassNames({{.name = "a"}, {.name = "b"}}).ok());
  EXPECT_FALSE(CheckClassNames({{.name = "a"}, {.name = "b"}, {.name = "a"}}).ok());
}

TEST(ClassFileNameTest, NameGoesBeforeTheExtension) {
  struct Row {
    const char* path;
    const char* want;
  };
  const Row rows[] = {
      {"lat.csv", "lat.fast.csv"},
      {"out/lat.csv", "out/lat.fast.csv"},
      {"out.d/lat", "out.d/lat.fast"},
      {"lat", "lat.fast"},
      {".hidden", ".hidden.fast"},
      {"a.b.svg", "a.b.fast.svg"},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(ClassFileName(row.path, "fast"), row.want) << row.path;
  }
}

}  // namespace
}  // namespace brisk::loadgen
