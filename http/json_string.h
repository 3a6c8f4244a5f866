// JSON string literals: AppendJsonString escapes any bytes into a valid
// JSON string, for the JSON bodies servers and tools write (Response::Json).
//
//   std::string body = "{\"route\":";
//   brisk::http::AppendJsonString(route_name, &body);   // "\"/a\\\"b\""
//   body += "}";
//
// Always valid JSON, whatever the bytes: quotes, backslashes and control
// characters are escaped, well-formed UTF-8 (RFC 3629) is kept as it is, and
// a byte that is not part of a well-formed UTF-8 sequence is written as
// \u00XX (its Latin-1 reading), so a broken name can never break the
// document.
//
// Thread-safety: a stateless free function, safe from any thread.
#ifndef BRISK_HTTP_JSON_STRING_H_
#define BRISK_HTTP_JSON_STRING_H_

#include <string>
#include <string_view>

namespace brisk::http {

// Appends `s` as a JSON string literal, quotes included.
void AppendJsonString(std::string_view s, std::string* out);

}  // namespace brisk::http

#endif  // BRISK_HTTP_JSON_STRING_H_
