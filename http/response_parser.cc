#include "http/response_parser.h"

#include <algorithm>
#include <utility>

#include "http/ascii.h"

namespace brisk::http {

void ResponseParser::BeginResponse(bool head_request) {
  *this = ResponseParser(options_);
  head_request_ = head_request;
}

bool ResponseParser::Fail(std::string message) {
  state_ = kError;
  error_ = std::move(message);
  return false;
}

bool ResponseParser::ParseStatusLine(std::string_view line) {
  // HTTP/1.x SP 3DIGIT [SP reason]; a minor above 1 is read as 1.1.
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || line[6] != '.' ||
      !IsDigit(line[5]) || !IsDigit(line[7]) || line[8] != ' ') {
    return Fail("malformed status line");
  }
  if (line[5] != '1') return Fail("unsupported HTTP version");
  http10_ = line[7] == '0';
  const std::optional<uint64_t> code = ParseDecimal(line.substr(9, 3));
  if (!code.has_value() || *code < 100) return Fail("malformed status code");
  if (line.size() > 12 && line[12] != ' ') return Fail("malformed status line");
  status_code_ = static_cast<int>(*code);
  if (options_.keep_message) head_.assign(line);
  phase_ = kHeaders;
  return true;
}

bool ResponseParser::ParseHeader(std::string_view line) {
  if (++header_count_ > options_.max_headers) return Fail("too many headers");
  if (IsOws(line.front())) return Fail("obsolete header line folding");
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return Fail("malformed header");
  const std::string_view name = line.substr(0, colon);
  if (!IsToken(name)) return Fail("malformed header name");
  const std::string_view value = TrimOws(line.substr(colon + 1));
  if (options_.keep_message) {
    head_.append("\r\n").append(line);
    headers_.emplace_back(name, value);
  }
  if (EqualsIgnoreCase(name, "content-length")) {
    if (!MergeContentLength(value, &content_length_)) {
      return Fail("malformed or conflicting Content-Length");
    }
  } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
    // Chunked only when it is the final coding (RFC 9112 §6.3).
    chunked_ = false;
    ForEachListElement(value, [this](std::string_view coding) {
      if (!coding.empty()) chunked_ = EqualsIgnoreCase(coding, "chunked");
      return true;
    });
  } else if (EqualsIgnoreCase(name, "connection")) {
    ForEachListElement(value, [this](std::string_view option) {
      if (EqualsIgnoreCase(option, "close")) connection_close_ = true;
      if (EqualsIgnoreCase(option, "keep-alive")) connection_keep_alive_ = true;
      return true;
    });
  }
  return true;
}

bool ResponseParser::EndOfHeaders() {
  const bool interim = status_code_ < 200 && status_code_ != 101;
  if (interim && options_.skip_interim) {
    // 100 Continue, 103 Early Hints: the real response follows. The header
    // count goes on, so a flood of interim headers still hits the limit.
    const int saved_count = header_count_;
    BeginResponse(head_request_);
    header_count_ = saved_count;
    return true;
  }
  keep_alive_ = http10_ ? connection_keep_alive_ : !connection_close_;
  if (status_code_ == 101) keep_alive_ = false;  // not HTTP any more
  const bool no_body = head_request_ || status_code_ < 200 ||
                       status_code_ == 204 || status_code_ == 304;
  if (no_body) {
    phase_ = kDone;
  } else if (chunked_) {
    phase_ = kChunkSize;
  } else if (content_length_.has_value()) {
    body_remaining_ = *content_length_;
    phase_ = body_remaining_ == 0 ? kDone : kBody;
  } else {
    keep_alive_ = false;
    phase_ = kUntilClose;
  }
  return true;
}

bool ResponseParser::ParseChunkSize(std::string_view line) {
  // chunk-size [ chunk-ext ]; extensions are ignored.
  const std::optional<uint64_t> size =
      ParseHex(line.substr(0, line.find_first_of(" \t;")));
  if (!size.has_value()) return Fail("malformed chunk size");
  if (*size == 0) {
    phase_ = kTrailers;
  } else {
    body_remaining_ = *size;
    phase_ = kChunkData;
  }
  return true;
}

bool ResponseParser::TakeBody(std::string_view bytes) {
  body_bytes_ += bytes.size();
  if (!options_.keep_message) return true;
  if (body_bytes_ > options_.max_kept_body_bytes) return Fail("body too large");
  body_.append(bytes);
  return true;
}

ResponseParser::Result ResponseParser::Feed(std::string_view data) {
  size_t pos = 0;
  while (state_ == kNeedMore && phase_ != kDone) {
    if (phase_ == kBody || phase_ == kChunkData || phase_ == kUntilClose) {
      const uint64_t available = data.size() - pos;
      const size_t take = static_cast<size_t>(
          phase_ == kUntilClose
              ? available
              : std::min<uint64_t>(available, body_remaining_));
      if (!TakeBody(data.substr(pos, take))) break;
      pos += take;
      if (phase_ == kUntilClose || take == 0) break;
      body_remaining_ -= take;
      if (body_remaining_ == 0) {
        phase_ = phase_ == kBody ? kDone : kChunkDataCrlf;
      }
      continue;
    }
    // Line-oriented phases.
    const size_t lf = data.find('\n', pos);
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
  Result result;
  result.state = state_;
  result.consumed = pos;
  return result;
}

bool ResponseParser::FinishOnEof() {
  if (state_ == kNeedMore && phase_ == kUntilClose) {
    phase_ = kDone;
    state_ = kComplete;
    return true;
  }
  return state_ == kComplete;
}

}  // namespace brisk::http
