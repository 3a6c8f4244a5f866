// libFuzzer target for ResponseParser: feeds the input as a stream of
// responses on one keep-alive connection, split into pieces the way a socket
// delivers them. The first byte picks the piece size (bits 0-5), HEAD
// (bit 6) and the test-client mode (bit 7: keep_message, interim responses
// returned). Checks the parser's contract: it never consumes more than it is
// given, a complete response always consumed something and has a status
// code of three digits, and a kept body is exactly the counted body bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/response_parser.h"

using brisk::http::ResponseParser;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + (data[0] & 0x3f);
  const bool head = (data[0] & 0x40) != 0;
  const bool client_mode = (data[0] & 0x80) != 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  ResponseParser parser({.max_line_bytes = 1024,
                         .max_headers = 32,
                         .keep_message = client_mode,
                         .max_kept_body_bytes = 4096,
                         .skip_interim = !client_mode});
  parser.BeginResponse(head);
  std::string pending;
  size_t pos = 0;
  while (pos < input.size()) {
    std::string_view next = input.substr(pos, piece);
    pos += next.size();
    pending.append(next);
    while (true) {
      ResponseParser::Result r = parser.Feed(pending);
      if (r.consumed > pending.size()) std::abort();
      pending.erase(0, r.consumed);
      if (r.state == ResponseParser::kError) {
        if (parser.error().empty()) std::abort();
        return 0;
      }
      if (r.state != ResponseParser::kComplete) break;
      if (r.consumed == 0) std::abort();  // a response has at least a line
      if (parser.status_code() < 100 || parser.status_code() > 999) {
        std::abort();
      }
      if (client_mode && (parser.body().size() != parser.body_bytes() ||
                          parser.head().substr(0, 5) != "HTTP/")) {
        std::abort();
      }
      if (!client_mode && !parser.body().empty()) std::abort();
      parser.BeginResponse(head);
    }
  }
  parser.FinishOnEof();
  return 0;
}
