#include "http/conditional.h"

#include <limits>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "http/request_parser.h"

namespace brisk::http {
namespace {

Request Parsed(const std::string& method, const std::string& fields) {
  RequestParser parser;
  const std::string head = method + " /r HTTP/1.1\r\nHost: x\r\n" + fields + "\r\n";
  EXPECT_EQ(parser.Feed(head).kind, ParseResult::kComplete) << head;
  return parser.TakeRequest();
}

// Sun, 06 Nov 1994 08:49:37 GMT: RFC 9110's example.
constexpr int64_t kExample = 784111777;
// The time the tests read dates at: Mon, 07 Dec 2026 02:42:54 GMT.
constexpr int64_t kNow = 1796611374;

TEST(ParseHttpDateTest, ReadsTheThreeFormsOfRfc9110) {
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT", kNow), kExample);
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", kNow), kExample);
  EXPECT_EQ(ParseHttpDate("Sun Nov  6 08:49:37 1994", kNow), kExample);
  EXPECT_EQ(ParseHttpDate("Thu, 01 Jan 1970 00:00:00 GMT", kNow), 0);
  EXPECT_EQ(ParseHttpDate("Tue, 29 Feb 2000 23:59:60 GMT", kNow), 951868740 + 60);  // leap year
  EXPECT_EQ(ParseHttpDate("Mon Dec 07 02:42:54 2026", kNow), 1796611374);
  EXPECT_EQ(ParseHttpDate("Saturday, 01-Jan-00 00:00:00 GMT", kNow), 946684800);  // 2000
}

// RFC 9110 §5.6.7: a two-digit year that would put the date more than 50
// years after now is the most recent past year with those digits.
TEST(ParseHttpDateTest, ATwoDigitYearIsNeverMoreThanFiftyYearsAhead) {
  EXPECT_EQ(ParseHttpDate("Thursday, 01-Jan-70 00:00:00 GMT", kNow), 3155760000);  // 2070
  EXPECT_EQ(ParseHttpDate("Saturday, 01-Jan-77 00:00:00 GMT", kNow), 220924800);   // 1977
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", kNow), kExample);      // 1994
  EXPECT_EQ(ParseHttpDate("Friday, 01-Jan-26 00:00:00 GMT", kNow), 1767225600);    // 2026
  // Read in 1994: 44 is 2044 (within 50 years), 45 is 1945.
  EXPECT_EQ(ParseHttpDate("Friday, 01-Jan-44 00:00:00 GMT", kExample), 2335219200);
  EXPECT_EQ(ParseHttpDate("Monday, 01-Jan-45 00:00:00 GMT", kExample), -788918400);
  // Read in mid-2095: 05 is 2105, not 2005.
  EXPECT_EQ(ParseHttpDate("Thursday, 01-Jan-05 00:00:00 GMT", 3957724800), 4260211200);
  // The four-digit forms are read as written.
  EXPECT_EQ(ParseHttpDate("Sat, 01 Jan 2105 00:00:00 GMT", kNow), 4260211200);
}

// The caller's now reads a request's two-digit years; without one, they
// are 1970-2069 (http/ reads no clock), whatever the resource's age.
TEST(EvaluatePreconditionsTest, ATwoDigitYearIsReadAtTheCallersNow) {
  const Request r70 = Parsed("PUT", "If-Unmodified-Since: Thursday, 01-Jan-70 00:00:00 GMT\r\n");
  const Request r26 = Parsed("PUT", "If-Unmodified-Since: Thursday, 01-Jan-26 00:00:00 GMT\r\n");
  // Read in 2026, 70 is 2070, after the modification: go on.
  EXPECT_EQ(EvaluatePreconditions(r70, {.last_modified = kExample, .now = kNow}),
            Precondition::kNone);
  // Without a now, 70 is 1970: modified since, 412.
  EXPECT_EQ(EvaluatePreconditions(r70, {.last_modified = kExample}), Precondition::kFailed);
  // An old resource (modified in 1970) and 26: 2026 either way, not 1926.
  EXPECT_EQ(EvaluatePreconditions(r26, {.last_modified = 0}), Precondition::kNone);
  EXPECT_EQ(EvaluatePreconditions(r26, {.last_modified = 0, .now = kNow}), Precondition::kNone);
}

// The 50 years are calendar years, to the second; a date the chosen year
// does not have is none; a clock far outside years 0-9999 does no harm.
TEST(ParseHttpDateTest, TheFiftyYearsAreCalendarYears) {
  constexpr int64_t kJune2026Noon = 1780315200;  // 2026-06-01 12:00:00
  // 2076-06-01 00:00 is 12 h short of 50 years ahead: 2076.
  EXPECT_EQ(ParseHttpDate("Monday, 01-Jun-76 00:00:00 GMT", kJune2026Noon), 3358195200);
  EXPECT_EQ(ParseHttpDate("Monday, 01-Jun-76 12:00:00 GMT", kJune2026Noon), 3358238400);
  // One second past 50 years: 1976.
  EXPECT_EQ(ParseHttpDate("Monday, 01-Jun-76 12:00:01 GMT", kJune2026Noon), 202478401);
  // Read in 2060, 00 is 2100, which has no 29 February.
  EXPECT_FALSE(ParseHttpDate("Monday, 29-Feb-00 00:00:00 GMT", 2840140800).has_value());
  EXPECT_EQ(ParseHttpDate("Tuesday, 29-Feb-00 00:00:00 GMT", kNow), 951782400);  // 2000
  for (const int64_t far :
       {std::numeric_limits<int64_t>::min(), int64_t{-1}, std::numeric_limits<int64_t>::max()}) {
    EXPECT_TRUE(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", far).has_value()) << far;
  }
}

TEST(ParseHttpDateTest, RefusesWhatIsNoHttpDate) {
  for (const char* bad : {
           "",
           "Sun, 06 Nov 1994 08:49:37",          // no GMT
           "Sun, 06 Nov 1994 08:49:37 UTC",      // not GMT
           "Sun, 6 Nov 1994 08:49:37 GMT",       // one-digit day
           "Sun, 06 nov 1994 08:49:37 GMT",      // case-sensitive month
           "Sun, 31 Nov 1994 08:49:37 GMT",      // no such day
           "Sun, 29 Feb 1900 08:49:37 GMT",      // 1900: no leap year
           "Sun, 06 Nov 1994 24:00:00 GMT",      // hour
           "Sun, 06 Nov 1994 08:60:00 GMT",      // minute
           "Sun, 06 Nov 1994 08:49:37 GMT x",    // trailing bytes
           "Sunday, 06 Nov 1994 08:49:37 GMT",   // long day, fixdate's date
           "1994-11-06T08:49:37Z",               // ISO 8601
           "784111777",                          // seconds
       }) {
    EXPECT_FALSE(ParseHttpDate(bad, kNow).has_value()) << bad;
  }
}

TEST(EvaluatePreconditionsTest, NoConditionalFieldPerformsTheMethod) {
  EXPECT_EQ(EvaluatePreconditions(Parsed("GET", ""), {.etag = "\"a\""}), Precondition::kNone);
  EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", "Accept: */*\r\n"), {}), Precondition::kNone);
}

TEST(EvaluatePreconditionsTest, IfMatchComparesStrongly) {
  const Validators strong{.etag = "\"v2\""};
  EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", "If-Match: \"v2\"\r\n"), strong),
            Precondition::kNone);
  EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", "If-Match: \"v1\", \"v2\"\r\n"), strong),
            Precondition::kNone);
  EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", "If-Match: \"v1\"\r\nIf-Match: \"v2\"\r\n"),
                                  strong),
            Precondition::kNone);  // a list on two lines
  EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", "If-Match: \"v1\"\r\n"), strong),
            Precondition::kFailed);
  EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", "If-Match: W/\"v2\"\r\n"), strong),
            Precondition::kFailed);  // a weak tag never matches strongly
  EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", "If-Match: \"v2\"\r\n"), {.etag = "W/\"v2\""}),
            Precondition::kFailed);
  EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", "If-Match: \"v2\"\r\n"), {}),
            Precondition::kFailed);  // no entity tag: no listed tag matches
  EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", "If-Match: nope\r\n"), strong),
            Precondition::kFailed);  // not an entity tag
  // An opaque tag may hold a comma.
  EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", "If-Match: \"a,b\"\r\n"), {.etag = "\"a,b\""}),
            Precondition::kNone);
}

TEST(EvaluatePreconditionsTest, IfMatchStarAsksWhetherTheResourceExists) {
  EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", "If-Match: *\r\n"), {}), Precondition::kNone);
  EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", "If-Match: *\r\n"), {.exists = false}),
            Precondition::kFailed);
  // If-None-Match: * — create only if absent.
  EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", "If-None-Match: *\r\n"), {.exists = false}),
            Precondition::kNone);
  EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", "If-None-Match: *\r\n"), {}),
            Precondition::kFailed);
  EXPECT_EQ(EvaluatePreconditions(Parsed("GET", "If-None-Match: *\r\n"), {}),
            Precondition::kNotModified);
}

// Field lines combined into one list mean what the lines meant (RFC 9110
// §5.3): a "*" beside tags counts as it does on a line of its own.
TEST(EvaluatePreconditionsTest, AStarMeansTheSameOnItsOwnLineOrInAList) {
  for (const char* fields : {"If-None-Match: \"a\"\r\nIf-None-Match: *\r\n",
                             "If-None-Match: \"a\", *\r\n", "If-None-Match: *, \"a\"\r\n"}) {
    EXPECT_EQ(EvaluatePreconditions(Parsed("GET", fields), {}), Precondition::kNotModified)
        << fields;
    EXPECT_EQ(EvaluatePreconditions(Parsed("GET", fields), {.exists = false}), Precondition::kNone)
        << fields;
  }
  for (const char* fields : {"If-Match: \"a\"\r\nIf-Match: *\r\n", "If-Match: \"a\", *\r\n"}) {
    EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", fields), {}), Precondition::kNone) << fields;
    EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", fields), {.exists = false}),
              Precondition::kFailed)
        << fields;
  }
  // "*x" is no element: it ends the list and matches nothing.
  EXPECT_EQ(EvaluatePreconditions(Parsed("GET", "If-None-Match: *x\r\n"), {}), Precondition::kNone);
}

TEST(EvaluatePreconditionsTest, IfNoneMatchComparesWeakly) {
  const Validators weak{.etag = "W/\"v2\""};
  EXPECT_EQ(EvaluatePreconditions(Parsed("GET", "If-None-Match: \"v2\"\r\n"), weak),
            Precondition::kNotModified);
  EXPECT_EQ(EvaluatePreconditions(Parsed("HEAD", "If-None-Match: \"v1\", W/\"v2\"\r\n"), weak),
            Precondition::kNotModified);
  EXPECT_EQ(EvaluatePreconditions(Parsed("GET", "If-None-Match: \"v1\"\r\n"), weak),
            Precondition::kNone);
  EXPECT_EQ(EvaluatePreconditions(Parsed("GET", "If-None-Match: \"v2\"\r\n"), {}),
            Precondition::kNone);  // no entity tag: nothing matches
  // Other methods: 412.
  EXPECT_EQ(EvaluatePreconditions(Parsed("DELETE", "If-None-Match: \"v2\"\r\n"), weak),
            Precondition::kFailed);
}

TEST(EvaluatePreconditionsTest, DatesCountOnlyWithoutTheirTagField) {
  const Validators v{.etag = "\"v2\"", .last_modified = kExample};
  const std::string before = "Sat, 05 Nov 1994 08:49:37 GMT";
  const std::string same = "Sun, 06 Nov 1994 08:49:37 GMT";
  // If-Modified-Since: 304 when not modified since (GET and HEAD only).
  EXPECT_EQ(EvaluatePreconditions(Parsed("GET", "If-Modified-Since: " + same + "\r\n"), v),
            Precondition::kNotModified);
  EXPECT_EQ(EvaluatePreconditions(Parsed("GET", "If-Modified-Since: " + before + "\r\n"), v),
            Precondition::kNone);
  EXPECT_EQ(EvaluatePreconditions(Parsed("POST", "If-Modified-Since: " + same + "\r\n"), v),
            Precondition::kNone);
  // Ignored when If-None-Match is present (it decides), when invalid,
  // repeated, or when the resource has no modification date.
  EXPECT_EQ(EvaluatePreconditions(
                Parsed("GET", "If-None-Match: \"v1\"\r\nIf-Modified-Since: " + same + "\r\n"), v),
            Precondition::kNone);
  EXPECT_EQ(EvaluatePreconditions(Parsed("GET", "If-Modified-Since: yesterday\r\n"), v),
            Precondition::kNone);
  EXPECT_EQ(EvaluatePreconditions(Parsed("GET", "If-Modified-Since: " + same +
                                                    "\r\nIf-Modified-Since: " + same + "\r\n"),
                                  v),
            Precondition::kNone);
  EXPECT_EQ(EvaluatePreconditions(Parsed("GET", "If-Modified-Since: " + same + "\r\n"),
                                  {.etag = "\"v2\""}),
            Precondition::kNone);
  // If-Unmodified-Since: 412 when modified since; ignored under If-Match.
  EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", "If-Unmodified-Since: " + before + "\r\n"), v),
            Precondition::kFailed);
  EXPECT_EQ(EvaluatePreconditions(Parsed("PUT", "If-Unmodified-Since: " + same + "\r\n"), v),
            Precondition::kNone);
  EXPECT_EQ(EvaluatePreconditions(
                Parsed("PUT", "If-Match: \"v2\"\r\nIf-Unmodified-Since: " + before + "\r\n"), v),
            Precondition::kNone);
}

TEST(EvaluatePreconditionsTest, IfMatchIsJudgedBeforeIfNoneMatch) {
  const Validators v{.etag = "\"v2\""};
  // Step 1 fails first: 412 even for GET.
  EXPECT_EQ(EvaluatePreconditions(
                Parsed("GET", "If-Match: \"v1\"\r\nIf-None-Match: \"v2\"\r\n"), v),
            Precondition::kFailed);
  EXPECT_EQ(EvaluatePreconditions(
                Parsed("GET", "If-Match: \"v2\"\r\nIf-None-Match: \"v2\"\r\n"), v),
            Precondition::kNotModified);
}

TEST(ConditionalAnswerTest, A200ToGetBecomes304WithItsValidatorsButNoContentFields) {
  Response ok = Response::Text(200, "hello\n");
  ok.AddHeader("ETag", "\"h1\"");
  ok.AddHeader("Cache-Control", "max-age=60");
  ok.AddHeader("Vary", "Accept-Encoding");
  ok.AddHeader("Content-Location", "/r");
  ok.AddHeader("Content-Language", "en");
  ok.AddHeader("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT");
  std::optional<Response> r =
      ConditionalAnswer(Parsed("GET", "If-None-Match: \"h1\"\r\n"), ok, kNow);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 304);
  EXPECT_TRUE(r->body.empty());
  EXPECT_EQ(r->Header("ETag"), "\"h1\"");
  EXPECT_EQ(r->Header("Cache-Control"), "max-age=60");
  EXPECT_EQ(r->Header("Vary"), "Accept-Encoding");
  EXPECT_EQ(r->Header("Content-Location"), "/r");
  EXPECT_FALSE(r->Header("Content-Type").has_value());
  EXPECT_FALSE(r->Header("Content-Language").has_value());
  EXPECT_FALSE(r->Header("Last-Modified").has_value());  // the ETag validates
  // By date.
  Response dated = Response::Text(200, "hello\n");
  dated.AddHeader("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT");
  r = ConditionalAnswer(Parsed("HEAD", "If-Modified-Since: Mon, 07 Nov 1994 00:00:00 GMT\r\n"),
                        dated, kNow);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 304);
  EXPECT_EQ(r->Header("Last-Modified"), "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(ConditionalAnswerTest, A200ToGetWithoutValidatorsAnswersStarsAndIfMatch) {
  const Response ok = Response::Text(200, "hello\n");
  std::optional<Response> r = ConditionalAnswer(Parsed("GET", "If-None-Match: *\r\n"), ok, kNow);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 304);
  r = ConditionalAnswer(Parsed("GET", "If-Match: \"nope\"\r\n"), ok, kNow);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 412);
  EXPECT_FALSE(ConditionalAnswer(Parsed("GET", "If-Match: *\r\n"), ok, kNow).has_value());
  EXPECT_FALSE(ConditionalAnswer(Parsed("GET", "If-None-Match: \"x\"\r\n"), ok, kNow).has_value());
}

TEST(ConditionalAnswerTest, OnlyA200ToGetOrHeadIsJudged) {
  Response ok = Response::Text(200, "done\n");
  ok.AddHeader("ETag", "\"h1\"");
  // The method has run: the server cannot judge it afterwards (handlers do,
  // with EvaluatePreconditions).
  EXPECT_FALSE(ConditionalAnswer(Parsed("POST", "If-Match: \"other\"\r\n"), ok, kNow).has_value());
  EXPECT_FALSE(ConditionalAnswer(Parsed("PUT", "If-None-Match: *\r\n"), ok, kNow).has_value());
  // An error takes precedence over preconditions (RFC 9110 §13.2.1).
  Response missing = Response::Status(404);
  EXPECT_FALSE(ConditionalAnswer(Parsed("GET", "If-Match: \"h1\"\r\n"), missing, kNow).has_value());
  Response created = Response::Text(201, "");
  EXPECT_FALSE(ConditionalAnswer(Parsed("GET", "If-None-Match: *\r\n"), created, kNow).has_value());
}

}  // namespace
}  // namespace brisk::http
