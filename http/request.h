// brisk::http::Request: one parsed HTTP/1.1 request (request line, header
// fields, decoded body), produced by RequestParser.
//
//   RequestParser parser;
//   ParseResult r = parser.Feed(bytes);
//   if (r.kind == ParseResult::kComplete) {
//     Request req = parser.TakeRequest();
//     if (req.method() == "GET" && req.path() == "/hello") ...
//     std::optional<std::string_view> ua = req.Header("user-agent");
//     for (const HeaderField& f : req.headers()) ...
//   }
//
// Ownership: a Request owns all of its bytes (one buffer for the head, one for
// the body); every string_view it returns points into it and stays valid
// until the Request is destroyed, moved from or assigned. Moving a Request is
// cheap and keeps it valid, so it can be handed to a worker thread; the
// Request moved from is left empty (method() "", no fields, no body).
// Thread-safety: const methods may be called concurrently; otherwise one
// owner at a time.
#ifndef BRISK_HTTP_REQUEST_H_
#define BRISK_HTTP_REQUEST_H_

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/inlined_vector.h"
#include "http/method.h"

namespace brisk::http {

// One header field as received: name in its original case, value with
// surrounding whitespace removed.
struct HeaderField {
  std::string_view name;
  std::string_view value;
};

class Request {
 public:
  // Offsets into head_ (the head is bounded by ParserLimits, far below 4 GiB).
  struct Span {
    uint32_t offset = 0;
    uint32_t length = 0;
  };
  struct FieldSpan {
    Span name;
    Span value;
  };

  // Iterates over all header fields in arrival order (trailer fields of a
  // chunked body are parsed and dropped, not listed).
  class HeaderIterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = HeaderField;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = HeaderField;

    HeaderIterator() = default;
    HeaderField operator*() const;
    HeaderIterator& operator++() {
      ++field_;
      return *this;
    }
    HeaderIterator operator++(int) {
      HeaderIterator old = *this;
      ++field_;
      return old;
    }
    bool operator==(const HeaderIterator& other) const {
      return field_ == other.field_;
    }

   private:
    friend class Request;
    HeaderIterator(const char* base, const FieldSpan* field)
        : base_(base), field_(field) {}
    const char* base_ = nullptr;
    const FieldSpan* field_ = nullptr;
  };
  class HeaderRange {
   public:
    HeaderIterator begin() const { return begin_; }
    HeaderIterator end() const { return end_; }
    size_t size() const { return size_; }

   private:
    friend class Request;
    HeaderIterator begin_, end_;
    size_t size_ = 0;
  };

  Request() = default;
  // A moved-from Request is empty (no method, target, fields or body), not
  // one whose views point past a buffer it no longer holds.
  Request(Request&& other) noexcept { MoveFrom(other); }
  Request& operator=(Request&& other) noexcept {
    if (this != &other) MoveFrom(other);
    return *this;
  }
  Request(const Request&) = default;
  Request& operator=(const Request&) = default;

  // Method token as received (case-sensitive: "GET", "POST", ...).
  std::string_view method() const { return View(method_); }
  // Raw request-target: "/a%20b?x=1", "http://h/p", "h:443" (CONNECT), "*".
  std::string_view target() const { return View(target_); }
  // Percent-decoded path without the query: "/a b", with its dot segments
  // removed (RFC 3986 §5.2.4: "/a/./b/../c" is "/a/c"; a ".." above the
  // root is refused 400, and so is a dot segment made by an escape,
  // "/%2E%2E/" or "x%2F..", which a proxy that does not decode paths would
  // not see), so no segment is "." or "..". For absolute-form
  // it is the path part ("/" when empty); for authority-form it is empty;
  // for asterisk-form "*". Note that "%2F" decodes to '/' (as nginx does),
  // and that a decoded path never holds a control character (an escape
  // of one, like the raw byte, is refused 400).
  std::string_view path() const { return View(path_); }
  // The authority the request is for (RFC 9112 §3.2.2): the target's own
  // for the absolute-form ("http://a.example/x" is for "a.example", whatever
  // Host says) and the authority-form (CONNECT); else the Host field's
  // value ("example.com:8080"); empty when there is neither (HTTP/1.0).
  std::string_view authority() const { return View(authority_); }
  // Raw (undecoded) query after '?', without the '?'; empty when none.
  std::string_view query() const { return View(query_); }
  // 0 for HTTP/1.0, 1 for HTTP/1.1.
  int version_minor() const { return version_minor_; }
  bool is_head() const { return method() == "HEAD"; }
  // Its method is safe (IsSafeMethod): pipelined requests may be processed
  // in parallel only when all are (RFC 9112 §9.3.2).
  bool is_safe() const { return IsSafeMethod(method()); }

  // Value of the first field named `name` (ASCII case-insensitive), or
  // nullopt. Fields repeated on several lines are not joined.
  std::optional<std::string_view> Header(std::string_view name) const;
  HeaderRange headers() const;
  size_t header_count() const { return fields_.size(); }

  // The message body (de-chunked for Transfer-Encoding: chunked).
  std::string_view body() const { return body_; }
  // Bytes the body's buffer holds (at least body().size()).
  size_t body_capacity() const { return body_.capacity(); }
  std::string& mutable_body() { return body_; }

  // Whether the connection may stay open after the response: HTTP/1.1 unless
  // Connection has the "close" token; HTTP/1.0 only if Connection has
  // "keep-alive" (and not "close"); never for CONNECT (what follows its
  // head is tunnel data).
  bool keep_alive() const { return keep_alive_; }
  // HTTP/1.1 request with "Expect: 100-continue".
  bool expects_continue() const { return expects_continue_; }
  // Framing the parser chose: declared Content-Length (nullopt if none) and
  // whether the body is chunked.
  std::optional<uint64_t> content_length() const {
    if (!has_content_length_) return std::nullopt;
    return content_length_;
  }
  bool chunked() const { return chunked_; }

 private:
  friend class RequestParser;
  std::string_view View(Span s) const {
    return std::string_view(head_.data() + s.offset, s.length);
  }
  // Takes `other`'s bytes and framing, and leaves it empty.
  void MoveFrom(Request& other) noexcept;
  // Back to what a default Request holds, keeping the buffers' capacity
  // (the parser reuses them: cheaper per request than `= Request()`).
  void Clear() noexcept;

  std::string head_;  // request line + header section (+ decoded path)
  // Field spans; inline for typical requests (no allocation).
  absl::InlinedVector<FieldSpan, 10> fields_;
  std::string body_;
  Span method_, target_, path_, query_, authority_;
  uint64_t content_length_ = 0;
  int version_minor_ = 1;
  bool has_content_length_ = false;
  bool chunked_ = false;
  bool keep_alive_ = true;
  bool expects_continue_ = false;
};

}  // namespace brisk::http

#endif  // BRISK_HTTP_REQUEST_H_
