#include "tools/loadgen/response_reader.h"

#include <algorithm>
#include <utility>

namespace brisk::loadgen {
namespace {

char ToLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLower(a[i]) != ToLower(b[i])) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls `fn(token)` for each trimmed, non-empty element of a comma list.
template <typename Fn>
void ForEachListElement(std::string_view list, Fn fn) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view element = TrimOws(list.substr(0, comma));
    if (!element.empty()) fn(element);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

bool IsTchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Decimal digits only, no sign, no overflow.
bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = ToLower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

void ResponseReader::BeginResponse(bool head_request) {
  *this = ResponseReader(options_);
  head_request_ = head_request;
}

bool ResponseReader::Fail(std::string message) {
  state_ = kError;
  error_ = std::move(message);
  return false;
}

bool ResponseReader::ParseStatusLine(std::string_view line) {
  // HTTP/1.x SP 3DIGIT [SP reason]
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') {
    return Fail("malformed status line");
  }
  if (line[7] != '0' && line[7] != '1') return Fail("unsupported HTTP version");
  http10_ = line[7] == '0';
  uint64_t code = 0;
  if (!ParseDecimal(line.substr(9, 3), &code) || code < 100) {
    return Fail("malformed status code");
  }
  if (line.size() > 12 && line[12] != ' ') return Fail("malformed status line");
  status_code_ = static_cast<int>(code);
  phase_ = kHeaders;
  return true;
}

bool ResponseReader::ParseHeader(std::string_view line) {
  if (++headers_ > options_.max_headers) return Fail("too many headers");
  if (line.front() == ' ' || line.front() == '\t') {
    return Fail("obsolete header line folding");
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return Fail("malformed header");
  std::string_view name = line.substr(0, colon);
  if (!std::all_of(name.begin(), name.end(), IsTchar)) {
    return Fail("malformed header name");
  }
  std::string_view value = TrimOws(line.substr(colon + 1));
  if (EqualsIgnoreCase(name, "content-length")) {
    uint64_t n = 0;
    if (!ParseDecimal(value, &n)) return Fail("malformed Content-Length");
    if (has_content_length_ && n != content_length_) {
      return Fail("conflicting Content-Length");
    }
    has_content_length_ = true;
    content_length_ = n;
  } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
    // Chunked only when it is the final coding.
    chunked_ = false;
    ForEachListElement(value, [&](std::string_view coding) {
      chunked_ = EqualsIgnoreCase(coding, "chunked");
    });
  } else if (EqualsIgnoreCase(name, "connection")) {
    ForEachListElement(value, [&](std::string_view option) {
      if (EqualsIgnoreCase(option, "close")) connection_close_ = true;
      if (EqualsIgnoreCase(option, "keep-alive")) connection_keep_alive_ = true;
    });
  }
  return true;
}

bool ResponseReader::EndOfHeaders() {
  if (status_code_ < 200 && status_code_ != 101) {
    // Interim response (100 Continue, 103 Early Hints): the real one follows.
    int saved_headers = headers_;
    BeginResponse(head_request_);
    headers_ = saved_headers;
    return true;
  }
  keep_alive_ = http10_ ? connection_keep_alive_ : !connection_close_;
  if (status_code_ == 101) keep_alive_ = false;  // not HTTP any more
  const bool no_body = head_request_ || status_code_ == 204 ||
                       status_code_ == 304 || status_code_ == 101;
  if (no_body) {
    phase_ = kDone;
  } else if (chunked_) {
    phase_ = kChunkSize;
  } else if (has_content_length_) {
    body_remaining_ = content_length_;
    phase_ = body_remaining_ == 0 ? kDone : kBody;
  } else {
    keep_alive_ = false;
    phase_ = kUntilClose;
  }
  return true;
}

bool ResponseReader::ParseChunkSize(std::string_view line) {
  // chunk-size [ chunk-ext ]; extensions are ignored.
  size_t end = line.find_first_of(" \t;");
  std::string_view digits = line.substr(0, end);
  if (digits.empty() || digits.size() > 15) return Fail("malformed chunk size");
  uint64_t size = 0;
  for (char c : digits) {
    int v = HexValue(c);
    if (v < 0) return Fail("malformed chunk size");
    size = size * 16 + static_cast<uint64_t>(v);
  }
  if (size == 0) {
    phase_ = kTrailers;
  } else {
    body_remaining_ = size;
    phase_ = kChunkData;
  }
  return true;
}

ResponseReader::Result ResponseReader::Feed(std::string_view data) {
  Result result;
  size_t pos = 0;
  while (state_ == kNeedMore && phase_ != kDone) {
    if (phase_ == kBody || phase_ == kChunkData || phase_ == kUntilClose) {
      uint64_t available = data.size() - pos;
      uint64_t take = phase_ == kUntilClose
                          ? available
                          : std::min<uint64_t>(available, body_remaining_);
      pos += take;
      body_bytes_ += take;
      if (phase_ == kUntilClose || take == 0) break;
      body_remaining_ -= take;
      if (body_remaining_ == 0) {
        phase_ = phase_ == kBody ? kDone : kChunkDataCrlf;
      }
      continue;
    }
    // Line-oriented phases.
    size_t lf = data.find('\n', pos);
    if (lf == std::string_view::npos) {
      if (data.size() - pos > options_.max_line_bytes) Fail("line too long");
      break;
    }
    std::string_view line = data.substr(pos, lf - pos);
    if (line.size() > options_.max_line_bytes) {
      Fail("line too long");
      break;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = lf + 1;
    switch (phase_) {
      case kStatusLine:
        ParseStatusLine(line);
        break;
      case kHeaders:
        if (line.empty()) {
          EndOfHeaders();
        } else {
          ParseHeader(line);
        }
        break;
      case kChunkSize:
        ParseChunkSize(line);
        break;
      case kChunkDataCrlf:
        if (!line.empty()) {
          Fail("missing CRLF after chunk data");
        } else {
          phase_ = kChunkSize;
        }
        break;
      case kTrailers:
        if (line.empty()) phase_ = kDone;  // trailer fields are skipped
        break;
      default:
        break;
    }
  }
  if (state_ == kNeedMore && phase_ == kDone) state_ = kComplete;
  // On error nothing meaningful is consumed; report what was scanned.
  result.state = state_;
  result.consumed = pos;
  return result;
}

bool ResponseReader::FinishOnEof() {
  if (state_ == kNeedMore && phase_ == kUntilClose) {
    phase_ = kDone;
    state_ = kComplete;
    return true;
  }
  return state_ == kComplete;
}

}  // namespace brisk::loadgen
