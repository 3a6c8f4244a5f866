// brisk::http::ResponseParser: an incremental HTTP/1.1 response parser for
// clients (the load generator, test clients). It finds where one response
// ends on a keep-alive connection and reports the status code and whether
// the server keeps the connection open. By default body bytes are counted
// and skipped, never stored; with `keep_message` it also keeps the head, the
// header fields and the decoded body.
//
//   ResponseParser parser;
//   parser.BeginResponse(/*head_request=*/false);
//   ... bytes arrive in `in` (an IoBuffer or a std::string) ...
//   ResponseParser::Result r = parser.Feed(in.readable());
//   in.Consume(r.consumed);
//   if (r.state == ResponseParser::kComplete) {
//     Record(parser.status_code());
//     if (!parser.keep_alive()) Reconnect();
//   } else if (r.state == ResponseParser::kError) { ... parser.error() ... }
//   // On EOF: parser.FinishOnEof() completes a close-delimited body.
//
// Input model: Feed() consumes complete lines (status line, headers, chunk
// sizes, trailers) and body bytes. A partial line is NOT consumed: the caller
// keeps it and feeds it again with the bytes that follow (as an IoBuffer
// does), so any split of the input works and nothing is copied. Bytes after
// the end of the response are not consumed either.
//
// Supported: "HTTP/1.0" and "HTTP/1.1" status lines (a later "HTTP/1.x" is
// read as 1.1, RFC 9110 §2.5; another major version is an error),
// Content-Length (strict decimal; repeats and lists only if equal, as for
// requests), chunked transfer coding when it is the final coding (strict hex
// sizes; extensions and trailers skipped), bodies delimited by connection
// close, no body for HEAD, 1xx, 204 and 304, `Connection: close` /
// `keep-alive`. Interim 1xx responses (not 101) are skipped by default, or
// returned as responses of their own (`skip_interim = false`). Lines may end
// in CRLF or a bare LF (lenient: this side only reads what it asked for).
// Field names must be tokens; obs-fold is an error.
//
// Limits: a line longer than `max_line_bytes`, more than `max_headers`
// header fields, or (with keep_message) a body over `max_kept_body_bytes` is
// an error. Without keep_message memory use is constant.
//
// Thread-safety: none; one parser per connection.
#ifndef BRISK_HTTP_RESPONSE_PARSER_H_
#define BRISK_HTTP_RESPONSE_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace brisk::http {

struct ResponseParserOptions {
  size_t max_line_bytes = 16 * 1024;
  int max_headers = 128;
  // Keep head(), headers() and body() (test clients); otherwise only the
  // status, keep-alive and body length are kept (load generators).
  bool keep_message = false;
  // With keep_message: a longer decoded body is an error.
  uint64_t max_kept_body_bytes = 64 * 1024 * 1024;
  // Skip interim responses (1xx but 101) and complete with the final one;
  // false: an interim response completes by itself (no body).
  bool skip_interim = true;
};

class ResponseParser {
 public:
  enum State { kNeedMore, kComplete, kError };
  struct Result {
    State state = kNeedMore;
    size_t consumed = 0;  // bytes of the input that belong to this response
  };

  explicit ResponseParser(ResponseParserOptions options = {})
      : options_(options) {}

  // Prepares for the next response. `head_request`: the request was HEAD, so
  // the response has no body whatever its headers say.
  void BeginResponse(bool head_request = false);

  // Parses as much of `data` as possible (see "Input model" above). After
  // kComplete or kError, further calls return the same state and consume
  // nothing until BeginResponse().
  Result Feed(std::string_view data);

  // The peer closed the connection. Completes a close-delimited body (true);
  // false if the response was incomplete (the caller counts an error).
  bool FinishOnEof();

  State state() const { return state_; }
  int status_code() const { return status_code_; }
  // 0 for an HTTP/1.0 response, 1 otherwise.
  int version_minor() const { return http10_ ? 0 : 1; }
  // False when the connection must be closed after this response
  // (`Connection: close`, HTTP/1.0 without keep-alive, close-delimited body,
  // 101 Switching Protocols).
  bool keep_alive() const { return keep_alive_; }
  uint64_t body_bytes() const { return body_bytes_; }
  // Why the state is kError.
  const std::string& error() const { return error_; }

  // With keep_message only (empty otherwise):
  // The status line and header lines, each without its line end, joined by
  // CRLF (no trailing CRLF).
  const std::string& head() const { return head_; }
  // Header fields in order: name as received, value with OWS trimmed.
  const std::vector<std::pair<std::string, std::string>>& headers() const {
    return headers_;
  }
  // The decoded body (chunk framing removed).
  const std::string& body() const { return body_; }

 private:
  enum Phase {
    kStatusLine,
    kHeaders,
    kBody,  // Content-Length: body_remaining_ bytes
    kChunkSize,
    kChunkData,  // body_remaining_ bytes, then CRLF
    kChunkDataCrlf,
    kTrailers,
    kUntilClose,
    kDone,
  };

  // Returns false and sets the error state.
  bool Fail(std::string message);
  bool ParseStatusLine(std::string_view line);
  bool ParseHeader(std::string_view line);
  bool EndOfHeaders();
  bool ParseChunkSize(std::string_view line);
  // Counts (and with keep_message keeps) body bytes.
  bool TakeBody(std::string_view bytes);

  ResponseParserOptions options_;
  State state_ = kNeedMore;
  Phase phase_ = kStatusLine;
  bool head_request_ = false;
  int status_code_ = 0;
  bool http10_ = false;
  bool keep_alive_ = true;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  bool chunked_ = false;
  std::optional<uint64_t> content_length_;
  uint64_t body_remaining_ = 0;
  uint64_t body_bytes_ = 0;
  int header_count_ = 0;
  std::string error_;
  std::string head_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string body_;
};

}  // namespace brisk::http

#endif  // BRISK_HTTP_RESPONSE_PARSER_H_
