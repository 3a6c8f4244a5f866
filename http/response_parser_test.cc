#include "http/response_parser.h"

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace brisk::http {
namespace {

struct Row {
  const char* name;
  std::string input;
  ResponseParser::State state;  // after all input (and EOF if `eof`)
  int status = 0;
  bool keep_alive = true;
  uint64_t body_bytes = 0;
  size_t trailing = 0;  // bytes at the end that belong to the next response
  bool eof = false;     // the peer closes after `input`
  bool head = false;
  size_t max_line_bytes = 256;  // small, so the limit rows stay cheap
};

const std::vector<Row>& Rows() {
  using R = ResponseParser;
  static const auto* rows = new std::vector<Row>{
      {"content_length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
       R::kComplete, 200, true, 5},
      {"zero_length", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
       R::kComplete, 200, true, 0},
      {"no_reason_phrase", "HTTP/1.1 503\r\nContent-Length: 2\r\n\r\nno",
       R::kComplete, 503, true, 2},
      {"empty_reason", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n",
       R::kComplete, 404, true, 0},
      {"bare_lf", "HTTP/1.1 200 OK\nContent-Length: 3\n\nabc", R::kComplete,
       200, true, 3},
      {"header_case_and_ows",
       "HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh: \t 4 \r\nX-A:b\r\n\r\nbody",
       R::kComplete, 200, true, 4},
      {"connection_close",
       "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
       R::kComplete, 200, false, 1},
      {"connection_list_close",
       "HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: "
       "0\r\n\r\n",
       R::kComplete, 200, false, 0},
      {"http10_default_close", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
       R::kComplete, 200, false, 2},
      {"http10_keep_alive",
       "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: "
       "2\r\n\r\nok",
       R::kComplete, 200, true, 2},
      {"chunked",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
       R::kComplete, 200, true, 11},
      {"chunked_hex_and_trailers",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
       "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n",
       R::kComplete, 200, true, 26},
      {"chunked_wins_over_length",
       "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: "
       "chunked\r\n\r\n"
       "2\r\nhi\r\n0\r\n\r\n",
       R::kComplete, 200, true, 2},
      {"no_body_204", "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
       R::kComplete, 204, true, 0},
      {"no_body_304", "HTTP/1.1 304 Not Modified\r\n\r\n", R::kComplete, 304,
       true, 0},
      {"head_response", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
       R::kComplete, 200, true, 0, 0, false, /*head=*/true},
      {"interim_100_skipped",
       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: "
       "1\r\n\r\n!",
       R::kComplete, 201, true, 1},
      {"until_close", "HTTP/1.1 200 OK\r\n\r\nstream until close", R::kComplete,
       200, false, 18, 0, /*eof=*/true},
      {"trailing_next_response",
       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n",
       R::kComplete, 200, true, 2, /*trailing=*/17},
      {"trailing_after_chunked",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP",
       R::kComplete, 200, true, 0, /*trailing=*/4},
      {"incomplete_head", "HTTP/1.1 200 OK\r\nContent-Len", R::kNeedMore},
      {"incomplete_body", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc",
       R::kNeedMore, 200, true, 3},
      {"eof_mid_body", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc",
       R::kNeedMore, 200, true, 3, 0, /*eof=*/true},
      {"http12_read_as_http11", "HTTP/1.2 200 OK\r\nContent-Length: 1\r\n\r\nx",
       R::kComplete, 200, true, 1},
      {"http19_connection_close",
       "HTTP/1.9 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
       R::kComplete, 200, false, 0},
      {"content_length_list_equal",
       "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", R::kComplete, 200,
       true, 2},
      {"content_length_repeat_equal",
       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
       R::kComplete, 200, true, 2},
      {"chunked_not_final_until_close",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nzz",
       R::kComplete, 200, false, 2, 0, /*eof=*/true},
      {"bad_version", "HTTP/2.0 200 OK\r\n\r\n", R::kError},
      {"http3_version", "HTTP/3.1 200 OK\r\n\r\n", R::kError},
      {"version_two_digit_minor", "HTTP/1.10 200 OK\r\n\r\n", R::kError},
      {"version_letter", "HTTP/1.x 200 OK\r\n\r\n", R::kError},
      {"content_length_plus", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
       R::kError},
      {"content_length_list_differ",
       "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nxy", R::kError},
      {"content_length_empty_element",
       "HTTP/1.1 200 OK\r\nContent-Length: 1,,1\r\n\r\nx", R::kError},
      {"header_name_not_token", "HTTP/1.1 200 OK\r\nX(A): 1\r\n\r\n",
       R::kError},
      {"header_empty_name", "HTTP/1.1 200 OK\r\n: 1\r\n\r\n", R::kError},
      {"chunk_size_0x",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\n",
       R::kError},
      {"chunk_size_plus",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+2\r\n",
       R::kError},
      {"chunk_size_17_digits",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "00000000000000002\r\n",
       R::kError},
      {"not_http", "SSH-2.0-OpenSSH\r\n\r\n", R::kError},
      {"bad_status_code", "HTTP/1.1 2x0 OK\r\n\r\n", R::kError},
      {"status_too_low", "HTTP/1.1 099 Low\r\n\r\n", R::kError},
      {"status_four_digits", "HTTP/1.1 2000 OK\r\n\r\n", R::kError},
      {"bad_content_length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
       R::kError},
      {"conflicting_lengths",
       "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
       R::kError},
      {"header_without_colon", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", R::kError},
      {"header_space_in_name", "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
       R::kError},
      {"obs_fold", "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", R::kError},
      {"bad_chunk_size",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
       R::kError},
      {"missing_chunk_crlf",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiX\r\n",
       R::kError},
      {"line_too_long",
       "HTTP/1.1 200 OK\r\nX: " + std::string(300, 'a') + "\r\n\r\n",
       R::kError},
      {"endless_line", "HTTP/1.1 200 OK\r\nX: " + std::string(300, 'a'),
       R::kError},
      {"line_at_limit",
       "HTTP/1.1 200 OK\r\nX: " + std::string(250, 'a') +
           "\r\nContent-Length: 0\r\n\r\n",
       R::kComplete, 200},
  };
  return *rows;
}

struct Outcome {
  ResponseParser::State state;
  size_t consumed = 0;
};

// Feeds `pieces` the way a connection does: unconsumed bytes stay buffered and
// are fed again with the next piece. Each call sees an exactly sized heap copy,
// so ASan catches any read past the end.
Outcome Run(ResponseParser& parser, const std::vector<std::string>& pieces,
            bool eof) {
  std::string pending;
  Outcome out{ResponseParser::kNeedMore, 0};
  for (const std::string& piece : pieces) {
    pending += piece;
    auto copy = std::make_unique<char[]>(pending.size() + 1);
    std::memcpy(copy.get(), pending.data(), pending.size());
    ResponseParser::Result r =
        parser.Feed(std::string_view(copy.get(), pending.size()));
    EXPECT_LE(r.consumed, pending.size());
    out.consumed += r.consumed;
    out.state = r.state;
    pending.erase(0, r.consumed);
    if (r.state != ResponseParser::kNeedMore) break;
  }
  if (eof && out.state == ResponseParser::kNeedMore && parser.FinishOnEof()) {
    out.state = ResponseParser::kComplete;
  }
  return out;
}

enum class Split { kWhole, kBytewise, kRandom };

std::vector<std::string> SplitInput(const std::string& input, Split split,
                                    std::mt19937& rng) {
  std::vector<std::string> pieces;
  if (split == Split::kWhole) return {input};
  size_t pos = 0;
  while (pos < input.size()) {
    size_t n = split == Split::kBytewise
                   ? 1
                   : std::uniform_int_distribution<size_t>(1, 16)(rng);
    pieces.push_back(input.substr(pos, n));
    pos += n;
  }
  return pieces;
}

// Every row runs with the body counted only (load generator) and kept
// (test client): framing, status and keep-alive must not differ.
void CheckRow(const Row& row, Split split, std::mt19937& rng,
              bool keep_message = false) {
  ResponseParser parser(
      {.max_line_bytes = row.max_line_bytes, .keep_message = keep_message});
  parser.BeginResponse(row.head);
  Outcome out = Run(parser, SplitInput(row.input, split, rng), row.eof);
  ASSERT_EQ(out.state, row.state) << parser.error();
  EXPECT_EQ(parser.state(), row.state);
  if (row.state == ResponseParser::kError) {
    EXPECT_FALSE(parser.error().empty());
    return;
  }
  EXPECT_EQ(parser.body_bytes(), row.body_bytes);
  EXPECT_EQ(parser.body().size(), keep_message ? row.body_bytes : 0);
  if (row.state != ResponseParser::kComplete) return;
  EXPECT_EQ(out.consumed, row.input.size() - row.trailing);
  EXPECT_EQ(parser.status_code(), row.status);
  EXPECT_EQ(parser.keep_alive(), row.keep_alive);
}

TEST(ResponseParserTest, TableWhole) {
  std::mt19937 rng(1);
  for (const Row& row : Rows()) {
    SCOPED_TRACE(row.name);
    CheckRow(row, Split::kWhole, rng);
  }
}

TEST(ResponseParserTest, TableOneByteAtATime) {
  std::mt19937 rng(2);
  for (const Row& row : Rows()) {
    SCOPED_TRACE(row.name);
    CheckRow(row, Split::kBytewise, rng);
  }
}

TEST(ResponseParserTest, TableRandomSplits) {
  for (uint32_t seed = 0; seed < 20; ++seed) {
    std::mt19937 rng(seed);
    for (const Row& row : Rows()) {
      SCOPED_TRACE(testing::Message() << row.name << " seed " << seed);
      CheckRow(row, Split::kRandom, rng);
    }
  }
}

TEST(ResponseParserTest, TableKeepingTheMessage) {
  std::mt19937 rng(3);
  for (const Row& row : Rows()) {
    SCOPED_TRACE(row.name);
    CheckRow(row, Split::kWhole, rng, /*keep_message=*/true);
    CheckRow(row, Split::kBytewise, rng, /*keep_message=*/true);
    CheckRow(row, Split::kRandom, rng, /*keep_message=*/true);
  }
}

TEST(ResponseParserTest, KeepsHeadHeadersAndDecodedBody) {
  ResponseParser parser({.keep_message = true});
  parser.BeginResponse();
  const std::string response =
      "HTTP/1.1 200 OK\r\nX-A:  one \r\nTransfer-Encoding: chunked\r\n"
      "x-a: two\r\n\r\n5;e=1\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n";
  ResponseParser::Result r = parser.Feed(response);
  ASSERT_EQ(r.state, ResponseParser::kComplete) << parser.error();
  EXPECT_EQ(r.consumed, response.size());
  EXPECT_EQ(parser.head(),
            "HTTP/1.1 200 OK\r\nX-A:  one \r\nTransfer-Encoding: chunked\r\n"
            "x-a: two");
  using Fields = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(parser.headers(), (Fields{{"X-A", "one"},
                                      {"Transfer-Encoding", "chunked"},
                                      {"x-a", "two"}}));
  EXPECT_EQ(parser.body(), "hello world");
  EXPECT_EQ(parser.version_minor(), 1);
  // The next response starts empty.
  parser.BeginResponse();
  EXPECT_TRUE(parser.head().empty());
  EXPECT_TRUE(parser.headers().empty());
  EXPECT_TRUE(parser.body().empty());
}

TEST(ResponseParserTest, NothingKeptByDefault) {
  ResponseParser parser;
  parser.BeginResponse();
  ASSERT_EQ(
      parser.Feed("HTTP/1.0 200 OK\r\nA: b\r\nContent-Length: 2\r\n\r\nok")
          .state,
      ResponseParser::kComplete);
  EXPECT_EQ(parser.body_bytes(), 2u);
  EXPECT_TRUE(parser.head().empty());
  EXPECT_TRUE(parser.headers().empty());
  EXPECT_TRUE(parser.body().empty());
  EXPECT_EQ(parser.version_minor(), 0);
}

TEST(ResponseParserTest, InterimResponsesReturnedWhenAsked) {
  ResponseParser parser({.keep_message = true, .skip_interim = false});
  std::string_view stream =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      "HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\n!";
  std::vector<int> statuses;
  while (!stream.empty()) {
    parser.BeginResponse();
    ResponseParser::Result r = parser.Feed(stream);
    ASSERT_EQ(r.state, ResponseParser::kComplete) << parser.error();
    statuses.push_back(parser.status_code());
    EXPECT_TRUE(parser.keep_alive());
    stream.remove_prefix(r.consumed);
  }
  EXPECT_EQ(statuses, (std::vector<int>{100, 103, 201}));
  EXPECT_EQ(parser.body(), "!");
  // 101 is final either way: no body, and the connection is no longer HTTP.
  parser.BeginResponse();
  ASSERT_EQ(parser
                .Feed("HTTP/1.1 101 Switching Protocols\r\n"
                      "Upgrade: websocket\r\n\r\nbinary")
                .state,
            ResponseParser::kComplete);
  EXPECT_EQ(parser.status_code(), 101);
  EXPECT_FALSE(parser.keep_alive());
}

TEST(ResponseParserTest, KeptBodyLimit) {
  ResponseParser parser({.keep_message = true, .max_kept_body_bytes = 10});
  parser.BeginResponse();
  EXPECT_EQ(parser
                .Feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
                      "0123456789")
                .state,
            ResponseParser::kComplete);
  parser.BeginResponse();
  EXPECT_EQ(parser
                .Feed("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"
                      "0123456789A")
                .state,
            ResponseParser::kError);
  EXPECT_EQ(parser.error(), "body too large");
  // Chunked bodies and bodies up to close count the decoded total.
  parser.BeginResponse();
  EXPECT_EQ(parser
                .Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "6\r\n012345\r\n6\r\n012345\r\n")
                .state,
            ResponseParser::kError);
  parser.BeginResponse();
  EXPECT_EQ(parser.Feed("HTTP/1.1 200 OK\r\n\r\n01234567890").state,
            ResponseParser::kError);
  // Not keeping, the same body is only counted.
  ResponseParser counting({.max_kept_body_bytes = 10});
  counting.BeginResponse();
  EXPECT_EQ(counting
                .Feed("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"
                      "0123456789A")
                .state,
            ResponseParser::kComplete);
}

TEST(ResponseParserTest, KeepAliveSequenceOfResponses) {
  const std::string stream =
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: "
      "0\r\n\r\n"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
      "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  ResponseParser parser;
  std::string_view rest = stream;
  std::vector<int> statuses;
  while (!rest.empty()) {
    parser.BeginResponse();
    ResponseParser::Result r = parser.Feed(rest);
    ASSERT_EQ(r.state, ResponseParser::kComplete) << parser.error();
    ASSERT_GT(r.consumed, 0u);
    statuses.push_back(parser.status_code());
    rest.remove_prefix(r.consumed);
  }
  EXPECT_EQ(statuses, (std::vector<int>{200, 503, 200}));
}

TEST(ResponseParserTest, StateIsStickyUntilBeginResponse) {
  ResponseParser parser;
  parser.BeginResponse();
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  ASSERT_EQ(parser.Feed(ok).state, ResponseParser::kComplete);
  ResponseParser::Result again = parser.Feed(ok);
  EXPECT_EQ(again.state, ResponseParser::kComplete);
  EXPECT_EQ(again.consumed, 0u);
  parser.BeginResponse();
  EXPECT_EQ(parser.state(), ResponseParser::kNeedMore);
  EXPECT_EQ(parser.status_code(), 0);
}

TEST(ResponseParserTest, TooManyHeaders) {
  ResponseParser parser({.max_headers = 3});
  parser.BeginResponse();
  std::string input = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 4; ++i) input += "X-H: 1\r\n";
  EXPECT_EQ(parser.Feed(input).state, ResponseParser::kError);
}

TEST(ResponseParserTest, LargeBodyIsCountedNotStored) {
  ResponseParser parser;
  parser.BeginResponse();
  ASSERT_EQ(
      parser.Feed("HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n").state,
      ResponseParser::kNeedMore);
  const std::string block(1 << 20, 'x');
  uint64_t fed = 0;
  ResponseParser::Result r;
  while (fed < 10'000'000) {
    r = parser.Feed(block);
    fed += r.consumed;
  }
  EXPECT_EQ(r.state, ResponseParser::kComplete);
  EXPECT_EQ(fed, 10'000'000u);
  EXPECT_EQ(parser.body_bytes(), 10'000'000u);
}

}  // namespace
}  // namespace brisk::http
