// ResponseReader: an incremental HTTP/1.1 response reader for the load
// generator. It finds where one response ends on a keep-alive connection and
// extracts what a load generator reports: the status code and whether the
// server keeps the connection open. Body bytes are counted and skipped, never
// stored.
//
//   ResponseReader reader;
//   reader.BeginResponse(/*head_request=*/false);
//   ... bytes arrive in `in` (an IoBuffer) ...
//   ResponseReader::Result r = reader.Feed(in.readable());
//   in.Consume(r.consumed);
//   if (r.state == ResponseReader::kComplete) {
//     Record(reader.status_code());
//     if (!reader.keep_alive()) Reconnect();
//   } else if (r.state == ResponseReader::kError) { ... reader.error() ... }
//   // On EOF: reader.FinishOnEof() completes a close-delimited body.
//
// Input model: Feed() consumes complete lines (status line, headers, chunk
// sizes, trailers) and body bytes. A partial line is NOT consumed: the caller
// keeps it and feeds it again with the bytes that follow (as an IoBuffer
// does), so any split of the input works and nothing is copied. Bytes after
// the end of the response are not consumed either.
//
// Supported: HTTP/1.0 and 1.1 status lines, Content-Length, chunked
// transfer coding (extensions and trailers skipped), bodies delimited by
// connection close, no body for HEAD, 1xx, 204 and 304 (interim 1xx
// responses are skipped), `Connection: close` / `keep-alive`. Limits: a line
// longer than `max_line_bytes` or more than `max_headers` headers is an error.
//
// Thread-safety: none; one reader per connection.
#ifndef BRISK_TOOLS_LOADGEN_RESPONSE_READER_H_
#define BRISK_TOOLS_LOADGEN_RESPONSE_READER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace brisk::loadgen {

struct ResponseReaderOptions {
  size_t max_line_bytes = 16 * 1024;
  int max_headers = 128;
};

class ResponseReader {
 public:
  enum State { kNeedMore, kComplete, kError };
  struct Result {
    State state = kNeedMore;
    size_t consumed = 0;  // bytes of the input that belong to this response
  };

  explicit ResponseReader(ResponseReaderOptions options = {})
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
  // False when the connection must be closed after this response
  // (`Connection: close`, HTTP/1.0 without keep-alive, close-delimited body).
  bool keep_alive() const { return keep_alive_; }
  uint64_t body_bytes() const { return body_bytes_; }
  // Why the state is kError.
  const std::string& error() const { return error_; }

 private:
  enum Phase {
    kStatusLine,
    kHeaders,
    kBody,        // Content-Length: body_remaining_ bytes
    kChunkSize,
    kChunkData,   // body_remaining_ bytes, then CRLF
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

  ResponseReaderOptions options_;
  State state_ = kNeedMore;
  Phase phase_ = kStatusLine;
  bool head_request_ = false;
  int status_code_ = 0;
  bool http10_ = false;
  bool keep_alive_ = true;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  bool chunked_ = false;
  bool has_content_length_ = false;
  uint64_t content_length_ = 0;
  uint64_t body_remaining_ = 0;
  uint64_t body_bytes_ = 0;
  int headers_ = 0;
  std::string error_;
};

}  // namespace brisk::loadgen

#endif  // BRISK_TOOLS_LOADGEN_RESPONSE_READER_H_
