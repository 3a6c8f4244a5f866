// URL helpers for HTTP request targets: percent-decoding, query parsing and
// the authority grammar (RFC 3986 §3.2) used by Host and CONNECT.
//
//   std::optional<std::string> p = brisk::http::PercentDecode("/a%20b");
//   // *p == "/a b"
//   auto pairs = brisk::http::ParseQuery("x=1&name=J%C3%B6rg+M");
//   // {{"x", "1"}, {"name", "Jörg M"}}
//   std::optional<HostPort> hp = brisk::http::ParseHostPort("[::1]:8080");
//   // hp->host == "[::1]", hp->port == "8080"
//
// Pure functions over bytes; no allocation beyond the returned values;
// thread-safe.
#ifndef BRISK_HTTP_URL_H_
#define BRISK_HTTP_URL_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/ascii.h"

namespace brisk::http {

// Decodes `%XX` escapes (hex digits of either case). With `plus_as_space`
// (application/x-www-form-urlencoded, i.e. query strings) '+' becomes ' '.
// Returns nullopt on a malformed escape ('%' not followed by two hex digits).
std::optional<std::string> PercentDecode(std::string_view in,
                                         bool plus_as_space = false);

// Writes the decoded form of `in` to `out`, which has room for in.size()
// bytes (the decoded form is never longer); returns its length, or nullopt
// on a malformed escape (then `out` holds a partial result). No allocation:
// the request parser decodes a path into its head's own buffer.
std::optional<size_t> WritePercentDecoded(std::string_view in, bool plus_as_space, char* out);

// Splits a raw query string ("a=1&b=two&flag") into decoded name/value pairs,
// in order, keeping duplicates. A field without '=' has an empty value; empty
// fields ("a=1&&b=2") are skipped; a field with a malformed escape is kept
// raw (undecoded) rather than dropped.
std::vector<std::pair<std::string, std::string>> ParseQuery(
    std::string_view query);

// An authority without userinfo, as in the Host field (RFC 9112 §3.2) and
// in CONNECT's authority-form: uri-host [ ":" port ] (RFC 3986 §3.2.2-3).
struct HostPort {
  // As written: a reg-name (letters, digits, unreserved and sub-delims, %XX
  // escapes), an IPv4 address (a reg-name by grammar) or an IP literal with
  // its brackets ("[::1]", "[v1.x]").
  std::string_view host;
  // The digits after ':' when there is a ':' (possibly empty: "h:" is valid
  // RFC 3986), nullopt without one.
  std::optional<std::string_view> port;
};

// Splits and validates `authority`; nullopt unless it is uri-host [":" port]
// with a non-empty host (http URIs may not have an empty host, RFC 9110
// §4.2.1). Rejected, among others: userinfo ("u@h"), whitespace and control
// bytes, a port with anything but digits, an IPv6 address without brackets
// ("::1", "fe80::1:80"), a malformed IP literal, a zone id ("[fe80::1%25en0]",
// RFC 6874 is not supported) and a malformed %XX escape. The content of
// "[...]" must be an RFC 3986 IPv6address (hex groups, at most one "::", an
// optional trailing dotted IPv4) or IPvFuture ("v" HEXDIG "." ...).
std::optional<HostPort> ParseHostPort(std::string_view authority);

// The Host field's rule (RFC 9112 §3.2): an empty value (allowed when the
// target has no authority), or an authority ParseHostPort accepts. Inline
// and cheaper than ParseHostPort for the common "name[:port]" (the request
// parser checks every Host field with it).
inline bool IsValidHostField(std::string_view value) {
  const char* const begin = value.data();
  const char* const end = begin + value.size();
  const char* p = SkipCharClass(begin, end, kRegNameChar);
  if (p != begin &&
      (p == end ||
       (*p == ':' && SkipCharClass(p + 1, end, kDigitChar) == end))) {
    return true;  // reg-name without escapes [ ":" port ]
  }
  return value.empty() || ParseHostPort(value).has_value();
}

// RFC 3986 IPv6address, without brackets: "::1", "2001:db8::7",
// "::ffff:192.0.2.1". Hex groups of 1-4 digits; eight of them, or fewer with
// exactly one "::"; the last two may be a dotted IPv4 address.
bool IsIpv6Address(std::string_view s);

// RFC 3986 IPv4address: four decimal octets 0-255 without leading zeros.
bool IsIpv4Address(std::string_view s);

}  // namespace brisk::http

#endif  // BRISK_HTTP_URL_H_
