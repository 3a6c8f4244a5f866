// brisk::http ASCII rules: the character classes of HTTP and URIs (RFC 9110,
// RFC 3986), strict decimal and hex numbers, case-insensitive comparison,
// comma-separated lists and the Content-Length rule. Every brisk package
// that parses HTTP bytes (the request parser, the router, the response
// parser, the load generator, the server) uses these instead of its own
// copy.
//
//   if (!brisk::http::IsToken(method)) return Error(400);
//   std::optional<uint64_t> n = brisk::http::ParseDecimal(content_length);
//   std::optional<uint64_t> size = brisk::http::ParseHex("1a2B");   // 6699
//   brisk::http::ForEachListElement("gzip, chunked", [](std::string_view e) {
//     ...;            // "gzip", then "chunked" (OWS trimmed)
//     return true;    // false stops and makes ForEachListElement false
//   });
//
// One 256-entry table (kCharClassTable) holds every class; scanners test a
// byte with one load (HasCharClass) and skip runs of a class four bytes per
// step (SkipCharClass), which is what keeps the request parser fast.
//
// Note: Debian's abseil is built with its own absl::string_view, not
// std::string_view, so the absl/strings helpers do not take our views; these
// do. Pure functions and constant data; thread-safe.
#ifndef BRISK_HTTP_ASCII_H_
#define BRISK_HTTP_ASCII_H_

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace brisk::http {

// ---- Character classes ----

// Bits of kCharClassTable; a byte may be in several classes.
enum CharClass : uint8_t {
  // tchar (RFC 9110 §5.6.2): ALPHA DIGIT ! # $ % & ' * + - . ^ _ ` | ~.
  kTokenChar = 1 << 0,
  // VCHAR 0x21-0x7E: the bytes a request-target may contain.
  kVisibleChar = 1 << 1,
  // A field-value byte (RFC 9110 §5.5): VCHAR, SP, HTAB, obs-text 0x80-0xFF.
  kFieldValueChar = 1 << 2,
  // HEXDIG: 0-9 a-f A-F.
  kHexDigitChar = 1 << 3,
  // DIGIT: 0-9.
  kDigitChar = 1 << 4,
  // A reg-name byte (RFC 3986 §3.2.2) other than pct-encoded: unreserved
  // (ALPHA DIGIT - . _ ~) and sub-delims (! $ & ' ( ) * + , ; =).
  kRegNameChar = 1 << 5,
  // '%', '?', '#', '.': the bytes a request-target scan notes on the way.
  kTargetDelimiterChar = 1 << 6,
};

namespace ascii_internal {

constexpr bool In(int c, std::string_view set) {
  for (char s : set) {
    if (c == static_cast<unsigned char>(s)) return true;
  }
  return false;
}

constexpr std::array<uint8_t, 256> MakeCharClassTable() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const bool digit = c >= '0' && c <= '9';
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    uint8_t v = 0;
    if (digit || alpha || In(c, "!#$%&'*+-.^_`|~")) v |= kTokenChar;
    if (c >= 0x21 && c <= 0x7E) v |= kVisibleChar;
    if (c == '\t' || (c >= 0x20 && c != 0x7F)) v |= kFieldValueChar;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
      v |= kHexDigitChar;
    }
    if (digit) v |= kDigitChar;
    if (digit || alpha || In(c, "-._~!$&'()*+,;=")) v |= kRegNameChar;
    if (In(c, "%?#.")) v |= kTargetDelimiterChar;
    t[c] = v;
  }
  return t;
}

}  // namespace ascii_internal

inline constexpr std::array<uint8_t, 256> kCharClassTable =
    ascii_internal::MakeCharClassTable();

// True when `c` is in any of the classes in the `classes` bit set.
inline bool HasCharClass(char c, uint8_t classes) {
  return (kCharClassTable[static_cast<unsigned char>(c)] & classes) != 0;
}

// The first byte in [p, end) that is in none of `classes`, or end.
inline const char* SkipCharClass(const char* p, const char* end,
                                 uint8_t classes) {
  while (end - p >= 4) {
    if (!HasCharClass(p[0], classes)) return p;
    if (!HasCharClass(p[1], classes)) return p + 1;
    if (!HasCharClass(p[2], classes)) return p + 2;
    if (!HasCharClass(p[3], classes)) return p + 3;
    p += 4;
  }
  while (p < end && HasCharClass(*p, classes)) ++p;
  return p;
}

// True when every byte of `s` is in `classes` (also for an empty `s`).
inline bool AllOfCharClass(std::string_view s, uint8_t classes) {
  return SkipCharClass(s.data(), s.data() + s.size(), classes) ==
         s.data() + s.size();
}

inline bool IsTokenChar(char c) { return HasCharClass(c, kTokenChar); }
inline bool IsDigit(char c) { return HasCharClass(c, kDigitChar); }
inline bool IsHexDigit(char c) { return HasCharClass(c, kHexDigitChar); }

