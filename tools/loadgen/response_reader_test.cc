#include "tools/loadgen/response_reader.h"

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace brisk::loadgen {
namespace {

struct Row {
  const char* name;
  std::string input;
  ResponseReader::State state;  // after all input (and EOF if `eof`)
  int status = 0;
  bool keep_alive = true;
  uint64_t body_bytes = 0;
  size_t trailing = 0;  // bytes at the end that belong to the next response
  bool eof = false;     // the peer closes after `input`
  bool head = false;
  size_t max_line_bytes = 256;  // small, so the limit rows stay cheap
};

const std::vector<Row>& Rows() {
  using R = ResponseReader;
  static const auto* rows = new std::vector<Row>{
      {"content_length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
       R::kComplete, 200, true, 5},
      {"zero_length", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", R::kComplete,
       200, true, 0},
      {"no_reason_phrase", "HTTP/1.1 503\r\nContent-Length: 2\r\n\r\nno",
       R::kComplete, 503, true, 2},
      {"empty_reason", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", R::kComplete,
       404, true, 0},
      {"bare_lf", "HTTP/1.1 200 OK\nContent-Length: 3\n\nabc", R::kComplete, 200,
       true, 3},
      {"header_case_and_ows",
       "HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh: \t 4 \r\nX-A:b\r\n\r\nbody",
       R::kComplete, 200, true, 4},
      {"connection_close",
       "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
       R::kComplete, 200, false, 1},
      {"connection_list_close",
       "HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 0\r\n\r\n",
       R::kComplete, 200, false, 0},
      {"http10_default_close", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
       R::kComplete, 200, false, 2},
      {"http10_keep_alive",
       "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
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
       "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
       "2\r\nhi\r\n0\r\n\r\n",
       R::kComplete, 200, true, 2},
      {"no_body_204", "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
       R::kComplete, 204, true, 0},
      {"no_body_304", "HTTP/1.1 304 Not Modified\r\n\r\n", R::kComplete, 304, true,
       0},
      {"head_response", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
       R::kComplete, 200, true, 0, 0, false, /*head=*/true},
      {"interim_100_skipped",
       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\n!",
       R::kComplete, 201, true, 1},
      {"until_close", "HTTP/1.1 200 OK\r\n\r\nstream until close", R::kComplete, 200,
       false, 18, 0, /*eof=*/true},
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
      {"bad_version", "HTTP/2.0 200 OK\r\n\r\n", R::kError},
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
      {"header_space_in_name", "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", R::kError},
      {"obs_fold", "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", R::kError},
      {"bad_chunk_size",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", R::kError},
      {"missing_chunk_crlf",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiX\r\n",
       R::kError},
      {"line_too_long",
       "HTTP/1.1 200 OK\r\nX: " + std::string(300, 'a') + "\r\n\r\n", R::kError},
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
  ResponseReader::State state;
  size_t consumed = 0;
};

// Feeds `pieces` the way a connection does: unconsumed bytes stay buffered and
// are fed again with the next piece. Each call sees an exactly sized heap copy,
// so ASan catches any read past the end.
Outcome Run(ResponseReader& reader, const std::vector<std::string>& pieces,
            bool eof) {
  std::string pending;
  Outcome out{ResponseReader::kNeedMore, 0};
  for (const std::string& piece : pieces) {
    pending += piece;
    auto copy = std::make_unique<char[]>(pending.size() + 1);
    std::memcpy(copy.get(), pending.data(), pending.size());
    ResponseReader::Result r =
        reader.Feed(std::string_view(copy.get(), pending.size()));
    EXPECT_LE(r.consumed, pending.size());
    out.consumed += r.consumed;
    out.state = r.state;
    pending.erase(0, r.consumed);
    if (r.state != ResponseReader::kNeedMore) break;
  }
  if (eof && out.state == ResponseReader::kNeedMore && reader.FinishOnEof()) {
    out.state = ResponseReader::kComplete;
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

void CheckRow(const Row& row, Split split, std::mt19937& rng) {
  ResponseReader reader({.max_line_bytes = row.max_line_bytes});
  reader.BeginResponse(row.head);
  Outcome out = Run(reader, SplitInput(row.input, split, rng), row.eof);
  ASSERT_EQ(out.state, row.state) << reader.error();
  EXPECT_EQ(reader.state(), row.state);
  if (row.state == ResponseReader::kError) {
    EXPECT_FALSE(reader.error().empty());
    return;
  }
  EXPECT_EQ(reader.body_bytes(), row.body_bytes);
  if (row.state != ResponseReader::kComplete) return;
  EXPECT_EQ(out.consumed, row.input.size() - row.trailing);
  EXPECT_EQ(reader.status_code(), row.status);
  EXPECT_EQ(reader.keep_alive(), row.keep_alive);
}

TEST(ResponseReaderTest, TableWhole) {
  std::mt19937 rng(1);
  for (const Row& row : Rows()) {
    SCOPED_TRACE(row.name);
    CheckRow(row, Split::kWhole, rng);
  }
}

TEST(ResponseReaderTest, TableOneByteAtATime) {
  std::mt19937 rng(2);
  for (const Row& row : Rows()) {
    SCOPED_TRACE(row.name);
    CheckRow(row, Split::kBytewise, rng);
  }
}

TEST(ResponseReaderTest, TableRandomSplits) {
  for (uint32_t seed = 0; seed < 20; ++seed) {
    std::mt19937 rng(seed);
    for (const Row& row : Rows()) {
      SCOPED_TRACE(testing::Message() << row.name << " seed " << seed);
      CheckRow(row, Split::kRandom, rng);
    }
  }
}

TEST(ResponseReaderTest, KeepAliveSequenceOfResponses) {
  const std::string stream =
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  ResponseReader reader;
  std::string_view rest = stream;
  std::vector<int> statuses;
  while (!rest.empty()) {
    reader.BeginResponse();
    ResponseReader::Result r = reader.Feed(rest);
    ASSERT_EQ(r.state, ResponseReader::kComplete) << reader.error();
    ASSERT_GT(r.consumed, 0u);
    statuses.push_back(reader.status_code());
    rest.remove_prefix(r.consumed);
  }
  EXPECT_EQ(statuses, (std::vector<int>{200, 503, 200}));
}

TEST(ResponseReaderTest, StateIsStickyUntilBeginResponse) {
  ResponseReader reader;
  reader.BeginResponse();
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  ASSERT_EQ(reader.Feed(ok).state, ResponseReader::kComplete);
  ResponseReader::Result again = reader.Feed(ok);
  EXPECT_EQ(again.state, ResponseReader::kComplete);
  EXPECT_EQ(again.consumed, 0u);
  reader.BeginResponse();
  EXPECT_EQ(reader.state(), ResponseReader::kNeedMore);
  EXPECT_EQ(reader.status_code(), 0);
}

TEST(ResponseReaderTest, TooManyHeaders) {
  ResponseReader reader({.max_headers = 3});
  reader.BeginResponse();
  std::string input = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 4; ++i) input += "X-H: 1\r\n";
  EXPECT_EQ(reader.Feed(input).state, ResponseReader::kError);
}

TEST(ResponseReaderTest, LargeBodyIsCountedNotStored) {
  ResponseReader reader;
  reader.BeginResponse();
  ASSERT_EQ(reader.Feed("HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n").state,
            ResponseReader::kNeedMore);
  const std::string block(1 << 20, 'x');
  uint64_t fed = 0;
  ResponseReader::Result r;
  while (fed < 10'000'000) {
    r = reader.Feed(block);
    fed += r.consumed;
  }
  EXPECT_EQ(r.state, ResponseReader::kComplete);
  EXPECT_EQ(fed, 10'000'000u);
  EXPECT_EQ(reader.body_bytes(), 10'000'000u);
}

}  // namespace
}  // namespace brisk::loadgen
