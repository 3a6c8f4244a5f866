// UTF-8 well-formedness (RFC 3629), for writers whose output must be valid
// UTF-8 whatever bytes they are given (JSON strings, Prometheus label
// values).
//
//   std::string_view s = ...;
//   size_t n = brisk::http::Utf8SequenceLength(s);  // 0: s[0] starts no
//                                                    // well-formed character
//
// Thread-safety: stateless free functions, safe from any thread.
#ifndef BRISK_HTTP_UTF8_H_
#define BRISK_HTTP_UTF8_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace brisk::http {

// Length (1..4) of the well-formed UTF-8 sequence at the start of `s`, or 0
// when `s` is empty or starts with a byte that begins none (a continuation
// byte, an overlong form, a surrogate, a code point above U+10FFFF, or a
// sequence cut short).
size_t Utf8SequenceLength(std::string_view s);

// Appends `s` with every byte that is not part of a well-formed UTF-8
// sequence replaced by that byte's Latin-1 reading (0xE9 becomes "é"), so
// the result is valid UTF-8 whatever `s` holds, and valid UTF-8 is kept as
// it is.
void AppendAsUtf8(std::string_view s, std::string* out);

}  // namespace brisk::http

#endif  // BRISK_HTTP_UTF8_H_
