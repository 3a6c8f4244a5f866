// libFuzzer target for RequestParser. The first input byte picks the limits
// and a split point; the rest is fed (1) whole, (2) split in two at that
// point and (3) one byte at a time, each piece in an exactly sized heap
// buffer. All three must agree on every request and on the final outcome,
// and the parser's own contract (consumed counts, limits, a valid Host) must
// hold.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/request.h"
#include "http/request_parser.h"
#include "http/url.h"

namespace {

using brisk::http::HeaderField;
using brisk::http::ParseResult;
using brisk::http::ParserLimits;
using brisk::http::Request;
using brisk::http::RequestParser;

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

// A flat description of everything the parser produced.
// A body limit per request from its head, as a server's routes give one
// (RequestParser::set_body_limit): from the path, below and above the
// small max_body_bytes.
uint64_t BodyLimitOf(const Request& head) { return (head.path().size() * 37) % 300; }

std::string Describe(const Request& r, const ParserLimits& limits, bool per_request) {
  Require(r.body().size() <= (per_request ? BodyLimitOf(r) : limits.max_body_bytes));
  Require(r.header_count() <= limits.max_header_count);
  Require(r.version_minor() == 0 || r.version_minor() == 1);
  Require(!r.method().empty() && !r.target().empty());
  // The parser's inline Host fast path accepts nothing the full authority
  // grammar rejects.
  const std::optional<std::string_view> host = r.Header("host");
  Require(!host.has_value() || host->empty() ||
          brisk::http::ParseHostPort(*host).has_value());
  // A path as routes and handlers see it: no control character, no "." or
  // ".." segment.
  const std::string_view path = r.path();
  for (const char c : path) {
    Require(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
  }
  if (!path.empty() && path[0] == '/') {
    for (size_t i = 0; i < path.size();) {
      const size_t end = std::min(path.find('/', i + 1), path.size());
      const std::string_view seg = path.substr(i + 1, end - i - 1);
      Require(seg != "." && seg != "..");
      i = end;
    }
  }
  // The authority is the target's or the Host field's.
  Require(r.authority().empty() || r.target().find(r.authority()) != std::string_view::npos ||
          (host.has_value() && *host == r.authority()));
  std::string d;
  for (std::string_view part : {r.method(), r.target(), r.path(), r.query(), r.authority()}) {
    d.append(part);
    d.push_back('\0');
  }
  for (const HeaderField& f : r.headers()) {
    Require(r.Header(f.name).has_value());
    d.append(f.name);
    d.push_back(':');
    d.append(f.value);
    d.push_back('\0');
  }
  d.append(r.body());
  d.push_back(r.keep_alive() ? 'K' : 'C');
  d.push_back(r.expects_continue() ? 'E' : '-');
  d.push_back(r.chunked() ? 'T' : '-');
  return d;
}

std::vector<std::string> Run(std::string_view input, const std::vector<size_t>& cuts,
                             const ParserLimits& limits, bool per_request) {
  std::vector<std::string> out;
  RequestParser parser(limits);
  if (per_request) parser.set_body_limit(BodyLimitOf);
  size_t begin = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(input.size());
  for (size_t end : ends) {
    if (end <= begin) continue;
    const size_t n = end - begin;
    auto buf = std::make_unique<char[]>(n);
    input.copy(buf.get(), n, begin);
    std::string_view piece(buf.get(), n);
    begin = end;
    while (!piece.empty()) {
      const ParseResult r = parser.Feed(piece);
      if (r.kind == ParseResult::kError) {
        Require(r.status >= 400 && r.status <= 505);
        // What the log shows for it: bytes of the input, one line at most.
        const std::string_view seen = parser.request_line_seen();
        Require(seen.size() <= RequestParser::kMaxLineSeen);
        Require(seen.find_first_of("\r\n") == std::string_view::npos);
        Require(input.find(seen) != std::string_view::npos);
        Require(seen.empty() || !parser.head_read());
        out.push_back("error " + std::to_string(r.status));
        return out;
      }
      if (r.kind == ParseResult::kNeedMore) {
        Require(r.consumed == piece.size());
        break;
      }
      Require(r.consumed <= piece.size());
      Require(parser.headers_complete());
      out.push_back(Describe(parser.TakeRequest(), limits, per_request));
      piece.remove_prefix(r.consumed);
    }
  }
  out.push_back(parser.idle() ? "idle" : "more");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t control = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1),
                               size - 1);
  ParserLimits limits;
  if (control & 1) {  // small limits, to reach every limit path
    limits.max_request_line_bytes = 64;
    limits.max_header_bytes = 128;
    limits.max_header_count = 4;
    limits.max_body_bytes = 64;
    limits.max_chunk_extension_bytes = 8;
  }
  // Half the inputs (by length) with a body limit per request.
  const bool per_request = input.size() % 2 == 1;
  const std::vector<std::string> whole = Run(input, {}, limits, per_request);
  const size_t cut = input.empty() ? 0 : (control >> 1) * input.size() / 128;
  Require(Run(input, {cut}, limits, per_request) == whole);
  if (input.size() <= 4096) {
    std::vector<size_t> every;
    for (size_t i = 1; i < input.size(); ++i) every.push_back(i);
    Require(Run(input, every, limits, per_request) == whole);
  }
  return 0;
}
