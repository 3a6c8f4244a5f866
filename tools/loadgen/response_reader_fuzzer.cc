// libFuzzer target for ResponseReader: feeds the input as a stream of
// responses on one keep-alive connection, split into pieces the way a socket
// delivers them (the first byte picks the piece size and HEAD), and checks the
// reader's contract: it never consumes more than it is given, and a complete
// response always consumed something.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tools/loadgen/response_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + (data[0] & 0x3f);
  const bool head = (data[0] & 0x40) != 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  brisk::loadgen::ResponseReader reader({.max_line_bytes = 1024, .max_headers = 32});
  reader.BeginResponse(head);
  std::string pending;
  size_t pos = 0;
  while (pos < input.size()) {
    std::string_view next = input.substr(pos, piece);
    pos += next.size();
    pending.append(next);
    while (true) {
      brisk::loadgen::ResponseReader::Result r = reader.Feed(pending);
      if (r.consumed > pending.size()) std::abort();
      pending.erase(0, r.consumed);
      if (r.state == brisk::loadgen::ResponseReader::kError) return 0;
      if (r.state != brisk::loadgen::ResponseReader::kComplete) break;
      if (r.consumed == 0) std::abort();  // a response has at least a line
      if (reader.status_code() < 100 || reader.status_code() > 999) std::abort();
      reader.BeginResponse(head);
    }
  }
  reader.FinishOnEof();
  return 0;
}
