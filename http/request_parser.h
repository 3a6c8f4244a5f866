// brisk::http::RequestParser: an incremental HTTP/1.1 request parser
// (RFC 9112 framing, RFC 9110 semantics) over bytes. No I/O, no clock.
//
//   RequestParser parser;                      // default ParserLimits
//   std::string_view in = bytes_read_from_socket;
//   while (!in.empty()) {
//     ParseResult r = parser.Feed(in);
//     if (r.kind == ParseResult::kNeedMore) break;       // all of `in` used
//     if (r.kind == ParseResult::kError) { Answer(r.status); Close(); break; }
//     Request req = parser.TakeRequest();                // parser is reset
//     Handle(std::move(req));
//     in.remove_prefix(r.consumed);                      // next pipelined one
//   }
//   // While the body is pending: if (parser.headers_complete() &&
//   // parser.expects_continue()) send "100 Continue" once.
//
// Feed() accepts any split of the input, down to one byte at a time. When a
// whole request head sits in one chunk it is parsed in place (word-at-a-time
// scans for line ends and control bytes, table scans for tokens) and copied
// once into the Request. Limits and defaults: see ParserLimits.
//
// Strictness (anything ambiguous is an error, to prevent request smuggling):
// CRLF line ends only; exactly one SP between request-line parts;
// "HTTP/1.0" is 1.0, "HTTP/1.1" to "HTTP/1.9" are served as 1.1 (RFC 9110
// §2.5: version_minor() is 1), another major "HTTP/d.d" -> 505, anything
// else -> 400; leading empty lines ignored, then a first byte that cannot
// begin a method (not a tchar: TLS, binary noise) -> 400 at once, without
// waiting for a line end; no whitespace before ':', no
// obs-fold, no control bytes but HTAB in values; HTTP/1.1 needs exactly one
// Host; Host is empty or uri-host [":" port] (RFC 9112 §3.2, ParseHostPort
// in url.h: no userinfo, digit port, IPv6 only in brackets) -> else 400, and
// so is the authority of an absolute-form or CONNECT target; Content-Length
// strict digits (repeats only if equal); Transfer-Encoding must end in a
// single "chunked" (empty list elements ignored), with Content-Length or in
// HTTP/1.0 -> 400, other codings -> 501; "100-continue" anywhere in the
// Expect list sets expects_continue(). Methods are only checked to be tokens: whether one is implemented
// (501) or allowed (405) is the Router's answer (router.h).
//
// Ownership: the parser copies what it needs; `chunk` need only live during
// Feed(). Thread-safety: none; one parser per connection, used by one thread.
#ifndef BRISK_HTTP_REQUEST_PARSER_H_
#define BRISK_HTTP_REQUEST_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "http/request.h"

