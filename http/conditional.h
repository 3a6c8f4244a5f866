// Conditional requests (RFC 9110 §13): If-Match, If-None-Match,
// If-Unmodified-Since and If-Modified-Since, evaluated against the selected
// representation's validators in the order RFC 9110 §13.2.2 gives.
//
//   // A handler about to change a resource (PUT with If-Match: optimistic
//   // concurrency) checks first, with the resource's current validators:
//   switch (http::EvaluatePreconditions(ctx.request(), {.etag = doc.etag})) {
//     case http::Precondition::kFailed: return http::Response::Status(412);
//     case http::Precondition::kNotModified: return http::Response::Status(304);
//     case http::Precondition::kNone: break;  // perform the method
//   }
//
//   // The server, for each 200 answer to GET or HEAD (the method is safe, so
//   // judging after the handler ran is as judging before it):
//   if (std::optional<Response> r = ConditionalAnswer(request, response, now)) ...
//
// Entity tags compare as RFC 9110 §8.8.3.2 says: strongly for If-Match (a
// weak tag never matches), weakly for If-None-Match. A list field may come
// on several lines; a date field (IMF-fixdate, or the obsolete RFC 850 and
// asctime forms, RFC 9110 §5.6.7) that is invalid or repeated is ignored,
// as is a date condition when the representation has no modification date.
//
// Thread-safety: pure functions.
#ifndef BRISK_HTTP_CONDITIONAL_H_
#define BRISK_HTTP_CONDITIONAL_H_

#include <cstdint>
#include <optional>
#include <string_view>

#include "http/request.h"
#include "http/response.h"

namespace brisk::http {

// What the target resource currently is, as far as preconditions ask.
struct Validators {
  // The selected representation's entity tag as an ETag field gives it
  // (`"v1"`, `W/"v1"`); empty (or not an entity tag): none.
  std::string_view etag;
  // Its last modification, in seconds since the Unix epoch; nullopt: unknown.
  std::optional<int64_t> last_modified;
  // Whether the target resource has a current representation (what
  // `If-Match: *` and `If-None-Match: *` ask).
  bool exists = true;
  // The current time, in seconds since the Unix epoch, from the caller's
  // clock: a two-digit year in a date the request sends (the obsolete
  // rfc850 form) is read near it (ParseHttpDate). nullopt: 1970-2069.
  std::optional<int64_t> now;
};

enum class Precondition {
  kNone,         // no precondition false: perform the method
  kNotModified,  // answer 304 (GET and HEAD)
  kFailed,       // answer 412
};

// Evaluates `request`'s preconditions against `current` (RFC 9110 §13.2.2).
// Call it only where the answer without them would be 2xx (§13.2.1: a
// 404 or 405 takes precedence).
Precondition EvaluatePreconditions(const Request& request, const Validators& current);

// For a 200 answer to GET or HEAD: the answer standing in for it when a
// precondition is false, judged by the answer's own ETag and Last-Modified
// fields — 304 with its fields but representation metadata (the Content-*
// fields other than Content-Location, and Last-Modified when there is an
// ETag: RFC 9110 §15.4.5), or 412 — else nullopt. Any other
// method or status: nullopt.
// `now`: as Validators::now, for the dates of the request and the answer.
std::optional<Response> ConditionalAnswer(const Request& request, const Response& response,
                                          int64_t now);

// Whether `request` has a conditional field (a name starting "If-"): most
// have none, and a caller may skip the rest (and its clock) on false.
bool HasConditionalField(const Request& request);

// An HTTP-date (RFC 9110 §5.6.7) as seconds since the Unix epoch: the
// IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, or the obsolete
// `Sunday, 06-Nov-94 08:49:37 GMT` and `Sun Nov  6 08:49:37 1994`; nullopt
// if `s` is none of them (or no date: 29-Feb in a year without one). A
// two-digit year is the one with those digits nearest the time `now`
// (seconds since the epoch, from the caller's clock; http/ reads none) that
// is not more than 50 calendar years after it, as §5.6.7 asks (on
// 2026-12-07: 76 is 2076, 77 is 1977); without `now`, 1970-2069.
std::optional<int64_t> ParseHttpDate(std::string_view s, std::optional<int64_t> now);

}  // namespace brisk::http

#endif  // BRISK_HTTP_CONDITIONAL_H_
