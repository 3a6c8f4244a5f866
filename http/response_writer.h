// Serializes HTTP/1.1 responses into a caller's output buffer.
//
//   HttpDate date;                                   // one per thread
//   std::string out;                                 // connection's buffer
//   ResponseOptions opt;
//   opt.date = date.Get(unix_seconds_now);           // caller's clock
//   opt.keep_alive = request.keep_alive();
//   opt.head = request.is_head();
//   AppendResponse(Response::Text(200, "hi\n"), opt, &out);
//   AppendErrorResponse(400, opt.date, &out);        // + Connection: close
//   AppendContinue(&out);                            // "HTTP/1.1 100 Continue"
//
// Output: status line with reason phrase, Date (IMF-fixdate), Server: brisk,
// the response's own headers, Content-Length (or Transfer-Encoding: chunked),
// Connection: keep-alive/close, then the body. HEAD gets the same headers as
// GET and no body; 1xx, 204 and 304 get no framing header and no body.
// Appending does not allocate per header (only `out` grows).
// Thread-safety: the functions are thread-safe; HttpDate is not (one per
// thread, e.g. per reactor).
#ifndef BRISK_HTTP_RESPONSE_WRITER_H_
#define BRISK_HTTP_RESPONSE_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/response.h"

namespace brisk::http {

// Caches the IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") for the current
// second: Get() formats at most once per distinct second.
class HttpDate {
 public:
  // `unix_seconds`: seconds since the Unix epoch, from the caller's clock.
  // The view stays valid until the next Get() on this object.
  std::string_view Get(int64_t unix_seconds);
  // Formats without caching (29 bytes).
  static std::string Format(int64_t unix_seconds);

 private:
  int64_t cached_second_ = INT64_MIN;
  size_t length_ = 0;
  char buf_[40] = {};
};

struct ResponseOptions {
  // Value of the Date header; empty to omit it.
  std::string_view date;
  // Connection: keep-alive vs close.
  bool keep_alive = true;
  // Answer to a HEAD request: headers as for GET, no body.
  bool head = false;
  // Frame the body with Transfer-Encoding: chunked (as one chunk plus the
  // last chunk) instead of Content-Length. Ignored for HTTP/1.0 clients.
  bool chunked = false;
  // The request's HTTP minor version (0 disables chunked).
  int request_version_minor = 1;
  // A W3C traceparent to echo on the response (empty: none).
  std::string_view traceparent;
};

void AppendResponse(const Response& response, const ResponseOptions& options,
                    std::string* out);

// Whether answers with `status` carry no content whatever the Response's
// body: 1xx, 204 and 304 (no framing field either) and 205 (sent with
// Content-Length: 0, RFC 9110 §15.3.6). AppendResponse() drops the body of
// these; a caller streaming a body should answer them whole instead.
bool StatusHasNoContent(int status);

// The head of a response whose body follows in pieces (streaming): status
// line and headers as AppendResponse writes them, then
// "Transfer-Encoding: chunked" for an HTTP/1.1 request (follow with
// AppendChunk() and AppendLastChunk()); for an HTTP/1.0 request no framing
// header at all, the body ending when the connection closes (so
// options.keep_alive must be false). `head.body` is not written. With
// options.head (a HEAD request) the same head is written; send no body.
void AppendStreamHead(const Response& head, const ResponseOptions& options,
                      std::string* out);

// A minimal error response: status line, Date (if non-empty), Server,
// Content-Type: text/plain, Content-Length, Connection: close, and the reason
// phrase as body. For parser errors (400, 413, 414, 431, 501, 505).
void AppendErrorResponse(int status, std::string_view date, std::string* out);

// "HTTP/1.1 100 Continue\r\n\r\n".
void AppendContinue(std::string* out);

// Chunked streaming helpers: one chunk ("<hex>\r\n<data>\r\n"; nothing for
// empty data) and the last chunk ("0\r\n\r\n").
void AppendChunk(std::string_view data, std::string* out);
void AppendLastChunk(std::string* out);

}  // namespace brisk::http

#endif  // BRISK_HTTP_RESPONSE_WRITER_H_