// token = 1*tchar (RFC 9110 §5.6.2): methods, field names, coding names.
inline bool IsToken(std::string_view s) {
  return !s.empty() && AllOfCharClass(s, kTokenChar);
}

// OWS = *( SP / HTAB ) (RFC 9110 §5.6.3).
inline bool IsOws(char c) { return c == ' ' || c == '\t'; }

// ---- Numbers ----

// Value of a hex digit (0-9 a-f A-F), or -1.
inline int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  const char lower = static_cast<char>(c | 0x20);
  if (lower >= 'a' && lower <= 'f') return lower - 'a' + 10;
  return -1;
}

// *value = *value * base + digit, for incremental parsers that see one digit
// at a time; false (and *value unchanged) when the result would not fit in
// 64 bits. `digit` must be below `base`.
inline bool AccumulateDigit(uint64_t* value, unsigned base, unsigned digit) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  if (*value > (kMax - digit) / base) return false;
  *value = *value * base + digit;
  return true;
}

namespace ascii_internal {

// One or more digits in `kBase` (10 or 16), at most `max_digits`, fitting
// in 64 bits.
template <unsigned kBase>
std::optional<uint64_t> ParseUnsigned(std::string_view digits,
                                      size_t max_digits) {
  if (digits.empty() || digits.size() > max_digits) return std::nullopt;
  uint64_t v = 0;
  for (char c : digits) {
    const int d = kBase == 16 ? HexDigitValue(c) : IsDigit(c) ? c - '0' : -1;
    if (d < 0 || !AccumulateDigit(&v, kBase, static_cast<unsigned>(d))) {
      return std::nullopt;
    }
  }
  return v;
}

}  // namespace ascii_internal

// Strict decimal (RFC 9110 1*DIGIT, e.g. Content-Length): one or more ASCII
// digits and nothing else (no sign, space, "0x" or decimal point), at most
// `max_digits` of them (leading zeros count). nullopt otherwise and when the
// value does not fit in 64 bits (possible only with max_digits > 19).
inline std::optional<uint64_t> ParseDecimal(std::string_view digits,
                                            size_t max_digits = 19) {
  return ascii_internal::ParseUnsigned<10>(digits, max_digits);
}

// Strict hex (RFC 9112 chunk-size = 1*HEXDIG), either case: one or more hex
// digits and nothing else (no sign, space or "0x"), at most `max_digits` of
// them. nullopt otherwise and on overflow (possible only with
// max_digits > 16).
inline std::optional<uint64_t> ParseHex(std::string_view digits,
                                        size_t max_digits = 16) {
  return ascii_internal::ParseUnsigned<16>(digits, max_digits);
}

// ---- Case and lists ----

inline char AsciiToLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
}

// ASCII case-insensitive equality.
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiToLower(a[i]) != AsciiToLower(b[i])) return false;
  }
  return true;
}

// `s` without leading and trailing OWS.
inline std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

// Calls fn(element) for each comma-separated element of a field value
// (RFC 9110 §5.6.1), OWS trimmed, in order. Empty elements ("a,,b", "") are
// passed as empty views: a caller that must reject them can, one that may
// ignore them skips them. Stops and returns false as soon as fn does.
template <typename Fn>
bool ForEachListElement(std::string_view value, Fn fn) {
  while (true) {
    const size_t comma = value.find(',');
    if (!fn(TrimOws(value.substr(0, comma)))) return false;
    if (comma == std::string_view::npos) return true;
    value.remove_prefix(comma + 1);
  }
}

// Content-Length (RFC 9110 §8.6), for requests and responses alike: a
// strict decimal; a list ("3, 3") or a repeated field only when every value
// is equal. Folds one field value into *length (nullopt before the first
// Content-Length field); false when it is malformed, does not fit in 64
// or differs from a value seen before. The RFC asks recipients to
// "anticipate potentially large decimal numerals": leading zeros are free
// ("00000000000000000005" is 5, as a chunk size's are), and digits beyond
// 64 bits read as UINT64_MAX (more than any body limit: 413, not 400).
// Such a value cannot be compared with another: repeated, or with another
// value, it is malformed (two different numbers past 2^64 read equal).
inline bool MergeContentLength(std::string_view value,
                               std::optional<uint64_t>* length) {
  static constexpr uint64_t kTooLarge = std::numeric_limits<uint64_t>::max();
  return ForEachListElement(value, [length](std::string_view element) {
    size_t zeros = 0;
    while (zeros + 1 < element.size() && element[zeros] == '0') ++zeros;
    element.remove_prefix(zeros);
    std::optional<uint64_t> n = ParseDecimal(element);
    if (!n.has_value() && !element.empty() &&
        std::all_of(element.begin(), element.end(), [](char c) { return IsDigit(c); })) {
      n = kTooLarge;  // too many digits for 64 bits
    }
    if (!n.has_value() || (length->has_value() && (**length != *n || *n == kTooLarge))) {
      return false;
    }
    *length = n;
    return true;
  });
}

}  // namespace brisk::http

#endif  // BRISK_HTTP_ASCII_H_
