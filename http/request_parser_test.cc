// Table-driven tests for RequestParser. Every row runs three ways: the whole
// input in one Feed, one byte at a time, and at random split points (fixed
// seed); each piece is copied into an exactly sized heap buffer so ASan
// catches any read past it.
#include "http/request_parser.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace brisk::http {
namespace {

constexpr int kDone = 0;   // every request complete, nothing left over
constexpr int kMore = -1;  // parser waits for more input at the end

struct Case {
  const char* name;
  std::string input;
  int expect = kDone;  // kDone, kMore or an error status
  int requests = 1;    // complete requests expected before the end/error
  // Checked on the first request when set.
  const char* method = nullptr;
  const char* target = nullptr;
  const char* path = nullptr;
  const char* query = nullptr;
  const char* body = nullptr;
  int keep_alive = -1;   // -1: not checked
  int minor = -1;        // -1: not checked
  int expect_continue = -1;
  const char* header_name = nullptr;  // with header_value: Header() lookup
  const char* header_value = nullptr;
  int header_count = -1;
  ParserLimits limits = ParserLimits();
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

struct Outcome {
  std::vector<Request> requests;
  int end = kDone;  // kDone, kMore or error status
};

Outcome RunCase(const Case& c, const std::vector<size_t>& cuts) {
  Outcome out;
  RequestParser parser(c.limits);
  size_t begin = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(c.input.size());
  for (size_t end : ends) {
    if (end <= begin) continue;
    const size_t n = end - begin;
    auto buf = std::make_unique<char[]>(n);
    c.input.copy(buf.get(), n, begin);
    std::string_view piece(buf.get(), n);
    begin = end;
    while (!piece.empty()) {
      ParseResult r = parser.Feed(piece);
      if (r.kind == ParseResult::kError) {
        EXPECT_GT(r.status, 0);
        out.end = r.status;
        // The parser stays in error.
        EXPECT_EQ(parser.Feed("x").kind, ParseResult::kError);
        return out;
      }
      if (r.kind == ParseResult::kNeedMore) {
        EXPECT_EQ(r.consumed, piece.size());
        break;
      }
      EXPECT_LE(r.consumed, piece.size());
      out.requests.push_back(parser.TakeRequest());
      piece.remove_prefix(r.consumed);
    }
  }
  out.end = parser.idle() ? kDone : kMore;
  return out;
}

void Check(const Case& c, const Outcome& o, const std::string& how) {
  SCOPED_TRACE(how);
  EXPECT_EQ(o.end, c.expect);
  ASSERT_EQ(o.requests.size(), static_cast<size_t>(c.requests));
  if (o.requests.empty()) return;
  const Request& r = o.requests.front();
  if (c.method) {
    EXPECT_EQ(r.method(), c.method);
  }
  if (c.target) {
    EXPECT_EQ(r.target(), c.target);
  }
  if (c.path) {
    EXPECT_EQ(r.path(), c.path);
  }
  if (c.query) {
    EXPECT_EQ(r.query(), c.query);
  }
  if (c.body) {
    EXPECT_EQ(r.body(), c.body);
  }
  if (c.keep_alive >= 0) {
    EXPECT_EQ(r.keep_alive(), c.keep_alive == 1);
  }
  if (c.minor >= 0) {
    EXPECT_EQ(r.version_minor(), c.minor);
  }
  if (c.expect_continue >= 0) {
    EXPECT_EQ(r.expects_continue(), c.expect_continue == 1);
  }
  if (c.header_name) {
    std::optional<std::string_view> v = r.Header(c.header_name);
    ASSERT_TRUE(v.has_value()) << c.header_name;
    EXPECT_EQ(*v, c.header_value);
  }
  if (c.header_count >= 0) {
    EXPECT_EQ(r.header_count(), c.header_count);
  }
}

ParserLimits Limits(size_t line, size_t header_bytes, size_t count, size_t body,
                    size_t ext) {
  ParserLimits l;
  l.max_request_line_bytes = line;
  l.max_header_bytes = header_bytes;
  l.max_header_count = count;
  l.max_body_bytes = body;
  l.max_chunk_extension_bytes = ext;
  return l;
}

#define H "Host: example.com\r\n"
#define GET "GET / HTTP/1.1\r\n" H "\r\n"
#define POST(te) "POST /p HTTP/1.1\r\n" H "Transfer-Encoding: " te "\r\n\r\n"
#define CHUNKED(body) POST("chunked") body

const std::vector<Case>& Cases() {
  static const auto* cases = new std::vector<Case>{
      // ---- Request line ----
      {.name = "simple_get",
       .input = GET,
       .method = "GET",
       .target = "/",
       .path = "/",
       .query = "",
       .body = "",
       .keep_alive = 1,
       .minor = 1},
      {.name = "path_and_query",
       .input = "GET /a/b?x=1&y=2 HTTP/1.1\r\n" H "\r\n",
       .path = "/a/b",
       .query = "x=1&y=2"},
      {.name = "percent_decoded_path",
       .input = "GET /a%20b/%C3%A9?q=%20 HTTP/1.1\r\n" H "\r\n",
       .target = "/a%20b/%C3%A9?q=%20",
       .path = "/a b/\xC3\xA9",
       .query = "q=%20"},
      {.name = "encoded_slash", .input = "GET /a%2fb HTTP/1.1\r\n" H "\r\n", .path = "/a/b"},
      {.name = "bad_escape",
       .input = "GET /a%zz HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "truncated_escape",
       .input = "GET /a% HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "escaped_nul",
       .input = "GET /a%00 HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      // Escapes of control characters are refused like the raw bytes.
      {.name = "escaped_lf",
       .input = "GET /a%0Ab HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "escaped_cr",
       .input = "GET /a%0d HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "escaped_unit_separator",
       .input = "GET /a%1F HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "escaped_del",
       .input = "GET /a%7f HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "escaped_space_and_tilde",
       .input = "GET /a%20%7E%80 HTTP/1.1\r\n" H "\r\n",
       .path = "/a ~\x80"},
      // Dot segments are removed (RFC 3986 §5.2.4), also when escaped; the
      // raw target is kept as sent.
      {.name = "dot_segments_removed",
       .input = "GET /a/./b/../c?x=/../ HTTP/1.1\r\n" H "\r\n",
       .target = "/a/./b/../c?x=/../",
       .path = "/a/c",
       .query = "x=/../"},
      {.name = "dot_dot_at_the_end_keeps_the_slash",
       .input = "GET /a/b/.. HTTP/1.1\r\n" H "\r\n",
       .path = "/a/"},
      {.name = "dot_at_the_end", .input = "GET /a/. HTTP/1.1\r\n" H "\r\n", .path = "/a/"},
      {.name = "dot_dot_to_the_root", .input = "GET /a/.. HTTP/1.1\r\n" H "\r\n", .path = "/"},
      // A dot segment made by an escape is refused: a proxy that does not
      // decode paths would see another path than the one served.
      {.name = "escaped_dot_segments",
       .input = "GET /static/%2E%2E/x HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "escaped_dot_segment_lower_case",
       .input = "GET /static/%2e/x HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "encoded_slash_dot_dot",
       .input = "GET /public/x%2F..%2F..%2Fadmin HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "escaped_dots_inside_a_segment_stay",
       .input = "GET /a/%2E%2Eb/c%2Fd HTTP/1.1\r\n" H "\r\n",
       .path = "/a/..b/c/d"},
      {.name = "raw_dot_segments_beside_other_escapes",
       .input = "GET /a%20b/../c%41 HTTP/1.1\r\n" H "\r\n",
       .path = "/cA"},
      {.name = "dots_inside_a_segment_stay",
       .input = "GET /a/.b/..c/.../d. HTTP/1.1\r\n" H "\r\n",
       .path = "/a/.b/..c/.../d."},
      {.name = "empty_segments_stay",
       .input = "GET //a//./b HTTP/1.1\r\n" H "\r\n",
       .path = "//a//b"},
      {.name = "dot_dot_above_the_root",
       .input = "GET /a/../../etc HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "escaped_dot_dot_above_the_root",
       .input = "GET /%2e%2e/x HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "absolute_form_dot_segments",
       .input = "GET http://example.com/a/../b HTTP/1.1\r\n" H "\r\n",
       .path = "/b"},
      {.name = "empty_query", .input = "GET /x? HTTP/1.1\r\n" H "\r\n", .path = "/x", .query = ""},
      {.name = "question_in_query",
       .input = "GET /x?a?b HTTP/1.1\r\n" H "\r\n",
       .path = "/x",
       .query = "a?b"},
      {.name = "fragment_rejected",
       .input = "GET /x#f HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "http10", .input = "GET / HTTP/1.0\r\n\r\n", .keep_alive = 0, .minor = 0},
      {.name = "http10_with_host", .input = "GET / HTTP/1.0\r\n" H "\r\n", .minor = 0},
      {.name = "http10_two_hosts",
       .input = "GET / HTTP/1.0\r\n" H H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "http09_version", .input = "GET / HTTP/0.9\r\n\r\n", .expect = 505, .requests = 0},
      // A later HTTP/1.x minor is served as HTTP/1.1 (RFC 9110 §2.5).
      {.name = "http12_served_as_http11",
       .input = "GET / HTTP/1.2\r\n" H "\r\n",
       .keep_alive = 1,
       .minor = 1},
      {.name = "http19_served_as_http11",
       .input = "GET / HTTP/1.9\r\n" H "\r\n",
       .keep_alive = 1,
       .minor = 1},
      {.name = "http19_connection_close",
       .input = "GET / HTTP/1.9\r\n" H "Connection: close\r\n\r\n",
       .keep_alive = 0,
       .minor = 1},
      {.name = "http12_keep_alive_is_default_not_http10",
       .input = "GET / HTTP/1.2\r\n" H "Connection: foo\r\n\r\n",
       .keep_alive = 1,
       .minor = 1},
      {.name = "http12_needs_host",
       .input = "GET / HTTP/1.2\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "http15_chunked_allowed",
       .input = "POST /p HTTP/1.5\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
                "1\r\na\r\n0\r\n\r\n",
       .body = "a",
       .minor = 1},
      {.name = "http13_expect_continue",
       .input = "POST / HTTP/1.3\r\n" H "Expect: 100-continue\r\n\r\n",
       .minor = 1,
       .expect_continue = 1},
      {.name = "http31_version",
       .input = "GET / HTTP/3.1\r\n" H "\r\n",
       .expect = 505,
       .requests = 0},
      {.name = "http00_version",
       .input = "GET / HTTP/0.0\r\n" H "\r\n",
       .expect = 505,
       .requests = 0},
      {.name = "http91_version",
       .input = "GET / HTTP/9.1\r\n" H "\r\n",
       .expect = 505,
       .requests = 0},
      {.name = "version_minor_letter_after_1",
       .input = "GET / HTTP/1.a\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "version_major_letter",
       .input = "GET / HTTP/x.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "version_comma",
       .input = "GET / HTTP/1,1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "http20_version",
       .input = "GET / HTTP/2.0\r\n" H "\r\n",
       .expect = 505,
       .requests = 0},
      {.name = "http3_version",
       .input = "GET / HTTP/3.0\r\n" H "\r\n",
       .expect = 505,
       .requests = 0},
      {.name = "lowercase_http",
       .input = "GET / http/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "version_two_digits",
       .input = "GET / HTTP/1.10\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "version_missing_minor",
       .input = "GET / HTTP/1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "version_letter",
       .input = "GET / HTTP/1.x\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "no_version", .input = "GET /\r\n" H "\r\n", .expect = 400, .requests = 0},
      {.name = "trailing_space_after_version",
       .input = "GET / HTTP/1.1 \r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "double_space_before_target",
       .input = "GET  / HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "double_space_before_version",
       .input = "GET /  HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "tab_separator",
       .input = "GET\t/ HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "leading_space",
       .input = " GET / HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "empty_method", .input = " / HTTP/1.1\r\n" H "\r\n", .expect = 400, .requests = 0},
      {.name = "method_with_slash",
       .input = "GE/T / HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "custom_method", .input = "PURGE /x HTTP/1.1\r\n" H "\r\n", .method = "PURGE"},
      {.name = "lowercase_method_kept", .input = "get / HTTP/1.1\r\n" H "\r\n", .method = "get"},
      {.name = "control_in_target",
       .input = "GET /a\x01 HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "del_in_target",
       .input = "GET /a\x7f HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "high_byte_in_target",
       .input = "GET /\xC3\xA9 HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "tab_in_target",
       .input = "GET /a\tb HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "nul_in_target",
       .input = std::string("GET /a\0b HTTP/1.1\r\n" H "\r\n", 39),
       .expect = 400,
       .requests = 0},
      {.name = "space_in_target",
       .input = "GET /a b HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "relative_target",
       .input = "GET a/b HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "absolute_form",
       .input = "GET http://example.com/x/y?z=1 HTTP/1.1\r\n" H "\r\n",
       .target = "http://example.com/x/y?z=1",
       .path = "/x/y",
       .query = "z=1"},
      {.name = "absolute_form_no_path",
       .input = "GET http://example.com HTTP/1.1\r\n" H "\r\n",
       .path = "/",
       .query = ""},
      {.name = "absolute_form_query_only",
       .input = "GET https://example.com?a HTTP/1.1\r\n" H "\r\n",
       .path = "/",
       .query = "a"},
      {.name = "absolute_form_empty_authority",
       .input = "GET http:///x HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "absolute_form_bad_scheme",
       .input = "GET 1http://h/ HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      // Only http and https URIs name a resource here (RFC 9110 §7.4).
      {.name = "absolute_form_other_scheme",
       .input = "GET foo://example.com/x HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "absolute_form_scheme_any_case",
       .input = "GET HTTP://example.com/x HTTP/1.1\r\n" H "\r\n",
       .path = "/x"},
      {.name = "absolute_form_ipv6_port",
       .input = "GET http://[::1]:8080/x HTTP/1.1\r\n" H "\r\n",
       .path = "/x",
       .query = ""},
      {.name = "absolute_form_userinfo",
       .input = "GET http://user@example.com/x HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "absolute_form_bad_port",
       .input = "GET http://example.com:8x/ HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "absolute_form_empty_host_with_port",
       .input = "GET http://:80/ HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "connect_authority",
       .input = "CONNECT example.com:443 HTTP/1.1\r\n" H "\r\n",
       .method = "CONNECT",
       .target = "example.com:443",
       .path = "",
       .keep_alive = 0},
      // CONNECT has no content (RFC 9110 §9.3.6): framing fields on it are
      // a desync vector (HAProxy forwards TE: chunked and no chunks).
      {.name = "connect_with_content_length",
       .input = "CONNECT example.com:443 HTTP/1.1\r\n" H "Content-Length: 5\r\n\r\nhello",
       .expect = 400,
       .requests = 0},
      {.name = "connect_chunked",
       .input =
           "CONNECT example.com:443 HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "connect_content_length_zero",
       .input = "CONNECT example.com:443 HTTP/1.1\r\n" H "Content-Length: 0\r\n\r\n",
       .method = "CONNECT",
       .keep_alive = 0},
      {.name = "connect_no_port",
       .input = "CONNECT example.com HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "connect_bad_port",
       .input = "CONNECT example.com:44x HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "connect_ipv6",
       .input = "CONNECT [2001:db8::1]:443 HTTP/1.1\r\n" H "\r\n",
       .target = "[2001:db8::1]:443",
       .path = ""},
      {.name = "connect_empty_port",
       .input = "CONNECT example.com: HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "connect_userinfo",
       .input = "CONNECT u@example.com:443 HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "connect_empty_host",
       .input = "CONNECT :443 HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "connect_ipv6_unbracketed",
       .input = "CONNECT ::1:443 HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "connect_origin_form",
       .input = "CONNECT /x HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "authority_form_for_get",
       .input = "GET example.com:443 HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "options_asterisk",
       .input = "OPTIONS * HTTP/1.1\r\n" H "\r\n",
       .method = "OPTIONS",
       .target = "*",
       .path = "*"},
      {.name = "asterisk_for_get",
       .input = "GET * HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "leading_empty_lines", .input = "\r\n\r\n" GET, .path = "/"},
      {.name = "leading_bare_lf", .input = "\n" GET, .expect = 400, .requests = 0},
      {.name = "leading_bare_cr",
       .input = "\rGET / HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "only_empty_lines", .input = "\r\n\r\n", .requests = 0},
      {.name = "request_line_bare_lf",
       .input = "GET / HTTP/1.1\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "request_line_cr_inside",
       .input = "GET /\r HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "incomplete_request_line",
       .input = "GET / HTTP/1.1",
       .expect = kMore,
       .requests = 0},
      // Bare CRs as line ends, and no LF ever: refused as soon as a byte
      // follows the CR (not held until the header timeout).
      {.name = "only_bare_cr_line_ends",
       .input = "GET /hello HTTP/1.1\rHost: x\r\r",
       .expect = 400,
       .requests = 0},
      {.name = "bare_cr_in_partial_request_line",
       .input = "GET /\rx",
       .expect = 400,
       .requests = 0},
      {.name = "bare_cr_in_partial_field",
       .input = "GET / HTTP/1.1\r\n" H "X-A: a\rb",
       .expect = 400,
       .requests = 0},
      {.name = "incomplete_request_line_cr",
       .input = "GET / HTTP/1.1\r",
       .expect = kMore,
       .requests = 0},
      // A bare CR early in a line that then runs over its limit: the first
      // error in the byte stream wins (the bare CR, known at the byte after
      // it) whether the line comes whole or in pieces; a bare CR past the
      // limit comes after the limit's error.
      {.name = "bare_cr_then_long_request_line",
       .input = "GET /\rb" + std::string(9000, 'a') + " HTTP/1.1\r\n" H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "bare_cr_then_long_field",
       .input = "GET / HTTP/1.1\r\n" H "X-A: a\rb" + std::string(40000, 'a') + "\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "bare_cr_in_a_field_over_the_count",
       .input = "GET / HTTP/1.1\r\n" H +
                [] {
                  std::string fields;
                  for (int i = 0; i < 99; ++i) fields += "X-" + std::to_string(i) + ": v\r\n";
                  return fields;
                }() +
                "X-Last: a\rb\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "long_request_line_then_bare_cr",
       .input = "GET /" + std::string(9000, 'a') + "\rb HTTP/1.1\r\n" H "\r\n",
       .expect = 414,
       .requests = 0},
      {.name = "long_field_then_bare_cr",
       .input = "GET / HTTP/1.1\r\n" H "X-A: " + std::string(40000, 'a') + "\rb\r\n\r\n",
       .expect = 431,
       .requests = 0},
      {.name = "incomplete_headers",
       .input = "GET / HTTP/1.1\r\n" H,
       .expect = kMore,
       .requests = 0},
      {.name = "incomplete_final_cr",
       .input = "GET / HTTP/1.1\r\n" H "\r",
       .expect = kMore,
       .requests = 0},
      {.name = "request_line_at_limit",
       .input = "GET /" + std::string(26, 'a') + " HTTP/1.1\r\n" H "\r\n",
       .limits = Limits(40, 1024, 10, 1024, 16)},
      {.name = "request_line_over_limit",
       .input = "GET /" + std::string(27, 'a') + " HTTP/1.1\r\n" H "\r\n",
       .expect = 414,
       .requests = 0,
       .limits = Limits(40, 1024, 10, 1024, 16)},
      {.name = "request_line_over_limit_unterminated",
       .input = "GET /" + std::string(100, 'a'),
       .expect = 414,
       .requests = 0,
       .limits = Limits(40, 1024, 10, 1024, 16)},
      {.name = "method_over_request_line_limit",  // RFC 9112 section 3: 501
       .input = std::string(60, 'X') + " / HTTP/1.1\r\n" H "\r\n",
       .expect = 501,
       .requests = 0,
       .limits = Limits(40, 1024, 10, 1024, 16)},
      {.name = "method_over_request_line_limit_unterminated",
       .input = std::string(100, 'X'),
       .expect = 501,
       .requests = 0,
       .limits = Limits(40, 1024, 10, 1024, 16)},
      {.name = "short_method_long_target_over_limit",  // the target: 414
       .input = std::string(39, 'X') + " /" + std::string(100, 'a'),
       .expect = 414,
       .requests = 0,
       .limits = Limits(40, 1024, 10, 1024, 16)},
      {.name = "request_line_default_limit",
       .input = "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n" H "\r\n",
       .expect = 414,
       .requests = 0},
      // ---- Header fields ----
      {.name = "header_lookup_case_insensitive",
       .input = "GET / HTTP/1.1\r\n" H "X-Thing: Value\r\n\r\n",
       .header_name = "x-THING",
       .header_value = "Value",
       .header_count = 2},
      {.name = "header_ows_trimmed",
       .input = "GET / HTTP/1.1\r\n" H "X-A: \t v a l \t \r\n\r\n",
       .header_name = "X-A",
       .header_value = "v a l"},
      {.name = "header_empty_value",
       .input = "GET / HTTP/1.1\r\n" H "X-Empty:\r\n\r\n",
       .header_name = "x-empty",
       .header_value = ""},
      {.name = "header_only_spaces_value",
       .input = "GET / HTTP/1.1\r\n" H "X-Empty:    \r\n\r\n",
       .header_name = "x-empty",
       .header_value = ""},
      {.name = "header_no_space_after_colon",
       .input = "GET / HTTP/1.1\r\n" H "X-A:b\r\n\r\n",
       .header_name = "x-a",
       .header_value = "b"},
      {.name = "header_colon_in_value",
       .input = "GET / HTTP/1.1\r\n" H "X-A: b:c::\r\n\r\n",
       .header_name = "x-a",
       .header_value = "b:c::"},
      {.name = "header_first_of_repeats",
       .input = "GET / HTTP/1.1\r\n" H "X-A: 1\r\nX-A: 2\r\n\r\n",
       .header_name = "x-a",
       .header_value = "1",
       .header_count = 3},
      {.name = "header_obs_text_allowed",
       .input = "GET / HTTP/1.1\r\n" H "X-A: caf\xC3\xA9\xFF\r\n\r\n",
       .header_name = "x-a",
       .header_value = "caf\xC3\xA9\xFF"},
      {.name = "header_tab_inside_value",
       .input = "GET / HTTP/1.1\r\n" H "X-A: a\tb\r\n\r\n",
       .header_name = "x-a",
       .header_value = "a\tb"},
      {.name = "header_long_value_word_scan",
       .input = "GET / HTTP/1.1\r\n" H "X-A: 0123456789abcdefghijklmnopqrstuvwxyz\r\n\r\n",
       .header_name = "x-a",
       .header_value = "0123456789abcdefghijklmnopqrstuvwxyz"},
      {.name = "header_space_before_colon",
       .input = "GET / HTTP/1.1\r\n" H "X-A : b\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "header_tab_before_colon",
       .input = "GET / HTTP/1.1\r\n" H "X-A\t: b\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_space_before_colon",
       .input = "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "header_obs_fold",
       .input = "GET / HTTP/1.1\r\n" H "X-A: b\r\n c\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "header_obs_fold_tab",
       .input = "GET / HTTP/1.1\r\n" H "X-A: b\r\n\tc\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "first_header_starts_with_space",
       .input = "GET / HTTP/1.1\r\n " H "\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "header_no_colon",
       .input = "GET / HTTP/1.1\r\n" H "NoColon\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "header_empty_name",
       .input = "GET / HTTP/1.1\r\n" H ": v\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "header_bad_name_char",
       .input = "GET / HTTP/1.1\r\n" H "X(A): v\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "header_high_byte_in_name",
       .input = "GET / HTTP/1.1\r\n" H "X\xC3\xA9: v\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "header_bare_cr_in_value",
       .input = "GET / HTTP/1.1\r\n" H "X-A: a\rb\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "header_bare_lf",
       .input = "GET / HTTP/1.1\r\n" H "X-A: a\nX-B: b\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "header_end_bare_lf",
       .input = "GET / HTTP/1.1\r\n" H "\n",
       .expect = 400,
       .requests = 0},
      {.name = "header_nul_in_value",
       .input = std::string("GET / HTTP/1.1\r\n" H "X-A: a\0b\r\n\r\n", 47),
       .expect = 400,
       .requests = 0},
      {.name = "header_nul_in_long_value",
       .input = std::string("GET / HTTP/1.1\r\n" H "X-A: abcdefghijklmn\0b\r\n\r\n", 60),
       .expect = 400,
       .requests = 0},
      {.name = "header_ctl_in_value",
       .input = "GET / HTTP/1.1\r\n" H "X-A: a\x1b[0m\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "header_del_in_value",
       .input = "GET / HTTP/1.1\r\n" H "X-A: abcdefgh\x7fijkl\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "header_vt_in_value",
       .input = "GET / HTTP/1.1\r\n" H "X-A: a\x0b\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "missing_host_http11",
       .input = "GET / HTTP/1.1\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "two_hosts", .input = "GET / HTTP/1.1\r\n" H H "\r\n", .expect = 400, .requests = 0},
      {.name = "host_case_insensitive",
       .input = "GET / HTTP/1.1\r\nhOsT: a\r\n\r\n",
       .header_name = "Host",
       .header_value = "a"},
      {.name = "empty_host_ok", .input = "GET / HTTP/1.1\r\nHost:\r\n\r\n"},
      // Host = uri-host [ ":" port ] (RFC 9112 §3.2, RFC 3986 §3.2.2).
      {.name = "host_with_port",
       .input = "GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
       .header_name = "host",
       .header_value = "example.com:8080"},
      {.name = "host_empty_port",
       .input = "GET / HTTP/1.1\r\nHost: example.com:\r\n\r\n",
       .header_name = "host",
       .header_value = "example.com:"},
      {.name = "host_uppercase",
       .input = "GET / HTTP/1.1\r\nHost: EXAMPLE.com\r\n\r\n",
       .header_name = "host",
       .header_value = "EXAMPLE.com"},
      {.name = "host_ipv4",
       .input = "GET / HTTP/1.1\r\nHost: 192.0.2.1:80\r\n\r\n",
       .header_name = "host",
       .header_value = "192.0.2.1:80"},
      {.name = "host_ipv4_like_reg_name",
       .input = "GET / HTTP/1.1\r\nHost: 999.1.1.1\r\n\r\n",
       .header_name = "host",
       .header_value = "999.1.1.1"},
      {.name = "host_pct_encoded",
       .input = "GET / HTTP/1.1\r\nHost: ex%41mple.com\r\n\r\n",
       .header_name = "host",
       .header_value = "ex%41mple.com"},
      {.name = "host_sub_delims",
       .input = "GET / HTTP/1.1\r\nHost: a-b_c~d!$&'()*+,;=\r\n\r\n",
       .header_name = "host",
       .header_value = "a-b_c~d!$&'()*+,;="},
      {.name = "host_ipv6",
       .input = "GET / HTTP/1.1\r\nHost: [2001:db8::1]\r\n\r\n",
       .header_name = "host",
       .header_value = "[2001:db8::1]"},
      {.name = "host_ipv6_port",
       .input = "GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n",
       .header_name = "host",
       .header_value = "[2001:db8::1]:8080"},
      {.name = "host_ipv6_empty_port",
       .input = "GET / HTTP/1.1\r\nHost: [::1]:\r\n\r\n",
       .header_name = "host",
       .header_value = "[::1]:"},
      {.name = "host_ipv6_loopback",
       .input = "GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n",
       .header_name = "host",
       .header_value = "[::1]"},
      {.name = "host_ipv6_unspecified",
       .input = "GET / HTTP/1.1\r\nHost: [::]\r\n\r\n",
       .header_name = "host",
       .header_value = "[::]"},
      {.name = "host_ipv6_full",
       .input = "GET / HTTP/1.1\r\nHost: [2001:0db8:0:0:0:0:2:1]\r\n\r\n",
       .header_name = "host",
       .header_value = "[2001:0db8:0:0:0:0:2:1]"},
      {.name = "host_ipv6_trailing_double_colon",
       .input = "GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7::]\r\n\r\n",
       .header_name = "host",
       .header_value = "[1:2:3:4:5:6:7::]"},
      {.name = "host_ipv6_uppercase_hex",
       .input = "GET / HTTP/1.1\r\nHost: [FE80::ABCD]\r\n\r\n",
       .header_name = "host",
       .header_value = "[FE80::ABCD]"},
      {.name = "host_ipv6_ipv4_mapped",
       .input = "GET / HTTP/1.1\r\nHost: [::ffff:192.0.2.1]:443\r\n\r\n",
       .header_name = "host",
       .header_value = "[::ffff:192.0.2.1]:443"},
      {.name = "host_ipv6_ipv4_full",
       .input = "GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:1.2.3.4]\r\n\r\n",
       .header_name = "host",
       .header_value = "[1:2:3:4:5:6:1.2.3.4]"},
      {.name = "host_ipvfuture",
       .input = "GET / HTTP/1.1\r\nHost: [v7.fe80::1+a]\r\n\r\n",
       .header_name = "host",
       .header_value = "[v7.fe80::1+a]"},
      {.name = "host_userinfo",
       .input = "GET / HTTP/1.1\r\nHost: user@example.com\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_userinfo_password",
       .input = "GET / HTTP/1.1\r\nHost: user:pw@example.com\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_at_only",
       .input = "GET / HTTP/1.1\r\nHost: @\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_port_letters",
       .input = "GET / HTTP/1.1\r\nHost: example.com:80a\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_two_ports",
       .input = "GET / HTTP/1.1\r\nHost: example.com:80:81\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_negative_port",
       .input = "GET / HTTP/1.1\r\nHost: example.com:-1\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_only_port",
       .input = "GET / HTTP/1.1\r\nHost: :80\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_only_colon",
       .input = "GET / HTTP/1.1\r\nHost: :\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_unbracketed",
       .input = "GET / HTTP/1.1\r\nHost: ::1\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_unbracketed_full",
       .input = "GET / HTTP/1.1\r\nHost: 2001:db8::1\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_unclosed",
       .input = "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_unopened",
       .input = "GET / HTTP/1.1\r\nHost: ::1]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_two_double_colons",
       .input = "GET / HTTP/1.1\r\nHost: [1::2::3]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_triple_colon",
       .input = "GET / HTTP/1.1\r\nHost: [1:::2]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_too_many_groups",
       .input = "GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7:8:9]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_too_few_groups",
       .input = "GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_compressed_eight_groups",
       .input = "GET / HTTP/1.1\r\nHost: [1:2:3:4::5:6:7:8]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_bad_hex",
       .input = "GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_group_too_long",
       .input = "GET / HTTP/1.1\r\nHost: [12345::1]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_leading_single_colon",
       .input = "GET / HTTP/1.1\r\nHost: [:1::2]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_trailing_single_colon",
       .input = "GET / HTTP/1.1\r\nHost: [1::2:]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_zone_id",
       .input = "GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_bad_ipv4",
       .input = "GET / HTTP/1.1\r\nHost: [::ffff:256.1.1.1]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_ipv4_leading_zero",
       .input = "GET / HTTP/1.1\r\nHost: [::ffff:01.1.1.1]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_ipv4_not_last",
       .input = "GET / HTTP/1.1\r\nHost: [::1.2.3.4:1]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_junk_after",
       .input = "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv6_port_letters",
       .input = "GET / HTTP/1.1\r\nHost: [::1]:http\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_empty_literal",
       .input = "GET / HTTP/1.1\r\nHost: []\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipv4_in_brackets",
       .input = "GET / HTTP/1.1\r\nHost: [192.0.2.1]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipvfuture_no_hex",
       .input = "GET / HTTP/1.1\r\nHost: [v.x]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipvfuture_no_dot",
       .input = "GET / HTTP/1.1\r\nHost: [v7x]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ipvfuture_empty_tail",
       .input = "GET / HTTP/1.1\r\nHost: [v7.]\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_space_inside",
       .input = "GET / HTTP/1.1\r\nHost: exa mple.com\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_tab_inside",
       .input = "GET / HTTP/1.1\r\nHost: exa\tmple.com\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_slash",
       .input = "GET / HTTP/1.1\r\nHost: example.com/x\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_question_mark",
       .input = "GET / HTTP/1.1\r\nHost: example.com?x\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_hash",
       .input = "GET / HTTP/1.1\r\nHost: example.com#x\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_backslash",
       .input = "GET / HTTP/1.1\r\nHost: example.com\\x\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_bad_escape",
       .input = "GET / HTTP/1.1\r\nHost: ex%zzample\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_truncated_escape",
       .input = "GET / HTTP/1.1\r\nHost: example%4\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_high_byte",
       .input = "GET / HTTP/1.1\r\nHost: caf\xC3\xA9.com\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_quote",
       .input = "GET / HTTP/1.1\r\nHost: \"example.com\"\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_ows_trimmed",
       .input = "GET / HTTP/1.1\r\nHost: \t example.com:80 \t\r\n\r\n",
       .header_name = "host",
       .header_value = "example.com:80"},
      {.name = "host_invalid_http10",
       .input = "GET / HTTP/1.0\r\nHost: a@b\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_invalid_second_of_two",
       .input = "GET / HTTP/1.1\r\n" H "Host: a b\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_control_byte",
       .input = "GET / HTTP/1.1\r\nHost: exa\x01mple.com\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_del_byte",
       .input = "GET / HTTP/1.1\r\nHost: example.com\x7f\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_nul_byte",
       .input = std::string("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 30),
       .expect = 400,
       .requests = 0},
      {.name = "host_bare_cr",
       .input = "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "host_long_name_word_scan",
       .input = "GET / HTTP/1.1\r\nHost: a-very-long-host-name.example.com:65535\r\n\r\n",
       .header_name = "host",
       .header_value = "a-very-long-host-name.example.com:65535"},
      // Trailer fields are checked as field lines only, then dropped.
      {.name = "host_in_trailer_not_host_rule",
       .input = CHUNKED("0\r\nHost: a@b c\r\n\r\n"),
       .body = ""},
      {.name = "host_in_trailer_control_byte",
       .input = CHUNKED("0\r\nHost: a\x01\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "empty_host_only_spaces_ok",
       .input = "GET / HTTP/1.1\r\nHost:   \r\n\r\n",
       .header_name = "host",
       .header_value = ""},
      {.name = "header_bytes_at_limit",
       .input = "GET / HTTP/1.1\r\n" H "X: " + std::string(10, 'v') + "\r\n\r\n",
       .limits = Limits(100, 19 + 15 + 2, 10, 1024, 16)},
      {.name = "header_bytes_over_limit",
       .input = "GET / HTTP/1.1\r\n" H "X: " + std::string(11, 'v') + "\r\n\r\n",
       .expect = 431,
       .requests = 0,
       .limits = Limits(100, 19 + 15 + 2, 10, 1024, 16)},
      {.name = "header_bytes_over_limit_unterminated",
       .input = "GET / HTTP/1.1\r\n" H "X: " + std::string(100, 'v'),
       .expect = 431,
       .requests = 0,
       .limits = Limits(100, 64, 10, 1024, 16)},
      {.name = "header_bytes_default_limit",
       .input = "GET / HTTP/1.1\r\n" H "X: " + std::string(40000, 'v') + "\r\n\r\n",
       .expect = 431,
       .requests = 0},
      {.name = "header_count_at_limit",
       .input = "GET / HTTP/1.1\r\n" H "A: 1\r\nB: 2\r\n\r\n",
       .limits = Limits(100, 1024, 3, 1024, 16)},
      {.name = "header_count_over_limit",
       .input = "GET / HTTP/1.1\r\n" H "A: 1\r\nB: 2\r\nC: 3\r\n\r\n",
       .expect = 431,
       .requests = 0,
       .limits = Limits(100, 1024, 3, 1024, 16)},
      {.name = "many_headers_default",
       .input = "GET / HTTP/1.1\r\n" H "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n"
                "F: 6\r\nG: 7\r\nH: 8\r\nI: 9\r\nJ: 10\r\nK: 11\r\nL: 12\r\n"
                "M: 13\r\nN: 14\r\nO: 15\r\nP: 16\r\nQ: 17\r\nR: 18\r\n\r\n",
       .header_name = "r",
       .header_value = "18",
       .header_count = 19},
      // ---- Connection / keep-alive / Expect ----
      {.name = "http11_default_keep_alive", .input = GET, .keep_alive = 1},
      {.name = "http11_connection_close",
       .input = "GET / HTTP/1.1\r\n" H "Connection: close\r\n\r\n",
       .keep_alive = 0},
      {.name = "http11_connection_close_mixed_case",
       .input = "GET / HTTP/1.1\r\n" H "Connection: Upgrade, CLOSE\r\n\r\n",
       .keep_alive = 0},
      {.name = "http11_connection_keep_alive",
       .input = "GET / HTTP/1.1\r\n" H "Connection: keep-alive\r\n\r\n",
       .keep_alive = 1},
      {.name = "http11_connection_closed_not_close",
       .input = "GET / HTTP/1.1\r\n" H "Connection: closed\r\n\r\n",
       .keep_alive = 1},
      {.name = "http10_default_close", .input = "GET / HTTP/1.0\r\n\r\n", .keep_alive = 0},
      {.name = "http10_keep_alive",
       .input = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
       .keep_alive = 1},
      {.name = "http10_keep_alive_and_close",
       .input = "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
       .keep_alive = 0},
      {.name = "http10_keep_alive_second_line",
       .input = "GET / HTTP/1.0\r\nConnection: foo\r\nConnection: keep-alive\r\n\r\n",
       .keep_alive = 1},
      {.name = "expect_continue",
       .input = "POST / HTTP/1.1\r\n" H "Expect: 100-continue\r\n"
                "Content-Length: 2\r\n\r\nhi",
       .body = "hi",
       .expect_continue = 1},
      {.name = "expect_continue_case",
       .input = "POST / HTTP/1.1\r\n" H "Expect: 100-Continue\r\n\r\n",
       .expect_continue = 1},
      {.name = "expect_other",
       .input = "GET / HTTP/1.1\r\n" H "Expect: foo\r\n\r\n",
       .expect_continue = 0},
      // Expect = #expectation (RFC 9110 §10.1.1): a list member counts.
      {.name = "expect_continue_in_list",
       .input = "POST / HTTP/1.1\r\n" H "Expect: foo, 100-continue\r\n\r\n",
       .expect_continue = 1},
      {.name = "expect_continue_empty_elements",
       .input = "POST / HTTP/1.1\r\n" H "Expect: , 100-CONTINUE ,\r\n\r\n",
       .expect_continue = 1},
      {.name = "expect_continue_second_line",
       .input = "POST / HTTP/1.1\r\n" H "Expect: foo\r\nExpect: 100-continue\r\n\r\n",
       .expect_continue = 1},
      {.name = "expect_continue_with_value_is_other",
       .input = "POST / HTTP/1.1\r\n" H "Expect: 100-continue=1\r\n\r\n",
       .expect_continue = 0},
      {.name = "expect_continue_prefix_is_other",
       .input = "POST / HTTP/1.1\r\n" H "Expect: 100-continued\r\n\r\n",
       .expect_continue = 0},
      {.name = "expect_continue_http10",
       .input = "GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
       .expect_continue = 0},
      {.name = "expect_continue_body_pending",
       .input = "POST / HTTP/1.1\r\n" H "Expect: 100-continue\r\n"
                "Content-Length: 5\r\n\r\n",
       .expect = kMore,
       .requests = 0},
      // ---- Content-Length ----
      {.name = "content_length_body",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 5\r\n\r\nhello",
       .method = "POST",
       .body = "hello"},
      {.name = "content_length_zero",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 0\r\n\r\n",
       .body = ""},
      {.name = "content_length_leading_zeros",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 0003\r\n\r\nabc",
       .body = "abc"},
      {.name = "content_length_body_with_crlf",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 6\r\n\r\na\r\nb\r\n",
       .body = "a\r\nb\r\n"},
      {.name = "content_length_incomplete_body",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 10\r\n\r\nhello",
       .expect = kMore,
       .requests = 0},
      {.name = "content_length_duplicate_equal",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
       .body = "abc"},
      {.name = "content_length_list_equal",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 3, 3,3\r\n\r\nabc",
       .body = "abc"},
      {.name = "content_length_duplicate_differ",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
       .expect = 400,
       .requests = 0},
      {.name = "content_length_list_differ",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 3, 4\r\n\r\nabcd",
       .expect = 400,
       .requests = 0},
      {.name = "content_length_empty_list_element",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 3,,3\r\n\r\nabc",
       .expect = 400,
       .requests = 0},
      {.name = "content_length_empty",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length:\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "content_length_plus",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: +3\r\n\r\nabc",
       .expect = 400,
       .requests = 0},
      {.name = "content_length_minus",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "content_length_hex",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 0x3\r\n\r\nabc",
       .expect = 400,
       .requests = 0},
      {.name = "content_length_inner_space",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 1 2\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "content_length_decimal_point",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 3.0\r\n\r\nabc",
       .expect = 400,
       .requests = 0},
      {.name = "content_length_overflow",  // too large, not malformed
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 99999999999999999999999\r\n\r\n",
       .expect = 413,
       .requests = 0},
      // Two different values past 2^64 both read as UINT64_MAX: they must
      // not pass for equal (RFC 9112 §6.3: differing lengths are a 400).
      {.name = "content_length_two_different_overflows",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 18446744073709551616\r\n"
                "Content-Length: 99999999999999999999\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "content_length_overflow_list",
       .input = "POST /p HTTP/1.1\r\n" H
                "Content-Length: 18446744073709551616, 18446744073709551617\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "content_length_twenty_digits_with_leading_zeros",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 00000000000000000005\r\n\r\nhello",
       .body = "hello"},
      {.name = "content_length_many_leading_zeros_equal_list",
       .input =
           "POST /p HTTP/1.1\r\n" H "Content-Length: 000000000000000000000000000003, 3\r\n\r\nabc",
       .body = "abc"},
      {.name = "content_length_only_zeros",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 000000000000000000000000\r\n\r\n",
       .body = ""},
      {.name = "content_length_over_body_limit",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 11\r\n\r\n",
       .expect = 413,
       .requests = 0,
       .limits = Limits(100, 1024, 10, 10, 16)},
      {.name = "content_length_at_body_limit",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 10\r\n\r\n0123456789",
       .body = "0123456789",
       .limits = Limits(100, 1024, 10, 10, 16)},
      {.name = "content_length_default_body_limit",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 1048577\r\n\r\n",
       .expect = 413,
       .requests = 0},
      {.name = "content_length_case_insensitive_name",
       .input = "POST /p HTTP/1.1\r\n" H "content-LENGTH: 2\r\n\r\nok",
       .body = "ok"},
      {.name = "get_without_length_has_no_body",
       .input = GET "GET /2 HTTP/1.1\r\n" H "\r\n",
       .requests = 2,
       .body = ""},
      // ---- Transfer-Encoding ----
      {.name = "chunked_simple",
       .input = CHUNKED("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
       .body = "hello world"},
      {.name = "chunked_hex_sizes",
       .input = CHUNKED("a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n"),
       .body = "01234567890123456789"},
      {.name = "chunked_leading_zeros",
       .input = CHUNKED("0003\r\nabc\r\n000\r\n\r\n"),
       .body = "abc"},
      // Any number of leading zeros (RFC 9112 §7.1: chunk-size = 1*HEXDIG),
      // those beyond 16 digits within max_chunk_extension_bytes:
      // an endless line of zeros, trickled a byte per idle timeout, held a
      // connection for good (outside review).
      {.name = "chunked_size_sixteen_digits",
       .input = CHUNKED("0000000000000005\r\nhello\r\n0000000000000000\r\n\r\n"),
       .body = "hello"},
      {.name = "chunked_size_seventeen_digits",
       .input = CHUNKED("00000000000000005\r\nhello\r\n00000000000000000\r\n\r\n"),
       .body = "hello"},
      {.name = "chunked_size_zeros_up_to_the_line_bound",
       .input = CHUNKED("0000000000000000000005\r\nhello\r\n0\r\n\r\n"),  // 22 digits
       .body = "hello",
       .limits = Limits(100, 1024, 10, 1024, 6)},
      {.name = "chunked_size_zeros_past_the_line_bound",
       .input = CHUNKED("00000000000000000000005\r\nhello\r\n0\r\n\r\n"),  // 23
       .expect = 400,
       .requests = 0,
       .limits = Limits(100, 1024, 10, 1024, 6)},
      {.name = "chunked_last_chunk_zeros_past_the_line_bound",
       .input = CHUNKED("5\r\nhello\r\n00000000000000000000000\r\n\r\n"),
       .expect = 400,
       .requests = 0,
       .limits = Limits(100, 1024, 10, 1024, 6)},
      {.name = "chunked_size_seventeen_significant_digits",
       .input = CHUNKED("00000010000000000000000\r\nx\r\n0\r\n\r\n"),
       .expect = 400,
       .requests = 0,
       .limits = Limits(100, 1024, 10, ~size_t{0}, 16)},
      {.name = "chunked_empty_body", .input = CHUNKED("0\r\n\r\n"), .body = ""},
      {.name = "chunked_data_with_crlf",
       .input = CHUNKED("4\r\n\r\n\r\n\r\n0\r\n\r\n"),
       .body = "\r\n\r\n"},
      {.name = "chunked_case_insensitive",
       .input = POST("ChUnKeD") "1\r\na\r\n0\r\n\r\n",
       .body = "a"},
      {.name = "chunked_with_extension",
       .input = CHUNKED("5;name=value\r\nhello\r\n0;last\r\n\r\n"),
       .body = "hello"},
      {.name = "chunked_extension_quoted",
       .input = CHUNKED("5;a=\"x y\\\"z\";b\r\nhello\r\n0\r\n\r\n"),
       .body = "hello"},
      {.name = "chunked_extension_bws",
       .input = CHUNKED("5 ; a = b\r\nhello\r\n0\r\n\r\n"),
       .body = "hello"},
      {.name = "chunked_extension_no_name",
       .input = CHUNKED("5;\r\nhello\r\n0\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_extension_bad_char",
       .input = CHUNKED("5;a@b\r\nhello\r\n0\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_extension_unterminated_quote",
       .input = CHUNKED("5;a=\"xy\r\nhello\r\n0\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_extension_at_limit",
       .input = CHUNKED("5;abcdefgh\r\nhello\r\n0\r\n\r\n"),
       .body = "hello",
       .limits = Limits(100, 1024, 10, 1024, 9)},
      {.name = "chunked_extension_over_limit",
       .input = CHUNKED("5;abcdefghi\r\nhello\r\n0\r\n\r\n"),
       .expect = 400,
       .requests = 0,
       .limits = Limits(100, 1024, 10, 1024, 9)},
      {.name = "chunked_extension_default_limit",
       .input = CHUNKED("5;a=" + std::string(2000, 'x') + "\r\nhello\r\n0\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_size_trailing_space",
       .input = CHUNKED("5 \r\nhello\r\n0\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_size_leading_space",
       .input = CHUNKED(" 5\r\nhello\r\n0\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_size_plus",
       .input = CHUNKED("+5\r\nhello\r\n0\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_size_0x",
       .input = CHUNKED("0x5\r\nhello\r\n0\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_size_empty",
       .input = CHUNKED("\r\nhello\r\n0\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_size_non_hex",
       .input = CHUNKED("g\r\nhello\r\n0\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_size_overflow",
       .input = CHUNKED("10000000000000000\r\nx\r\n0\r\n\r\n"),
       .expect = 400,
       .requests = 0,
       .limits = Limits(100, 1024, 10, ~size_t{0}, 16)},
      {.name = "chunked_size_over_body_limit",
       .input = CHUNKED("fffffffffffffffffffff\r\n"),
       .expect = 413,
       .requests = 0},
      {.name = "chunked_total_over_body_limit",
       .input = CHUNKED("6\r\n012345\r\n5\r\n01234\r\n0\r\n\r\n"),
       .expect = 413,
       .requests = 0,
       .limits = Limits(100, 1024, 10, 10, 16)},
      {.name = "chunked_total_at_body_limit",
       .input = CHUNKED("6\r\n012345\r\n4\r\n0123\r\n0\r\n\r\n"),
       .body = "0123450123",
       .limits = Limits(100, 1024, 10, 10, 16)},
      {.name = "chunked_size_bare_lf",
       .input = CHUNKED("5\nhello\r\n0\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_data_missing_crlf",
       .input = CHUNKED("5\r\nhelloX\r\n0\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_data_bare_lf",
       .input = CHUNKED("5\r\nhello\n0\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_data_cr_without_lf",
       .input = CHUNKED("5\r\nhello\rX0\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_data_too_long",
       .input = CHUNKED("3\r\nhello\r\n0\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_missing_last_chunk",
       .input = CHUNKED("5\r\nhello\r\n"),
       .expect = kMore,
       .requests = 0},
      {.name = "chunked_missing_final_crlf",
       .input = CHUNKED("5\r\nhello\r\n0\r\n"),
       .expect = kMore,
       .requests = 0},
      {.name = "chunked_trailers",
       .input = CHUNKED("5\r\nhello\r\n0\r\nX-Sum: 1\r\nX-Other: b\r\n\r\n"),
       .body = "hello",
       .header_count = 2},
      {.name = "chunked_trailer_bad",
       .input = CHUNKED("5\r\nhello\r\n0\r\nX Sum: 1\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_trailer_bare_lf",
       .input = CHUNKED("5\r\nhello\r\n0\r\nX: 1\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_trailer_obs_fold",
       .input = CHUNKED("0\r\nX: 1\r\n 2\r\n\r\n"),
       .expect = 400,
       .requests = 0},
      {.name = "chunked_trailers_over_limit",
       .input = CHUNKED("0\r\nX: " + std::string(1000, 'a') + "\r\n\r\n"),
       .expect = 431,
       .requests = 0,
       .limits = Limits(100, 200, 10, 1024, 16)},
      {.name = "chunked_trailer_count_over_limit",
       .input = CHUNKED("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
       .expect = 431,
       .requests = 0,
       .limits = Limits(100, 1024, 2, 1024, 16)},
      {.name = "te_and_content_length",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 5\r\n"
                "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "content_length_after_te",
       .input = "POST /p HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
                "Content-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "te_http10",
       .input = "POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "te_chunked_twice",
       .input = POST("chunked, chunked") "0\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "te_chunked_twice_two_lines",
       .input = "POST /p HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
                "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "te_chunked_not_last",
       .input = POST("chunked, gzip") "0\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "te_chunked_not_last_two_lines",
       .input = "POST /p HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
                "Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "te_gzip_only", .input = POST("gzip") "", .expect = 400, .requests = 0},
      {.name = "te_gzip_chunked",
       .input = POST("gzip, chunked") "0\r\n\r\n",
       .expect = 501,
       .requests = 0},
      {.name = "te_unknown_chunked",
       .input = POST("foo;q=1, chunked") "0\r\n\r\n",
       .expect = 501,
       .requests = 0},
      {.name = "te_identity_chunked",
       .input = POST("identity, chunked") "0\r\n\r\n",
       .expect = 501,
       .requests = 0},
      // Empty list elements are ignored (RFC 9110 §5.6.1.2 MUST).
      {.name = "te_empty_element_first",
       .input = POST(", chunked") "1\r\na\r\n0\r\n\r\n",
       .body = "a"},
      {.name = "te_empty_element_last",
       .input = POST("chunked ,") "1\r\na\r\n0\r\n\r\n",
       .body = "a"},
      {.name = "te_empty_elements_between",
       .input = POST("gzip , ,chunked") "0\r\n\r\n",
       .expect = 501,
       .requests = 0},
      {.name = "te_empty_line_after_chunked",
       .input = "POST /p HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
                "Transfer-Encoding: ,\r\n\r\n1\r\na\r\n0\r\n\r\n",
       .body = "a"},
      {.name = "te_only_empty_elements",
       .input = POST(" , ,") "0\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "te_empty_elements_twice_chunked",
       .input = POST("chunked,,chunked") "0\r\n\r\n",
       .expect = 400,
       .requests = 0},
      {.name = "te_empty", .input = POST("") "0\r\n\r\n", .expect = 400, .requests = 0},
      {.name = "te_xchunked", .input = POST("xchunked") "0\r\n\r\n", .expect = 400, .requests = 0},
      {.name = "te_chunked_trailing_ows",
       .input = "POST /p HTTP/1.1\r\n" H "Transfer-Encoding: chunked \r\n\r\n"
                "1\r\na\r\n0\r\n\r\n",
       .body = "a"},
      // ---- Pipelining ----
      {.name = "pipelined_two_gets",
       .input = GET "GET /second HTTP/1.1\r\n" H "\r\n",
       .requests = 2,
       .path = "/"},
      {.name = "pipelined_post_then_get",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 3\r\n\r\nabc" GET,
       .requests = 2,
       .body = "abc"},
      {.name = "pipelined_chunked_then_get",
       .input = CHUNKED("3\r\nabc\r\n0\r\nT: 1\r\n\r\n") GET,
       .requests = 2,
       .body = "abc"},
      {.name = "pipelined_with_empty_lines_between", .input = GET "\r\n\r\n" GET, .requests = 2},
      {.name = "pipelined_second_incomplete",
       .input = GET "GET /x HTTP/1.1\r\n",
       .expect = kMore,
       .requests = 1},
      {.name = "pipelined_second_bad",
       .input = GET "GET /x HTTP/9.9\r\n" H "\r\n",
       .expect = 505,
       .requests = 1},
      {.name = "pipelined_sixteen",
       .input = GET GET GET GET GET GET GET GET GET GET GET GET GET GET GET GET,
       .requests = 16},
      {.name = "smuggle_cl_then_te_pipelined",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 4\r\n"
                "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" GET,
       .expect = 400,
       .requests = 0},
      {.name = "pipelined_body_looks_like_request",
       .input = "POST /p HTTP/1.1\r\n" H "Content-Length: 19\r\n\r\n"
                "GET /x HTTP/1.1\r\n\r\n" GET,
       .requests = 2,
       .body = "GET /x HTTP/1.1\r\n\r\n"},
      // ---- Garbage ----
      {.name = "garbage_binary",
       .input = std::string("\x16\x03\x01\x02\x00\x01\r\n\xfc\x03\x03", 11),
       .expect = 400,
       .requests = 0},
      // No request line starts with a non-token byte: refused at the first
      // byte, not buffered until a line end (a TLS ClientHello has none).
      {.name = "garbage_without_line_end",
       .input = std::string("\x16\x03\x01\x02\x00\x01\xfc\x03\x03", 9),
       .expect = 400,
       .requests = 0},
      {.name = "garbage_high_byte_first",
       .input = "\x80GET / HTTP/1.1",
       .expect = 400,
       .requests = 0},
      {.name = "garbage_nul_first", .input = std::string("\0GET", 4), .expect = 400, .requests = 0},
      {.name = "garbage_after_empty_lines",
       .input = "\r\n\r\n\x16\x03",
       .expect = 400,
       .requests = 0},
      {.name = "garbage_token_start_waits_for_line",
       .input = "G@T / HTTP/1.1",
       .expect = kMore,
       .requests = 0},
      {.name = "pipelined_second_starts_with_garbage",
       .input = GET "\x16\x03\x01",
       .expect = 400,
       .requests = 1},
      {.name = "garbage_http2_preface",
       .input = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
       .expect = 505,
       .requests = 0},
      {.name = "garbage_text_line", .input = "hello world\r\n", .expect = 400, .requests = 0},
      {.name = "garbage_one_word_line", .input = "hello\r\n", .expect = 400, .requests = 0},
  };
  return *cases;
}

class RequestParserTableTest : public ::testing::TestWithParam<Case> {};

TEST_P(RequestParserTableTest, WholeBytewiseAndRandomSplits) {
  const Case& c = GetParam();
  Check(c, RunCase(c, {}), "whole");
  std::vector<size_t> every;
  for (size_t i = 1; i < c.input.size(); ++i) every.push_back(i);
  Check(c, RunCase(c, every), "one byte at a time");
  std::mt19937 rng(12345);
  for (int round = 0; round < 8; ++round) {
    std::vector<size_t> cuts;
    if (c.input.size() > 1) {
      std::uniform_int_distribution<size_t> pick(1, c.input.size() - 1);
      const int n = 1 + round;
      for (int i = 0; i < n; ++i) cuts.push_back(pick(rng));
      std::sort(cuts.begin(), cuts.end());
    }
    Check(c, RunCase(c, cuts), "random split round " + std::to_string(round));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, RequestParserTableTest, ::testing::ValuesIn(Cases()),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// ---- Behaviour beyond the table ----

// RFC 9112 §3.2.2: for the absolute-form the target's authority is the
// request's, and the Host field is ignored; else Host is.
TEST(RequestParserTest, TheAuthorityIsTheTargetsOrElseHosts) {
  struct Row {
    const char* input;
    const char* authority;
  };
  for (const Row& row : {
           Row{"GET http://a.example:8080/x HTTP/1.1\r\nHost: b.example\r\n\r\n",
               "a.example:8080"},
           Row{"GET http://a.example?q HTTP/1.1\r\nHost: b.example\r\n\r\n", "a.example"},
           Row{"GET /x HTTP/1.1\r\nHost: b.example:81\r\n\r\n", "b.example:81"},
           Row{"GET /x HTTP/1.1\r\nHost:\r\n\r\n", ""},
           Row{"GET /x HTTP/1.0\r\n\r\n", ""},
           Row{"CONNECT c.example:443 HTTP/1.1\r\nHost: d.example\r\n\r\n",
               "c.example:443"},
       }) {
    SCOPED_TRACE(row.input);
    for (const bool bytewise : {false, true}) {
      RequestParser parser;
      ParseResult r;
      const std::string_view in = row.input;
      if (bytewise) {
        for (size_t i = 0; i < in.size(); ++i) r = parser.Feed(in.substr(i, 1));
      } else {
        r = parser.Feed(in);
      }
      ASSERT_EQ(r.kind, ParseResult::kComplete);
      EXPECT_EQ(parser.request().authority(), row.authority);
      // And after the parser is reused.
      const Request taken = parser.TakeRequest();
      EXPECT_EQ(taken.authority(), row.authority);
      EXPECT_EQ(parser.request().authority(), "");
    }
  }
}

TEST(RequestParserTest, HeadersCompleteAndExpectContinueBeforeBody) {
  RequestParser parser;
  ParseResult r = parser.Feed(
      "POST /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
      "Content-Length: 4\r\n\r\n");
  EXPECT_EQ(r.kind, ParseResult::kNeedMore);
  EXPECT_TRUE(parser.headers_complete());
  EXPECT_TRUE(parser.expects_continue());
  EXPECT_EQ(parser.request().method(), "POST");
  EXPECT_EQ(parser.request().path(), "/up");
  r = parser.Feed("da");
  EXPECT_EQ(r.kind, ParseResult::kNeedMore);
  r = parser.Feed("taGET");
  ASSERT_EQ(r.kind, ParseResult::kComplete);
  EXPECT_EQ(r.consumed, 2u);
  Request req = parser.TakeRequest();
  EXPECT_EQ(req.body(), "data");
  EXPECT_FALSE(parser.headers_complete());
  EXPECT_FALSE(parser.expects_continue());
}

// After an error the head is not complete, whether or not it was read
// whole: a head refused in the middle has no request() to read (its fields
// pointed into the input of a call long gone), and the server took an
// errored parser for one mid-body.
TEST(RequestParserTest, AnErrorIsNoCompleteHead) {
  RequestParser refused_mid_head;
  EXPECT_EQ(refused_mid_head.Feed("GET / HTTP/1.1\r\nBad Header\r\n\r\n").kind,
            ParseResult::kError);
  EXPECT_FALSE(refused_mid_head.headers_complete());
  EXPECT_FALSE(refused_mid_head.head_read());
  RequestParser refused_after_head;
  EXPECT_EQ(refused_after_head.Feed("POST / HTTP/1.1\r\nHost: a\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\nzz\r\n").kind,
            ParseResult::kError);
  EXPECT_TRUE(refused_after_head.head_read());
  EXPECT_FALSE(refused_after_head.headers_complete());
  EXPECT_FALSE(refused_after_head.expects_continue());
}

// A body's buffer never grows past its declared length (Content-Length)
// or max_body_bytes (chunked): std::string's doubling reserved up to twice
// the body, and the server, which counts buffers against max_body_memory,
// refused a body within both limits alone on an idle server (outside
// review: 590,000 bytes with max_body_bytes 600,000 took 1 MiB).
TEST(RequestParserTest, ABodysBufferStaysWithinItsLimit) {
  constexpr size_t kMax = 600000;
  for (size_t size : {size_t{1000}, size_t{65537}, size_t{524289}, size_t{590000}, kMax}) {
    for (bool chunked : {false, true}) {
      SCOPED_TRACE(::testing::Message() << size << (chunked ? " chunked" : " length"));
      RequestParser parser(ParserLimits{.max_body_bytes = kMax});
      std::string in = "POST /up HTTP/1.1\r\nHost: a\r\n";
      const std::string body(size, 'b');
      if (chunked) {
        in += "Transfer-Encoding: chunked\r\n\r\n";
        for (size_t at = 0; at < size; at += 10000) {
          const size_t n = std::min<size_t>(10000, size - at);
          char line[32];
          std::snprintf(line, sizeof(line), "%zx\r\n", n);
          in += line + body.substr(at, n) + "\r\n";
        }
        in += "0\r\n\r\n";
      } else {
        in += "Content-Length: " + std::to_string(size) + "\r\n\r\n" + body;
      }
      ParseResult r;
      for (size_t at = 0; at < in.size(); at += 16384) {  // a socket's reads
        r = parser.Feed(std::string_view(in).substr(at, 16384));
        ASSERT_NE(r.kind, ParseResult::kError);
        EXPECT_LE(parser.request().body_capacity(), chunked ? kMax : size);
      }
      ASSERT_EQ(r.kind, ParseResult::kComplete);
      Request req = parser.TakeRequest();
      EXPECT_EQ(req.body(), body);
    }
  }
}

// A body's buffer over 64 KiB is not kept past Reset() (what a server
// does to a parser it pools between requests): an upload abandoned midway
// (its client left, a timeout), or a request refused after its body came,
// would otherwise leave its megabytes with a parser waiting idle. Up to
// 64 KiB it is kept, for the next request's body.
TEST(RequestParserTest, ABodyBufferOver64KibIsNotKeptAfterReset) {
  constexpr size_t kKept = 64 * 1024;
  struct Row {
    const char* name;
    std::string input;
    ParseResult::Kind kind;  // the last Feed()'s
    size_t min_capacity;     // the body buffer's, before Reset()
    bool released;           // by Reset(): its capacity was over 64 KiB
  };
  std::string chunked = "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i) chunked += "2710\r\n" + std::string(10000, 'c') + "\r\n";
  const std::vector<Row> rows = {
      // Content-Length: the head reserves min(length, 64 KiB).
      {"abandoned", "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n" +
                        std::string(300000, 'b'),
       ParseResult::kNeedMore, 300000, true},
      {"just over", "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" +
                        std::string(kKept + 1, 'b'),
       ParseResult::kNeedMore, kKept + 1, true},
      {"chunked, abandoned", chunked, ParseResult::kNeedMore, 200000, true},
      // Its whole body read, then an error (a bad chunk end).
      {"chunked, then an error", chunked + "5\r\nabcdeX", ParseResult::kError, 200000, true},
      {"at the limit", "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" +
                           std::string(kKept, 'b'),
       ParseResult::kNeedMore, kKept, false},
      {"small", "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" +
                    std::string(10, 'b'),
       ParseResult::kNeedMore, 100, false},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    RequestParser parser;
    ParseResult r;
    for (size_t at = 0; at < row.input.size() && r.kind != ParseResult::kError;
         at += 16384) {  // a socket's reads
      r = parser.Feed(std::string_view(row.input).substr(at, 16384));
    }
    ASSERT_EQ(r.kind, row.kind);
    const size_t capacity = parser.request().body_capacity();
    ASSERT_GE(capacity, row.min_capacity);
    ASSERT_EQ(capacity > kKept, row.released) << capacity;
    parser.Reset();
    EXPECT_TRUE(parser.request().body().empty());
    if (row.released) {
      // Released: no more than an empty string's own.
      EXPECT_LE(parser.request().body_capacity(), std::string().capacity());
    } else {
      EXPECT_EQ(parser.request().body_capacity(), capacity);  // kept
    }
    // The parser serves the next request as a fresh one would.
    ASSERT_EQ(parser.Feed("POST /next HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz")
                  .kind,
              ParseResult::kComplete);
    Request next = parser.TakeRequest();
    EXPECT_EQ(next.path(), "/next");
    EXPECT_EQ(next.body(), "xyz");
  }
}

// head_request() survives an error in the head, so that the error answer to
// a HEAD request can leave out its content; it is true as soon as the
// method and its space are read (a line refused as too long, or one that
// never ends, is answered 414 or 408 without content too), and false after
// Reset().
// Feeds `in` whole, or byte by byte until an error.
ParseResult FeedAll(RequestParser& parser, std::string_view in, bool bytewise) {
  if (!bytewise) return parser.Feed(in);
  ParseResult r;
  for (size_t i = 0; i < in.size() && r.kind != ParseResult::kError; ++i) {
    r = parser.Feed(in.substr(i, 1));
  }
  return r;
}

TEST(RequestParserTest, HeadRequestKnownAfterError) {
  struct Row {
    const char* input;
    bool head;
    int status;  // 0: no error expected yet
  };
  const Row rows[] = {
      {"HEAD / HTTP/1.1\r\nX A: 1\r\n\r\n", true, 400},
      {"HEAD / HTTP/1.1\r\n\r\n", true, 400},            // no Host
      {"HEAD / HTTP/2.0\r\n", true, 505},
      {"HEAD / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
       true, 501},
      {"HEAD /x#f HTTP/1.1\r\n", true, 400},
      {"GET / HTTP/1.1\r\nX A: 1\r\n\r\n", false, 400},
      {"HEADX / HTTP/1.1\r\nX A: 1\r\n\r\n", false, 400},
      {"head / HTTP/1.1\r\nX A: 1\r\n\r\n", false, 400},
      {"HEAD / HTTP/1.1", true, 0},  // request line not complete yet
      {"HEAD", false, 0},             // nor the method
      {"HEA", false, 0},
      {"GET / HTTP/1.1", false, 0},
  };
  const std::string long_head = "HEAD /" + std::string(9000, 'a') + " HTTP/1.1\r\n";
  const std::string long_get = "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n";
  std::vector<Row> all(std::begin(rows), std::end(rows));
  all.push_back({long_head.c_str(), true, 414});  // the line is too long
  all.push_back({long_get.c_str(), false, 414});
  for (const Row& row : all) {
    SCOPED_TRACE(std::string(row.input).substr(0, 40));
    for (bool bytewise : {false, true}) {
      RequestParser parser;
      const std::string_view in(row.input);
      const ParseResult r = FeedAll(parser, in, bytewise);
      if (row.status == 0) {
        EXPECT_EQ(r.kind, ParseResult::kNeedMore);
      } else {
        ASSERT_EQ(r.kind, ParseResult::kError);
        EXPECT_EQ(r.status, row.status);
      }
      EXPECT_EQ(parser.head_request(), row.head);
      parser.Reset();
      EXPECT_FALSE(parser.head_request());
    }
  }
}

// What came as the request line, for the log line of an error or a
// timeout before the head was read: the same whatever the reads.
TEST(RequestParserTest, RequestLineSeenBeforeAHeadWasRead) {
  struct Row {
    std::string input;
    std::string seen;
    int status;  // 0: still waiting
    // Refused at its first byte: fed byte by byte, only that byte came.
    bool at_first_byte = false;
  };
  const std::string long_line = "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n";
  const std::string hello("\x16\x03\x01\x02\x00\x01", 6);  // a ClientHello
  const std::vector<Row> rows = {
      {"GET / HTTP/2.0\r\n", "GET / HTTP/2.0", 505},
      {"\r\nGET /a b HTTP/1.1\r\n", "GET /a b HTTP/1.1", 400},
      {"GET / HTTP/1.1\r\nX A: 1\r\n\r\n", "GET / HTTP/1.1", 400},
      {"GET /x\rY HTTP/1.1\r\n", "GET /x", 400},  // bare CR
      {hello, hello, 400, true},
      {"\r\n{\"a\": 1}\n", "{\"a\": 1}", 400, true},
      {long_line, long_line.substr(0, RequestParser::kMaxLineSeen), 414},
      {"GET /slow", "GET /slow", 0},  // unfinished: a timeout's 408 shows it
      {"GET / HTTP/1.1\r\nHost: a\r\nX-Long", "GET / HTTP/1.1", 0},
      // The head was read whole (then refused for its missing Host):
      // request() names the request instead.
      {"GET / HTTP/1.1\r\n\r\n", "", 400},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.input.substr(0, 40));
    for (bool bytewise : {false, true}) {
      RequestParser parser;
      const std::string_view in(row.input);
      const ParseResult r = FeedAll(parser, in, bytewise);
      EXPECT_EQ(r.kind, row.status == 0 ? ParseResult::kNeedMore : ParseResult::kError);
      if (row.status != 0) {
        EXPECT_EQ(r.status, row.status);
      }
      EXPECT_EQ(parser.request_line_seen(),
                bytewise && row.at_first_byte ? row.seen.substr(0, 1) : row.seen);
      parser.Reset();
      EXPECT_EQ(parser.request_line_seen(), "");
    }
  }
  // Once the head was read, request() names the request instead.
  RequestParser parser;
  const ParseResult r = parser.Feed(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n");
  ASSERT_EQ(r.kind, ParseResult::kError);
  EXPECT_TRUE(parser.head_read());
  EXPECT_EQ(parser.request_line_seen(), "");
  RequestParser complete;
  EXPECT_EQ(complete.Feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n").kind,
            ParseResult::kComplete);
  EXPECT_EQ(complete.request_line_seen(), "");
}

TEST(RequestParserTest, NotHeadersCompleteWhilePartial) {
  RequestParser parser;
  EXPECT_TRUE(parser.idle());
  parser.Feed("GET / HTTP/1.1\r\nHost: a\r\n");
  EXPECT_FALSE(parser.headers_complete());
  EXPECT_FALSE(parser.idle());
}

TEST(RequestParserTest, ErrorIsSticky) {
  RequestParser parser;
  ParseResult r = parser.Feed("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n");
  ASSERT_EQ(r.kind, ParseResult::kError);
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(parser.has_error());
  r = parser.Feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.kind, ParseResult::kError);
  EXPECT_EQ(r.status, 400);
  parser.Reset();
  r = parser.Feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.kind, ParseResult::kComplete);
}

TEST(RequestParserTest, RequestSurvivesMoveAndParserReuse) {
  RequestParser parser;
  std::vector<Request> kept;
  for (int i = 0; i < 3; ++i) {
    const std::string in = "GET /r" + std::to_string(i) +
                           "%21 HTTP/1.1\r\nHost: h\r\nX-I: " +
                           std::to_string(i) + "\r\n\r\n";
    ASSERT_EQ(parser.Feed(in).kind, ParseResult::kComplete);
    kept.push_back(parser.TakeRequest());
  }
  std::vector<Request> moved = std::move(kept);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(moved[i].path(), "/r" + std::to_string(i) + "!");
    EXPECT_EQ(moved[i].Header("x-i").value(), std::to_string(i));
  }
}

// A Request moved from is empty, not a set of views past a buffer it no
// longer holds (a handler that moves the whole request out of
// mutable_request(): the server still reads it for the access log).
TEST(RequestParserTest, ARequestMovedFromIsEmpty) {
  RequestParser parser;
  const std::string in = "POST /a%20b?q=1 HTTP/1.1\r\nHost: h\r\nCookie: " + std::string(600, 'c') +
                         "\r\nContent-Length: 3\r\n\r\nabc";
  ASSERT_EQ(parser.Feed(in).kind, ParseResult::kComplete);
  Request source = parser.TakeRequest();
  for (int assign = 0; assign < 2; ++assign) {
    Request target;
    if (assign == 0) {
      Request constructed(std::move(source));
      target = constructed;
      source = std::move(constructed);
    } else {
      target = std::move(source);
    }
    EXPECT_EQ(target.path(), "/a b");
    EXPECT_EQ(target.Header("cookie")->size(), 600u);
    EXPECT_EQ(target.body(), "abc");
    if (assign == 1) {
      // NOLINTNEXTLINE(bugprone-use-after-move): what this test is about
      EXPECT_EQ(source.method(), "");
      EXPECT_EQ(source.target(), "");
      EXPECT_EQ(source.path(), "");
      EXPECT_EQ(source.query(), "");
      EXPECT_EQ(source.authority(), "");
      EXPECT_EQ(source.header_count(), 0u);
      EXPECT_FALSE(source.Header("host").has_value());
      EXPECT_EQ(source.body(), "");
      EXPECT_FALSE(source.content_length().has_value());
    }
  }
}

TEST(RequestParserTest, HeaderIteration) {
  RequestParser parser;
  ASSERT_EQ(parser.Feed("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nb: two\r\n\r\n").kind,
            ParseResult::kComplete);
  Request req = parser.TakeRequest();
  std::vector<std::string> seen;
  for (const HeaderField& f : req.headers()) {
    seen.push_back(std::string(f.name) + "=" + std::string(f.value));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"Host=h", "A=1", "b=two"}));
  EXPECT_EQ(req.headers().size(), 3u);
  EXPECT_FALSE(req.Header("c").has_value());
}

TEST(RequestParserTest, FramingAccessors) {
  RequestParser parser;
  ASSERT_EQ(parser.Feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
                        "chunked\r\n\r\n0\r\n\r\n")
                .kind,
            ParseResult::kComplete);
  Request req = parser.TakeRequest();
  EXPECT_TRUE(req.chunked());
  EXPECT_FALSE(req.content_length().has_value());
  ASSERT_EQ(parser.Feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx")
                .kind,
            ParseResult::kComplete);
  req = parser.TakeRequest();
  EXPECT_FALSE(req.chunked());
  EXPECT_EQ(req.content_length(), 1u);
  EXPECT_FALSE(req.is_head());
}

TEST(RequestParserTest, RequestMovesToAnotherThread) {
  RequestParser parser;
  ASSERT_EQ(parser.Feed("POST /w%20x?y=1 HTTP/1.1\r\nHost: h\r\n"
                        "Content-Length: 3\r\n\r\nabc")
                .kind,
            ParseResult::kComplete);
  Request req = parser.TakeRequest();
  std::string seen;
  std::thread worker([r = std::move(req), &seen] {
    seen = std::string(r.path()) + "|" + std::string(r.query()) + "|" +
           std::string(*r.Header("host")) + "|" + std::string(r.body());
  });
  // The parser is reused on this thread meanwhile.
  ASSERT_EQ(parser.Feed("GET /other HTTP/1.1\r\nHost: z\r\n\r\n").kind,
            ParseResult::kComplete);
  Request other = parser.TakeRequest();
  worker.join();
  EXPECT_EQ(seen, "/w x|y=1|h|abc");
  EXPECT_EQ(other.path(), "/other");
}

// Limits at the top of size_t ("no limit" to an embedder, e.g.
// ServerOptions::max_header_bytes = SIZE_MAX) are limits like any other:
// the parser's sums over them (a line's limit + 1, the buffered section's
// limit + 2) wrapped around to a few bytes, so every request line was
// refused 414, every chunk extension 400, and a head over ~8 KiB arriving
// in several reads, or any chunked body's trailer section, lost its bytes
// past that point (the request then hung until a timeout).
TEST(RequestParserTest, LimitsAtTheTopOfSizeTAreNoLimits) {
  constexpr size_t kHuge = std::numeric_limits<size_t>::max();
  const std::string value(20000, 'v');
  const std::string head = "GET /p HTTP/1.1\r\nHost: a\r\nX-Big: " + value + "\r\n\r\n";
  const std::string chunked =
      "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n0\r\n\r\n";
  for (const ParserLimits& limits :
       {ParserLimits{.max_header_bytes = kHuge}, ParserLimits{.max_request_line_bytes = kHuge},
        ParserLimits{.max_chunk_extension_bytes = kHuge},
        ParserLimits{.max_request_line_bytes = kHuge,
        .max_header_bytes = kHuge,
        .max_header_count = kHuge,
        .max_body_bytes = kHuge,
        .max_chunk_extension_bytes = kHuge}}) {
    SCOPED_TRACE(::testing::Message() << "line " << limits.max_request_line_bytes << " headers "
                                      << limits.max_header_bytes);
    for (size_t piece : {head.size(), size_t{4096}, size_t{1}}) {  // reads
      RequestParser parser(limits);
      ParseResult r;
      for (size_t at = 0; at < head.size(); at += piece) {
        r = parser.Feed(std::string_view(head).substr(at, piece));
        ASSERT_NE(r.kind, ParseResult::kError) << r.status << " at " << at;
      }
      ASSERT_EQ(r.kind, ParseResult::kComplete) << "in pieces of " << piece;
      EXPECT_EQ(parser.TakeRequest().Header("x-big"), value);
    }
    RequestParser parser(limits);
    const ParseResult r = parser.Feed(chunked);
    ASSERT_EQ(r.kind, ParseResult::kComplete) << r.status;
    EXPECT_EQ(parser.TakeRequest().body(), "hello");
  }
}

// set_body_limit: each request's body limit from its head (a route's own),
// below or above max_body_bytes; a declared length over it is 413 as soon
// as the head is whole, before any body byte; a chunked body as it grows
// past it. Asked only of requests with a body, with the path decoded.
TEST(RequestParserTest, ABodyLimitPerRequestFromItsHead) {
  RequestParser parser(ParserLimits{.max_body_bytes = 100});
  std::vector<std::string> asked;
  parser.set_body_limit([&asked](const Request& head) -> uint64_t {
    asked.emplace_back(head.path());
    return head.path() == "/small" ? 10 : 1000;
  });
  auto feed = [&parser](const std::string& bytes) {
    parser.Reset();
    return parser.Feed(bytes);
  };
  // Over the path's 10 bytes: 413 from the head alone.
  ParseResult r = feed("POST /sm%61ll HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n");
  EXPECT_EQ(r.kind, ParseResult::kError);
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(parser.head_read());
  // At it: read whole.
  r = feed("POST /small HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789");
  EXPECT_EQ(r.kind, ParseResult::kComplete);
  EXPECT_EQ(parser.TakeRequest().body(), "0123456789");
  // Above max_body_bytes (100) but within the path's 1000.
  const std::string big(500, 'x');
  r = feed("POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 500\r\n\r\n" + big);
  EXPECT_EQ(r.kind, ParseResult::kComplete);
  EXPECT_EQ(parser.TakeRequest().body(), big);
  r = feed("POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n");
  EXPECT_EQ(r.status, 413);
  // Chunked: 6 + 5 bytes pass 10 at the second chunk's size.
  r = feed(
      "POST /small HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "6\r\nabcdef\r\n5\r\n");
  EXPECT_EQ(r.kind, ParseResult::kError);
  EXPECT_EQ(r.status, 413);
  r = feed(
      "POST /big HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "c8\r\n" +
      std::string(200, 'y') + "\r\n0\r\n\r\n");
  EXPECT_EQ(r.kind, ParseResult::kComplete);
  EXPECT_EQ(parser.TakeRequest().body().size(), 200u);
  // No body: not asked.
  r = feed("GET /small HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(r.kind, ParseResult::kComplete);
  r = feed("POST /small HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(r.kind, ParseResult::kComplete);
  EXPECT_EQ(asked,
            (std::vector<std::string>{"/small", "/small", "/big", "/big", "/small", "/big"}));
}

TEST(RequestParserTest, DefaultLimits) {
  const ParserLimits l;
  EXPECT_EQ(l.max_request_line_bytes, 8u * 1024);
  EXPECT_EQ(l.max_header_bytes, 32u * 1024);
  EXPECT_EQ(l.max_header_count, 100u);
  EXPECT_EQ(l.max_body_bytes, 1024u * 1024);
  EXPECT_EQ(l.max_chunk_extension_bytes, 1024u);
}

TEST(RequestParserTest, TableHasEnoughCases) { EXPECT_GE(Cases().size(), 150u); }

}  // namespace
}  // namespace brisk::http