namespace brisk::http {

// Limits, each with the status answered when exceeded. Defaults are close to
// nginx's (large_client_header_buffers 4 8k; client_max_body_size 1m).
struct ParserLimits {
  // Request line without its CRLF. 414 URI Too Long.
  size_t max_request_line_bytes = 8 * 1024;
  // Header section after the request line, CRLFs included. 431.
  size_t max_header_bytes = 32 * 1024;
  // Number of header fields. 431.
  size_t max_header_count = 100;
  // Body bytes (the decoded total for chunked bodies). 413.
  size_t max_body_bytes = 1024 * 1024;
  // Bytes of extensions on one chunk-size line (after the size); also,
  // separately, the most leading zeros its size may have past 16 digits.
  // 400.
  size_t max_chunk_extension_bytes = 1024;
  // Trailer section of a chunked body uses max_header_bytes and
  // max_header_count as well (431).
  // max_request_line_bytes, max_header_bytes and max_chunk_extension_bytes
  // above 1 GiB are taken as 1 GiB (a head is indexed by 32-bit offsets);
  // SIZE_MAX is thus "no limit" in practice.
};

struct ParseResult {
  enum Kind { kNeedMore, kComplete, kError };
  Kind kind = kNeedMore;
  // kNeedMore: the whole chunk. kComplete: bytes of this chunk that finished
  // the request (the rest belongs to the next request). kError: bytes
  // examined (not meaningful for the caller).
  size_t consumed = 0;
  // kError: the HTTP status to answer (400, 413, 414, 431, 501, 505).
  int status = 0;
};

class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits = ParserLimits());

  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Consumes bytes of the current request. After kComplete, call
  // TakeRequest() before feeding more; after kError the parser stays in error
  // (every later Feed returns the same error) until Reset().
  ParseResult Feed(std::string_view chunk);

  // Moves out the completed request and resets the parser for the next one.
  // Only valid after Feed returned kComplete.
  Request TakeRequest();

  // Forgets all state (including an error).
  void Reset();

  // True once the head (request line + headers) is parsed and valid; the
  // body may still be pending. Then request() has method, target, headers,
  // keep_alive() and expects_continue(), but not yet the body. False after
  // an error (head_read() says whether the head was read; a head refused
  // before it was whole has no request() to read).
  bool headers_complete() const { return state_ >= State::kBody && state_ != State::kError; }
  bool expects_continue() const {
    return headers_complete() && request_.expects_continue();
  }
  const Request& request() const { return request_; }

  // True when no byte of a request has been seen yet (only empty lines, if
  // anything): useful to close idle connections quietly.
  bool idle() const { return state_ == State::kStart && buffer_.empty(); }
  bool has_error() const { return state_ == State::kError; }
  // True once a request line's method was read as HEAD (its first five
  // bytes "HEAD "), even if the request then failed, or its line was too
  // long (414) or never ended (408): the error answer to a HEAD request has
  // no content (RFC 9110 §9.3.2).
  bool head_request() const { return head_request_; }
  // True once every line of the head was read, even if the head or the
  // body then failed (413 for a declared length over the limit, 501 for an
  // unknown coding, a bad chunk): request() then has the method, target
  // and headers, for the error's log line (and the path decoded, as a
  // route sees it).
  bool head_read() const { return head_read_; }
  // While no head was read whole (a request line or head refused, or one
  // still arriving when its timeout ends it): what came as the request
  // line, as sent, up to its CR or LF or kMaxLineSeen bytes; empty
  // otherwise. For the log line of that error or timeout.
  std::string_view request_line_seen() const;
  static constexpr size_t kMaxLineSeen = 256;
  const ParserLimits& limits() const { return limits_; }

  // Chooses each request's body limit once its head is whole (a server's
  // route's own limit, say): called for every request with a body
  // (Content-Length above 0, or chunked), with request() complete but its
  // body unread; the result stands in for ParserLimits::max_body_bytes for
  // that request (above or below it; 413 beyond, at once for a declared
  // length). Unset (the default): max_body_bytes for every request. Kept
  // across Reset().
  void set_body_limit(std::function<uint64_t(const Request& head)> limit) {
    body_limit_of_ = std::move(limit);
  }

 private:
  enum class State : uint8_t {
    kStart,       // skipping empty lines before the request line
    kHead,        // request line + header lines, buffered in buffer_
    kBody,        // Content-Length body
    kChunkSize,   // chunk-size hex digits
    kChunkExt,    // chunk extensions up to CR
    kChunkSizeLf, // LF after chunk-size line
    kChunkData,   // chunk payload
    kChunkDataCr, // CR after chunk payload
    kChunkDataLf, // LF after chunk payload
    kTrailer,     // trailer lines, buffered in buffer_
    kComplete,
    kError,
  };

  ParseResult Error(int status, size_t consumed);
  // A 400 for `rest`, bytes that cannot start a request line.
  ParseResult StartError(std::string_view rest, size_t consumed);
  static std::string_view FirstLine(std::string_view bytes);
  void KeepLineSeen(std::string_view bytes);
  // Head or trailer section: scans `chunk` (fast path in place, else
  // buffered). Sets *used to the bytes of `chunk` consumed; returns 0 or an
  // error status.
  int FeedLines(std::string_view chunk, size_t* used);
  // Parses the complete lines of the section stored at `base` from
  // line_start_; stops at an incomplete line (after checking limits) or at
  // the end of the section. Returns 0 or an error status.
  int ParseLines(const char* base, size_t size);
  // A line with no LF yet, or over its limit (`over`): the error it already
  // has (a bare CR, the limit), else 0.
  int UnfinishedOrLongLine(const char* line, size_t k, bool request_line, bool over);
  int ParseRequestLine(const char* base, size_t begin, size_t end);
  int ParseFieldLine(const char* base, size_t begin, size_t end);
  int RecordField(std::string_view name, std::string_view value);
  // Decides body framing once the head is parsed.
  int FinishHead();
  // Runs once the head bytes are in request_.head_.
  int CompleteHead();
  // Decodes the path, or fills in "/" for an empty one, and removes its dot
  // segments: request().path() as handlers and routes see it. Returns 0 or
  // 400 (a ".." above the root, or a dot segment made by an escape).
  int FinishPath();
  // FinishPath() has work: a decode, the default "/" or a possible dot
  // segment.
  bool path_unfinished() const {
    return path_needs_decode_ || path_default_root_ || path_may_have_dot_;
  }
  int FeedBody(std::string_view chunk, size_t* used);
  int ChunkExtByte(char c);

  ParserLimits limits_;
  State state_ = State::kStart;
  int error_status_ = 0;
  bool pending_cr_ = false;         // kStart: saw '\r' of an empty line
  bool request_line_done_ = false;
  bool head_request_ = false;       // the request line's method is HEAD
  bool head_read_ = false;          // head_read()
  std::string line_seen_;           // request_line_seen() after an error
  // kHead/kTrailer: buffered bytes of the section when not parsed in place.
  std::string buffer_;
  size_t line_start_ = 0;    // first unparsed line of the section
  size_t header_bytes_ = 0;  // section bytes so far (for 431)
  size_t header_count_ = 0;
  // Body framing.
  uint64_t remaining_ = 0;   // kBody/kChunkData: bytes still expected
  uint64_t body_total_ = 0;  // chunked: decoded bytes so far
  // This request's body limit: limits_.max_body_bytes, or body_limit_of_'s.
  uint64_t body_limit_ = 0;
  std::function<uint64_t(const Request&)> body_limit_of_;
  uint64_t chunk_size_ = 0;
  uint64_t chunk_ext_bytes_ = 0;
  int chunk_ext_state_ = 0;
  // Hex digits of the chunk size so far, leading zeros included: beyond 16
  // they are bounded by max_chunk_extension_bytes, or a line of zeros
  // trickled a byte per idle timeout held the connection without bound.
  size_t chunk_digits_ = 0;
  // Recognised fields, while parsing the head.
  int host_count_ = 0;
  bool has_transfer_encoding_ = false;
  int te_chunked_count_ = 0;
  bool te_last_chunked_ = false;
  bool te_unknown_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  bool expect_continue_ = false;
  bool path_needs_decode_ = false;
  bool path_default_root_ = false;  // absolute-form without a path
  bool path_may_have_dot_ = false;  // a '.' or an escape in the target
  bool target_has_authority_ = false;  // absolute- or authority-form
  bool connect_ = false;            // a CONNECT request
  Request::Span raw_path_;
  Request request_;
};

}  // namespace brisk::http

#endif  // BRISK_HTTP_REQUEST_PARSER_H_
