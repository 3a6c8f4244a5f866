// W3C Trace Context (https://www.w3.org/TR/trace-context/): the
// `traceparent` header that lets one request be followed across services.
//
//   std::optional<TraceParent> t =
//       ParseTraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
//   t->trace_id();   // "4bf92f3577b34da6a3ce929d0e0e4736"
//   t->parent_id();  // "00f067aa0ba902b7": the caller's span
//   t->sampled();    // true
//   // A downstream call made on behalf of this request, from span S:
//   std::string header = t->Child("b7ad6b7169203331");
//
// Parsing follows the specification's rules: version 2 lowercase hex digits
// ("ff" is invalid), trace-id 32 and parent-id 16 lowercase hex digits, not
// all zeros, flags 2 hex digits, fields joined by '-'; version 00 is exactly
// 55 characters, a later version may append "-..." (accepted, and cut to
// the 55 characters of the fields version 00 defines: what follows cannot
// be checked, so it is not passed on). Anything else is not a traceparent
// (nullopt): a server then ignores it.
// Pure functions over bytes; thread-safe.
#ifndef BRISK_HTTP_TRACE_CONTEXT_H_
#define BRISK_HTTP_TRACE_CONTEXT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/request.h"

namespace brisk::http {

class TraceParent {
 public:
  std::string_view version() const { return std::string_view(value_).substr(0, 2); }
  std::string_view trace_id() const { return std::string_view(value_).substr(3, 32); }
  std::string_view parent_id() const { return std::string_view(value_).substr(36, 16); }
  uint8_t flags() const { return flags_; }
  bool sampled() const { return (flags_ & 1) != 0; }
  // The header value as received (a later version's extra fields cut).
  const std::string& value() const { return value_; }
  // "00-<trace-id>-<span_id>-<flags>": the traceparent for a call made on
  // behalf of this request from span `span_id` (16 lowercase hex digits).
  std::string Child(std::string_view span_id) const;

 private:
  friend std::optional<TraceParent> ParseTraceParent(std::string_view value);
  std::string value_;
  uint8_t flags_ = 0;
};

std::optional<TraceParent> ParseTraceParent(std::string_view value);
// The same check without a copy: `value` without surrounding whitespace
// (and a later version's extra fields) if it is a valid traceparent, else
// nullopt (a view into `value`).
std::optional<std::string_view> ValidTraceParent(std::string_view value);

// The header's name.
inline constexpr std::string_view kTraceParentHeader = "traceparent";

// The request's traceparent, if it has exactly one traceparent field line
// and its value is valid (a view into the request). Two lines are two
// parents, of which neither can be trusted: the request is treated as
// having none, and whoever calls onwards starts a new trace (what W3C's
// trace-context test suite asks of a receiver; a list in one line is
// invalid already).
std::optional<std::string_view> RequestTraceParent(const Request& request);

}  // namespace brisk::http

#endif  // BRISK_HTTP_TRACE_CONTEXT_H_
