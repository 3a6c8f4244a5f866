// Internal ASCII helpers for http/ (case-insensitive comparison). Note that
// Debian's abseil is built with its own absl::string_view, not
// std::string_view, so absl/strings helpers do not take our views.
// Pure functions; thread-safe.
#ifndef BRISK_HTTP_ASCII_H_
#define BRISK_HTTP_ASCII_H_

#include <cstddef>
#include <string_view>

namespace brisk::http {

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

}  // namespace brisk::http

#endif  // BRISK_HTTP_ASCII_H_
