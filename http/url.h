// URL helpers for HTTP request targets: percent-decoding and query parsing.
//
//   std::optional<std::string> p = brisk::http::PercentDecode("/a%20b");
//   // *p == "/a b"
//   auto pairs = brisk::http::ParseQuery("x=1&name=J%C3%B6rg+M");
//   // {{"x", "1"}, {"name", "Jörg M"}}
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

namespace brisk::http {

// Decodes `%XX` escapes (hex digits of either case). With `plus_as_space`
// (application/x-www-form-urlencoded, i.e. query strings) '+' becomes ' '.
// Returns nullopt on a malformed escape ('%' not followed by two hex digits).
std::optional<std::string> PercentDecode(std::string_view in,
                                         bool plus_as_space = false);

// Appends the decoded form of `in` to `*out`; false on a malformed escape
// (then `*out` holds a partial result).
bool AppendPercentDecoded(std::string_view in, bool plus_as_space,
                          std::string* out);

// Splits a raw query string ("a=1&b=two&flag") into decoded name/value pairs,
// in order, keeping duplicates. A field without '=' has an empty value; empty
// fields ("a=1&&b=2") are skipped; a field with a malformed escape is kept
// raw (undecoded) rather than dropped.
std::vector<std::pair<std::string, std::string>> ParseQuery(
    std::string_view query);

}  // namespace brisk::http

#endif  // BRISK_HTTP_URL_H_
