#include "http/trace_context.h"

#include <string>

#include "gtest/gtest.h"
#include "http/request_parser.h"

namespace brisk::http {
namespace {

constexpr char kValid[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceParentTest, ParsesTheSpecificationsExample) {
  std::optional<TraceParent> t = ParseTraceParent(kValid);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->version(), "00");
  EXPECT_EQ(t->trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t->parent_id(), "00f067aa0ba902b7");
  EXPECT_EQ(t->flags(), 1);
  EXPECT_TRUE(t->sampled());
  EXPECT_EQ(t->value(), kValid);
  EXPECT_EQ(t->Child("b7ad6b7169203331"),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01");
}

struct Row {
  const char* name;
  std::string value;
  bool valid;
};

TEST(TraceParentTest, Table) {
  const Row rows[] = {
      {"valid", kValid, true},
      {"not sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
      {"surrounding spaces", std::string(" ") + kValid + " ", true},
      {"later version with more", "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what", true},
      {"later version exact", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09", true},
      {"version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
      {"version 00 with more", std::string(kValid) + "-x", false},
      {"later version, no dash", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", false},
      {"uppercase", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
      {"zero trace", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
      {"zero parent", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
      {"short trace", "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", false},
      {"bad separator", "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
      {"bad flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", false},
      {"empty", "", false},
      {"garbage", "not a traceparent at all, but fifty-five characters long", false},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(ParseTraceParent(r.value).has_value(), r.valid) << r.name;
  }
}

// A later version's fields after the first 55 characters cannot be
// checked: they are cut, not echoed or handed on (an outside review had a
// client put quotes, obs-text and 20 KB into every answer's header).
TEST(TraceParentTest, ALaterVersionsUncheckedFieldsAreCut) {
  const std::string head = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const std::string value = head + "-\"<x> \xff junk\tz" + std::string(20000, 'A');
  EXPECT_EQ(ValidTraceParent(value), head);
  const std::optional<TraceParent> t = ParseTraceParent(value);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->value(), head);
  EXPECT_EQ(t->version(), "cc");
}

Request Parsed(const std::string& head) {
  RequestParser parser;
  EXPECT_EQ(parser.Feed(head).kind, ParseResult::kComplete);
  return parser.TakeRequest();
}

// One traceparent line is the request's parent; two lines are two
// parents, neither of them trusted (W3C's trace-context test suite: the
// receiver starts a new trace). The first line used to win.
TEST(RequestTraceParentTest, OneLineCountsTwoLinesNone) {
  const std::string other = "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-00f067aa0ba902b7-01";
  EXPECT_EQ(RequestTraceParent(Parsed(std::string("GET / HTTP/1.1\r\nHost: h\r\n"
                                                  "Traceparent:  ") + kValid + "\r\n\r\n")),
            kValid);
  EXPECT_EQ(RequestTraceParent(Parsed("GET / HTTP/1.1\r\nHost: h\r\n\r\n")), std::nullopt);
  EXPECT_EQ(RequestTraceParent(Parsed(std::string("GET / HTTP/1.1\r\nHost: h\r\ntraceparent: ") +
                                      kValid + "\r\ntraceparent: " + other + "\r\n\r\n")),
            std::nullopt);
  EXPECT_EQ(RequestTraceParent(Parsed(std::string("GET / HTTP/1.1\r\nHost: h\r\ntraceparent: ") +
                                      kValid + "\r\ntraceparent: " + kValid + "\r\n\r\n")),
            std::nullopt);
  EXPECT_EQ(RequestTraceParent(Parsed(std::string("GET / HTTP/1.1\r\nHost: h\r\ntraceparent: ") +
                                      kValid + ", " + other + "\r\n\r\n")),
            std::nullopt);
}

}  // namespace
}  // namespace brisk::http
