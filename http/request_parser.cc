#include "http/request_parser.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>
#include <optional>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/base/attributes.h"
#include "http/ascii.h"
#include "http/url.h"

namespace brisk::http {
namespace {

constexpr int kBadRequest = 400;
// Body buffers up to this size are reused by the next request.
constexpr size_t kKeptBodyCapacity = 64 * 1024;
constexpr int kPayloadTooLarge = 413;
constexpr int kUriTooLong = 414;
constexpr int kHeaderFieldsTooLarge = 431;
constexpr int kNotImplemented = 501;
constexpr int kVersionNotSupported = 505;
// Hex digits of a chunk size a uint64_t holds (the 17th significant one
// overflows; leading zeros beyond these are bounded by
// max_chunk_extension_bytes, as the line's extensions are).
constexpr size_t kChunkSizeDigits = 16;

// True when the 8 bytes at p are valid field-value bytes. A word with no
// byte < 0x20 and no 0x7F is valid as a whole; otherwise (HTAB, or a real
// control byte) its bytes are checked one by one.
inline bool ValidValueWord(const char* p) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  uint64_t x;
  std::memcpy(&x, p, 8);
  const uint64_t del = x ^ (0x7F * kOnes);
  const uint64_t special =
      ((x - 0x20 * kOnes) & ~x & kHigh) | ((del - kOnes) & ~del & kHigh);
  if (special == 0) return true;
  for (int i = 0; i < 8; ++i) {
    if (!HasCharClass(p[i], kFieldValueChar)) return false;
  }
  return true;
}

// True when every byte of [p, end) is a valid field-value byte. Eight bytes
// at a time; a value of 8 bytes or more ends with one word that overlaps the
// previous one instead of a byte loop.
inline bool ValidValue(const char* p, const char* end) {
  if (end - p < 8) {
    for (; p < end; ++p) {
      if (!HasCharClass(*p, kFieldValueChar)) return false;
    }
    return true;
  }
  for (; end - p > 8; p += 8) {
    if (!ValidValueWord(p)) return false;
  }
  return ValidValueWord(end - 8);
}

static_assert(std::endian::native == std::endian::little,
              "FindLf assumes a little-endian machine");

// First '\n' in [p, end), or nullptr. Lines are short, so an inline loop
// (SSE2 where available, then word-at-a-time) beats a call to memchr.
inline const char* FindLf(const char* p, const char* end) {
#if defined(__SSE2__)
  // SSE2 is part of the x86-64 baseline: 16 bytes per step.
  const __m128i lf = _mm_set1_epi8('\n');
  while (end - p >= 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const int mask = _mm_movemask_epi8(_mm_cmpeq_epi8(x, lf));
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  while (end - p >= 8) {
    uint64_t x;
    std::memcpy(&x, p, 8);
    x ^= '\n' * kOnes;
    const uint64_t zero = (x - kOnes) & ~x & kHigh;
    if (zero != 0) {
      // The lowest flagged byte is exact (little-endian: the first in memory).
      return p + (__builtin_ctzll(zero) >> 3);
    }
    p += 8;
  }
  for (; p < end; ++p) {
    if (*p == '\n') return p;
  }
  return nullptr;
}

// Checks every '%' in [p, end) is followed by two hex digits and does not
// encode a control character (NUL, CR, LF, ... or DEL), which a raw target
// may not hold either and which a handler would not expect in a decoded
// path. Sets *has_escape.
bool ValidEscapes(const char* p, const char* end, bool* has_escape) {
  *has_escape = false;
  while ((p = static_cast<const char*>(std::memchr(p, '%', end - p)))) {
    if (end - p < 3 || !IsHexDigit(p[1]) || !IsHexDigit(p[2])) return false;
    if (p[1] == '0' || p[1] == '1') return false;  // %00-%1F
    if (p[1] == '7' && (p[2] == 'F' || p[2] == 'f')) return false;
    *has_escape = true;
    p += 3;
  }
  return true;
}

// Whether the absolute `path` (its first byte '/') has a "." or ".."
// segment (RFC 3986 §3.3). Most paths have no '.' at all: one memchr.
bool HasDotSegment(const char* p, const char* end) {
  for (const char* dot = p; (dot = static_cast<const char*>(std::memchr(dot, '.', end - dot)));
       ++dot) {
    if (dot[-1] != '/') continue;  // dot > p: *p is '/'
    const char* after = dot + 1;
    if (after < end && *after == '.') ++after;
    if (after == end || *after == '/') return true;
  }
  return false;
}

// RFC 3986 §5.2.4 remove_dot_segments of the absolute `path` ("/a/./b/../c"
// is "/a/c", "/a/b/.." is "/a/"), written to `out` (room for path.size()
// bytes: the result is never longer). Returns its length, or -1 when a
// ".." would climb above the root ("/../etc"): no client has a reason to
// send one, and a handler must never see such a segment.
ptrdiff_t WriteWithoutDotSegments(std::string_view path, char* out) {
  size_t o = 0;
  bool ends_in_slash = false;
  size_t i = 1;
  while (true) {
    const size_t slash = path.find('/', i);
    const bool last = slash == std::string_view::npos;
    const std::string_view seg = path.substr(i, last ? std::string_view::npos : slash - i);
    if (seg == "." || seg == "..") {
      if (seg == "..") {
        if (o == 0) return -1;
        while (out[--o] != '/') {
        }
      }
      ends_in_slash = last;
    } else {
      out[o++] = '/';
      std::memcpy(out + o, seg.data(), seg.size());
      o += seg.size();
    }
    if (last) break;
    i = slash + 1;
  }
  if (ends_in_slash || o == 0) out[o++] = '/';
  return static_cast<ptrdiff_t>(o);
}

// Whether the raw path escapes a '.' or a '/' ("%2E", "%2f").
bool EscapesADotOrASlash(std::string_view raw) {
  for (size_t i = raw.find('%'); i != std::string_view::npos; i = raw.find('%', i + 1)) {
    if (i + 2 < raw.size() && raw[i + 1] == '2' &&
        (raw[i + 2] == 'E' || raw[i + 2] == 'e' || raw[i + 2] == 'F' || raw[i + 2] == 'f')) {
      return true;
    }
  }
  return false;
}

// The most a request line, a header section or a chunk's extensions may be
// allowed (ParserLimits): a head is indexed by 32-bit offsets (Request), and
// the parser adds small amounts to these limits, which must not wrap around
// (SIZE_MAX, an embedder's "no limit", made every limit a few bytes).
constexpr size_t kMaxHeadLimit = size_t{1} << 30;  // 1 GiB

ParserLimits Bounded(ParserLimits limits) {
  for (size_t* limit : {&limits.max_request_line_bytes, &limits.max_header_bytes,
                        &limits.max_chunk_extension_bytes}) {
    *limit = std::min(*limit, kMaxHeadLimit);
  }
  return limits;
}

}  // namespace

RequestParser::RequestParser(ParserLimits limits) : limits_(Bounded(limits)) { Reset(); }

void RequestParser::Reset() {
  state_ = State::kStart;
  error_status_ = 0;
  pending_cr_ = false;
  request_line_done_ = false;
  head_request_ = false;
  head_read_ = false;
  line_seen_.clear();
  buffer_.clear();
  line_start_ = 0;
  header_bytes_ = 0;
  header_count_ = 0;
  remaining_ = 0;
  body_total_ = 0;
  chunk_size_ = 0;
  chunk_ext_bytes_ = 0;
  chunk_ext_state_ = 0;
  chunk_digits_ = 0;
  host_count_ = 0;
  target_has_authority_ = false;
  has_transfer_encoding_ = false;
  te_chunked_count_ = 0;
  te_last_chunked_ = false;
  te_unknown_ = false;
  connection_close_ = false;
  connection_keep_alive_ = false;
  expect_continue_ = false;
  path_needs_decode_ = false;
  path_default_root_ = false;
  path_may_have_dot_ = false;
  connect_ = false;
  raw_path_ = Request::Span();
  // A large body's buffer is not kept for the next request: a parser
  // waiting in a pool would hold it (an abandoned upload's megabytes).
  if (request_.body_.capacity() > kKeptBodyCapacity) std::string().swap(request_.body_);
  request_.Clear();  // the buffers kept: cheaper per request than `= Request()`
}

Request RequestParser::TakeRequest() {
  Request r = std::move(request_);
  Reset();
  return r;
}

std::string_view RequestParser::request_line_seen() const {
  if (head_read_) return {};
  if (!line_seen_.empty() || state_ != State::kHead) return line_seen_;
  return FirstLine(buffer_);
}

std::string_view RequestParser::FirstLine(std::string_view bytes) {
  bytes = bytes.substr(0, kMaxLineSeen);
  return bytes.substr(0, bytes.find_first_of("\r\n"));
}

void RequestParser::KeepLineSeen(std::string_view bytes) {
  if (!head_read_) line_seen_ = FirstLine(bytes);
}

ParseResult RequestParser::StartError(std::string_view rest, size_t consumed) {
  line_seen_ = FirstLine(rest);
  return Error(kBadRequest, consumed);
}

ParseResult RequestParser::Error(int status, size_t consumed) {
  state_ = State::kError;
  error_status_ = status;
  ParseResult r;
  r.kind = ParseResult::kError;
  r.consumed = consumed;
  r.status = status;
  return r;
}

ParseResult RequestParser::Feed(std::string_view chunk) {
  ParseResult result;
  size_t pos = 0;
  while (true) {
    switch (state_) {
      case State::kError:
        return Error(error_status_, pos);
      case State::kComplete:
        result.kind = ParseResult::kComplete;
        result.consumed = pos;
        return result;
      case State::kStart: {
        // Ignore empty lines (CRLF) before the request line.
        while (pos < chunk.size()) {
          const char c = chunk[pos];
          if (pending_cr_) {
            if (c != '\n') return StartError(chunk.substr(pos), pos);
            pending_cr_ = false;
          } else if (c == '\r') {
            pending_cr_ = true;
          } else if (c == '\n') {
            return Error(kBadRequest, pos);
          } else if (!IsTokenChar(c)) {
            // A request line starts with a method (a token): whatever else
            // this is (a TLS ClientHello, binary noise) is refused at once
            // rather than buffered until a line end or the header timeout.
            return StartError(chunk.substr(pos), pos);
          } else {
            break;
          }
          ++pos;
        }
        if (pos == chunk.size()) {
          result.consumed = pos;
          return result;
        }
        state_ = State::kHead;
        break;
      }
      case State::kHead:
      case State::kTrailer: {
        size_t used = 0;
        const int status = FeedLines(chunk.substr(pos), &used);
        if (status != 0) return Error(status, pos + used);
        pos += used;
        if (state_ == State::kHead || state_ == State::kTrailer) {
          result.consumed = pos;  // == chunk.size()
          return result;
        }
        break;
      }
      default: {
        if (pos == chunk.size()) {
          result.consumed = pos;
          return result;
        }
        size_t used = 0;
        const int status = FeedBody(chunk.substr(pos), &used);
        if (status != 0) return Error(status, pos + used);
        pos += used;
        break;
      }
    }
  }
}

int RequestParser::FeedLines(std::string_view chunk, size_t* used) {
  if (state_ == State::kHead && buffer_.empty()) {
    // Fast path: parse the head in place; copy it once if complete.
    line_start_ = 0;
    const int status = ParseLines(chunk.data(), chunk.size());
    if (status != 0) {
      // A head read whole, then refused (413, 501, ...): its bytes back
      // request() for the error's log line; else its line is kept for it.
      if (head_read_) {
        request_.head_.assign(chunk.data(), chunk.size());
        FinishPath();
      }
      KeepLineSeen(chunk);
      return status;
    }
    if (state_ == State::kHead) {
      buffer_.assign(chunk.data(), chunk.size());
      *used = chunk.size();
      return 0;
    }
    *used = line_start_;
    request_.head_.assign(chunk.data(), line_start_);
    return CompleteHead();
  }
  // Buffered path. Never buffer more than a valid section can hold: past
  // that a limit has been exceeded and ParseLines reports it.
  const size_t old_size = buffer_.size();
  const size_t cap = (state_ == State::kHead
                          ? limits_.max_request_line_bytes + 2
                          : 0) +
                     limits_.max_header_bytes + 2;
  const size_t take =
      old_size >= cap ? 0 : std::min(chunk.size(), cap - old_size);
  buffer_.append(chunk.data(), take);
  const bool in_head = state_ == State::kHead;
  const int status = ParseLines(buffer_.data(), buffer_.size());
  if (status != 0) {
    if (in_head && head_read_) {  // as above
      request_.head_ = buffer_;
      FinishPath();
    }
    if (in_head) KeepLineSeen(buffer_);
    return status;
  }
  if (state_ == State::kHead || state_ == State::kTrailer) {
    *used = chunk.size();
    return 0;
  }
  *used = line_start_ - old_size;
  if (in_head) {
    buffer_.resize(line_start_);
    request_.head_ = std::move(buffer_);
    buffer_.clear();
    return CompleteHead();
  }
  buffer_.clear();  // trailer section: parsed and dropped
  return 0;
}

int RequestParser::ParseLines(const char* base, size_t size) {
  size_t pos = line_start_;
  while (state_ == State::kHead || state_ == State::kTrailer) {
    const char* nl = FindLf(base + pos, base + size);
    const size_t k = nl == nullptr ? size - pos : nl - (base + pos);
    // Before the line is parsed, so that any split of the input reports the
    // same error: the limits (a partial line of k bytes grows into a line of
    // at least k + 1 bytes, with its LF, which is what the complete-line
    // check counts) and a bare CR (UnfinishedOrLongLine).
    const bool request_line = !request_line_done_ && state_ == State::kHead;
    const bool over = request_line
                          ? k > limits_.max_request_line_bytes + 1
                          : header_bytes_ + k + 1 > limits_.max_header_bytes;
    if (nl == nullptr || over) [[unlikely]] {
      if (const int status = UnfinishedOrLongLine(base + pos, k, request_line, over);
          status != 0) {
        return status;
      }
      line_start_ = pos;  // unfinished, so far fine
      return 0;
    }
    if (k == 0 || base[pos + k - 1] != '\r') return kBadRequest;  // bare LF
    const size_t end = pos + k - 1;  // the CR
    int status;
    if (request_line) {
      status = ParseRequestLine(base, pos, end);
      request_line_done_ = true;
    } else {
      header_bytes_ += k + 1;
      status = ParseFieldLine(base, pos, end);
    }
    if (status != 0) return status;
    pos += k + 1;
  }
  line_start_ = pos;
  return 0;
}

int RequestParser::UnfinishedOrLongLine(const char* line, size_t k,
                                        bool request_line, bool over) {
  // The method is known before its line ends: the answer to a HEAD request
  // whose line is refused (414) or never ends (408) has no content either.
  // (A complete line sets it in ParseRequestLine.)
  if (request_line && k >= 5 && std::string_view(line, 5) == "HEAD ") {
    head_request_ = true;
  }
  // A CR followed by anything but LF is invalid wherever it is (RFC 9112
  // §2.2): refused as soon as the byte after it arrives, not once a line
  // end comes (a head whose lines end in bare CRs would wait for the header
  // timeout). The first error in the byte stream wins, whatever the reads:
  // a bare CR whose next byte is within the limit, else the limit. (A
  // complete line within the limit needs no scan: its parse refuses a bare
  // CR with the same 400.) `allowed`: the most bytes the line may have
  // before its LF.
  size_t allowed = limits_.max_request_line_bytes + 1;
  if (!request_line) {
    allowed = limits_.max_header_bytes > header_bytes_ + 1
                  ? limits_.max_header_bytes - header_bytes_ - 1
                  : 0;
  }
  const size_t scan = over ? (allowed > 0 ? allowed - 1 : 0) : (k > 0 ? k - 1 : 0);
  if (scan > 0 && std::memchr(line, '\r', scan) != nullptr) return kBadRequest;
  if (!over) return 0;
  if (!request_line) return kHeaderFieldsTooLarge;
  // The method alone over the limit: a method longer than any implemented,
  // which RFC 9112 section 3 answers 501, not 414.
  const size_t method = SkipCharClass(line, line + k, kTokenChar) - line;
  return method > limits_.max_request_line_bytes ? kNotImplemented : kUriTooLong;
}

int RequestParser::ParseRequestLine(const char* base, size_t begin,
                                    size_t end) {
  const char* p = base + begin;
  const char* const e = base + end;
  // method SP
  const char* m_end = SkipCharClass(p, e, kTokenChar);
  if (m_end == p || m_end == e || *m_end != ' ') return kBadRequest;
  request_.method_ = {static_cast<uint32_t>(begin),
                      static_cast<uint32_t>(m_end - p)};
  head_request_ = std::string_view(p, m_end - p) == "HEAD";
  // request-target SP
  // One pass over the target notes the first '?' and any '%', '#' or '.'.
  const char* t = m_end + 1;
  const char* t_end = t;
  const char* question = nullptr;
  bool has_percent = false;
  bool has_hash = false;
  bool has_dot = false;
  for (; t_end < e; ++t_end) {
    const uint8_t cls = kCharClassTable[static_cast<unsigned char>(*t_end)];
    if ((cls & kVisibleChar) == 0) break;
    if (cls & kTargetDelimiterChar) {
      if (*t_end == '%') has_percent = true;
      else if (*t_end == '#') has_hash = true;
      else if (*t_end == '.')
        has_dot = true;
      else if (question == nullptr) question = t_end;
    }
  }
  if (t_end == t || t_end == e || *t_end != ' ') return kBadRequest;
  const uint32_t t_off = static_cast<uint32_t>(t - base);
  request_.target_ = {t_off, static_cast<uint32_t>(t_end - t)};
  // HTTP-version, exactly "HTTP/" DIGIT "." DIGIT. A later HTTP/1.x minor
  // is served as HTTP/1.1 (RFC 9110 §2.5); another major version is 505.
  const char* v = t_end + 1;
  if (e - v != 8 || std::memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' ||
      !IsDigit(v[5]) || !IsDigit(v[7])) {
    return kBadRequest;
  }
  if (v[5] != '1') return kVersionNotSupported;
  request_.version_minor_ = v[7] == '0' ? 0 : 1;

  const std::string_view method(p, m_end - p);
  const std::string_view target(t, t_end - t);
  const bool is_connect = method == "CONNECT";
  Request::Span path;
  if (target[0] == '/') {
    if (is_connect) return kBadRequest;
    path = {t_off, static_cast<uint32_t>(target.size())};
  } else if (target == "*") {
    if (method != "OPTIONS") return kBadRequest;
    request_.path_ = request_.target_;
    return 0;
  } else if (is_connect) {
    // authority-form = uri-host ":" port, with a non-empty port.
    const std::optional<HostPort> hp = ParseHostPort(target);
    if (!hp.has_value() || !hp->port.has_value() || hp->port->empty()) {
      return kBadRequest;
    }
    request_.path_ = {t_off, 0};
    request_.authority_ = request_.target_;
    target_has_authority_ = true;
    connect_ = true;
    return 0;
  } else {
    // absolute-form: scheme "://" authority [path-abempty] ["?" query]
    size_t i = 0;
    while (i < target.size() &&
           ((target[i] >= 'a' && target[i] <= 'z') ||
            (target[i] >= 'A' && target[i] <= 'Z') ||
            (i > 0 && ((target[i] >= '0' && target[i] <= '9') ||
                       target[i] == '+' || target[i] == '-' ||
                       target[i] == '.')))) {
      ++i;
    }
    if (i == 0 || target.substr(i, 3) != "://") return kBadRequest;
    // An http or https URI: another scheme names no resource of this
    // server (RFC 9110 §7.4; https on a plain connection is the router's
    // 421).
    const std::string_view scheme = target.substr(0, i);
    if (!EqualsIgnoreCase(scheme, "http") && !EqualsIgnoreCase(scheme, "https")) {
      return kBadRequest;
    }
    // The authority follows the Host field's rules (RFC 9112 §3.2.2: it
    // replaces Host): no userinfo, a non-empty valid host, a digit port.
    const size_t auth = i + 3;
    const size_t slash = target.find_first_of("/?", auth);
    const size_t path_begin =
        slash == std::string_view::npos ? target.size() : slash;
    if (!ParseHostPort(target.substr(auth, path_begin - auth)).has_value()) {
      return kBadRequest;
    }
    request_.authority_ = {static_cast<uint32_t>(t_off + auth),
                           static_cast<uint32_t>(path_begin - auth)};
    target_has_authority_ = true;
    path = {static_cast<uint32_t>(t_off + path_begin),
            static_cast<uint32_t>(target.size() - path_begin)};
  }
  if (has_hash) return kBadRequest;  // no fragment in a request-target
  // Split path and query. The first '?' of the target is never before the
  // path (the authority of the absolute-form ends at '?').
  const char* path_p = base + path.offset;
  if (question != nullptr) {
    const uint32_t plen = static_cast<uint32_t>(question - path_p);
    request_.query_ = {path.offset + plen + 1, path.length - plen - 1};
    path.length = plen;
  } else {
    request_.query_ = {path.offset + path.length, 0};
  }
  if (has_percent &&
      !ValidEscapes(path_p, path_p + path.length, &path_needs_decode_)) {
    return kBadRequest;
  }
  raw_path_ = path;
  request_.path_ = path;  // replaced by the decoded copy if needed
  path_default_root_ = path.length == 0;
  // A dot segment is possible (a '.' in the target, or an escape of one).
  path_may_have_dot_ = has_dot || path_needs_decode_;
  return 0;
}

// Inlined into ParseFieldLine, its only caller: a call per field line is a
// measurable part of a small request's cost.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline int RequestParser::RecordField(
    std::string_view name, std::string_view value) {
  // Host is handled by ParseFieldLine.
  switch (name.size()) {
    case 6:
      // Expect = #expectation (RFC 9110 §10.1.1): 100-continue may be one
      // member of a list; other expectations are ignored.
      if (EqualsIgnoreCase(name, "expect")) {
        ForEachListElement(value, [this](std::string_view e) {
          if (EqualsIgnoreCase(e, "100-continue")) expect_continue_ = true;
          return true;
        });
      }
      return 0;
    case 10:
      if (EqualsIgnoreCase(name, "connection")) {
        ForEachListElement(value, [this](std::string_view token) {
          if (EqualsIgnoreCase(token, "close")) connection_close_ = true;
          if (EqualsIgnoreCase(token, "keep-alive")) {
            connection_keep_alive_ = true;
          }
          return true;
        });
      }
      return 0;
    case 14: {
      if (!EqualsIgnoreCase(name, "content-length")) return 0;
      // Repeats (as a list or on several lines) only if all equal.
      std::optional<uint64_t> length;
      if (request_.has_content_length_) length = request_.content_length_;
      if (!MergeContentLength(value, &length)) return kBadRequest;
      request_.has_content_length_ = true;
      request_.content_length_ = *length;
      return 0;
    }
    case 17: {
      if (!EqualsIgnoreCase(name, "transfer-encoding")) return 0;
      has_transfer_encoding_ = true;
      const bool ok = ForEachListElement(value, [this](std::string_view e) {
        // Empty list elements are ignored (RFC 9110 §5.6.1.2: a recipient
        // MUST accept "[ element ] *( OWS "," OWS [ element ] )").
        if (e.empty()) return true;
        if (EqualsIgnoreCase(e, "chunked")) {
          ++te_chunked_count_;
          te_last_chunked_ = true;
          return true;
        }
        // Another coding, possibly with parameters: syntax-check its name.
        te_last_chunked_ = false;
        te_unknown_ = true;
        return IsToken(TrimOws(e.substr(0, e.find(';'))));
      });
      return ok ? 0 : kBadRequest;
    }
    default:
      return 0;
  }
}

int RequestParser::ParseFieldLine(const char* base, size_t begin,
                                  size_t end) {
  if (begin == end) {  // the empty line ending the section
    if (state_ == State::kTrailer) {
      state_ = State::kComplete;
      return 0;
    }
    return FinishHead();
  }
  if (++header_count_ > limits_.max_header_count) {
    // A bare CR in this line came before its end, where the count tells:
    // 400, as when the line arrives in pieces (ParseLines).
    if (std::memchr(base + begin, '\r', end - begin) != nullptr) return kBadRequest;
    return kHeaderFieldsTooLarge;
  }
  const char* p = base + begin;
  const char* const e = base + end;
  // field-name ":" (no obs-fold: a line may not start with whitespace;
  // no whitespace before the colon)
  const char* n_end = SkipCharClass(p, e, kTokenChar);
  if (n_end == p || n_end == e || *n_end != ':') return kBadRequest;
  const char* v = n_end + 1;
  const char* v_end = e;
  while (v < v_end && IsOws(*v)) ++v;
  while (v_end > v && IsOws(v_end[-1])) --v_end;
  const std::string_view name(p, n_end - p);
  const std::string_view value(v, v_end - v);
  if (state_ != State::kTrailer && name.size() == 4 &&
      EqualsIgnoreCase(name, "host")) {
    // Host = uri-host [ ":" port ], or empty (RFC 9112 §3.2: a target
    // without an authority). The rule admits only visible ASCII, so it
    // replaces the field-value check.
    ++host_count_;
    if (!IsValidHostField(value)) return kBadRequest;
    if (!target_has_authority_ && host_count_ == 1) {
      request_.authority_ = {static_cast<uint32_t>(v - base), static_cast<uint32_t>(value.size())};
    }
  } else if (!ValidValue(v, v_end)) {
    return kBadRequest;
  }
  if (state_ == State::kTrailer) return 0;  // trailers are dropped

  request_.fields_.push_back(
      {{static_cast<uint32_t>(begin), static_cast<uint32_t>(name.size())},
       {static_cast<uint32_t>(v - base), static_cast<uint32_t>(value.size())}});
  return RecordField(name, value);
}

int RequestParser::FinishHead() {
  head_read_ = true;
  Request& r = request_;
  if (r.version_minor_ == 1 ? host_count_ != 1 : host_count_ > 1) {
    return kBadRequest;
  }
  r.keep_alive_ = r.version_minor_ == 1
                      ? !connection_close_
                      : connection_keep_alive_ && !connection_close_;
  if (connect_) {
    // CONNECT has no content (RFC 9110 §9.3.6): what follows its head is
    // the tunnel's, so a framing field on it frames nothing anyone agrees
    // on (HAProxy keeps "Transfer-Encoding: chunked" and forwards no
    // chunks; a server that read a body would wait for them, or take
    // tunnel bytes for one). Refused as malformed. And the answer ends
    // the connection: bytes after the head are the client's tunnel data
    // (a TLS ClientHello, say), never its next request.
    if (has_transfer_encoding_ || (r.has_content_length_ && r.content_length_ > 0)) {
      return kBadRequest;
    }
    r.keep_alive_ = false;
  }
  r.expects_continue_ = r.version_minor_ == 1 && expect_continue_;
  if (has_transfer_encoding_) {
    if (r.version_minor_ == 0 || r.has_content_length_ ||
        te_chunked_count_ > 1 || !te_last_chunked_) {
      return kBadRequest;
    }
    if (te_unknown_) return kNotImplemented;
    r.chunked_ = true;
    state_ = State::kChunkSize;
    return 0;
  }
  if (r.has_content_length_) {
    // With a limit per request, it is known once the path is (CompleteHead).
    if (!body_limit_of_ && r.content_length_ > limits_.max_body_bytes) return kPayloadTooLarge;
    remaining_ = r.content_length_;
    state_ = remaining_ == 0 ? State::kComplete : State::kBody;
    return 0;
  }
  state_ = State::kComplete;
  return 0;
}

int RequestParser::FinishPath() {
  if (!path_unfinished()) return 0;
  path_may_have_dot_ = false;
  std::string& head = request_.head_;
  const size_t end = head.size();
  if (path_needs_decode_) {
    path_needs_decode_ = false;
    // Decoded after the head: never longer than the raw path, which stays.
    head.resize(end + raw_path_.length);
    // The escapes were checked with the request line: it decodes whole.
    const size_t n =
        WritePercentDecoded(std::string_view(head.data() + raw_path_.offset, raw_path_.length),
                            /*plus_as_space=*/false, head.data() + end)
            .value_or(0);
    head.resize(end + n);
    request_.path_ = {static_cast<uint32_t>(end), static_cast<uint32_t>(n)};
  } else if (path_default_root_) {
    path_default_root_ = false;
    request_.path_ = {static_cast<uint32_t>(end), 1};
    head.push_back('/');
  }
  const Request::Span path = request_.path_;
  const char* const p = head.data() + path.offset;
  if (path.length == 0 || *p != '/' || !HasDotSegment(p, p + path.length)) return 0;
  // Dot segments, so that no route parameter is ever "." or "..": removed
  // when they are sent as such ("/a/../b" is served as "/b", RFC 3986
  // §6.2.2.3, as nginx does). One made by an escape ("%2E%2E", or
  // "x%2F..") is refused: a proxy in front that does not decode the path
  // (an ACL on "/public/") would see another path than the one served.
  const std::string_view raw(head.data() + raw_path_.offset, raw_path_.length);
  if (EscapesADotOrASlash(raw)) {
    request_.path_ = {};  // routed nowhere (the error's metrics label)
    return kBadRequest;
  }
  const size_t at = head.size();
  head.resize(at + path.length);
  const ptrdiff_t n = WriteWithoutDotSegments(
      std::string_view(head.data() + path.offset, path.length), head.data() + at);
  if (n < 0) {
    head.resize(at);
    request_.path_ = {};
    return kBadRequest;
  }
  head.resize(at + static_cast<size_t>(n));
  request_.path_ = {static_cast<uint32_t>(at), static_cast<uint32_t>(n)};
  return 0;
}

int RequestParser::CompleteHead() {
  if (path_unfinished()) {  // rarely: the common path makes no call
    if (const int status = FinishPath(); status != 0) return status;
  }
  body_limit_ = limits_.max_body_bytes;
  if (body_limit_of_ && (request_.chunked_ || remaining_ > 0)) {
    body_limit_ = body_limit_of_(request_);
    if (request_.has_content_length_ && request_.content_length_ > body_limit_) {
      return kPayloadTooLarge;
    }
  }
  if (state_ == State::kBody) {
    request_.body_.reserve(std::min<uint64_t>(remaining_, 64 * 1024));
  }
  header_bytes_ = 0;  // the trailer section gets its own budget
  header_count_ = 0;
  line_start_ = 0;
  return 0;
}

namespace {

// Makes room in `body` for `n` more bytes, growing it geometrically but
// never past `limit` (the declared Content-Length, or max_body_bytes for a
// chunked body): std::string's own doubling reserved up to twice the body,
// so a body near its limit took a buffer (and a share of the server's
// max_body_memory) of up to twice that limit, and was refused alone on an
// idle server (outside review).
void GrowBody(std::string& body, size_t n, uint64_t limit) {
  const size_t need = body.size() + n;
  const size_t capacity = body.capacity();
  if (need <= capacity) return;
  size_t want = std::max(need, 2 * capacity);
  if (want > limit) want = std::max<size_t>(need, static_cast<size_t>(limit));
  if (want >= 2 * capacity) {
    body.reserve(want);  // exact: no rounding up past twice the capacity
    return;
  }
  // libstdc++ rounds a reservation below twice the capacity up to twice;
  // a fresh string's reservation is exact.
  std::string fresh;
  fresh.reserve(want);
  fresh.append(body);
  body.swap(fresh);
}

}  // namespace

int RequestParser::FeedBody(std::string_view chunk, size_t* used) {
  size_t pos = 0;
  std::string& body = request_.body_;
  while (pos < chunk.size()) {
    const char c = chunk[pos];
    switch (state_) {
      case State::kBody:
      case State::kChunkData: {
        const size_t n =
            static_cast<size_t>(std::min<uint64_t>(remaining_, chunk.size() - pos));
        GrowBody(body, n, state_ == State::kBody ? body.size() + remaining_ : body_limit_);
        body.append(chunk.data() + pos, n);
        pos += n;
        remaining_ -= n;
        if (remaining_ == 0) {
          state_ = state_ == State::kBody ? State::kComplete
                                          : State::kChunkDataCr;
        }
        break;
      }
      case State::kChunkSize:
        ++pos;
        if (const int d = HexDigitValue(c); d >= 0) {
          // Any number of leading zeros (RFC 9112 §7.1: 1*HEXDIG), but
          // within the line's bound: an endless line of zeros, trickled a
          // byte per idle timeout, held a connection for good (outside
          // review).
          if (++chunk_digits_ > kChunkSizeDigits &&
              chunk_digits_ - kChunkSizeDigits > limits_.max_chunk_extension_bytes) {
            *used = pos;
            return kBadRequest;  // too long a line
          }
          if (!AccumulateDigit(&chunk_size_, 16, static_cast<unsigned>(d))) {
            *used = pos;
            return kBadRequest;  // overflow
          }
          if (chunk_size_ > body_limit_ - body_total_) {
            *used = pos;
            return kPayloadTooLarge;
          }
        } else if (chunk_digits_ == 0) {
          *used = pos;
          return kBadRequest;
        } else if (c == '\r') {
          state_ = State::kChunkSizeLf;
        } else if (c == ';' || IsOws(c)) {
          state_ = State::kChunkExt;
          chunk_ext_state_ = 0;
          chunk_ext_bytes_ = 0;
          --pos;  // let kChunkExt see it
        } else {
          *used = pos;
          return kBadRequest;
        }
        break;
      case State::kChunkExt: {
        ++pos;
        if (++chunk_ext_bytes_ > limits_.max_chunk_extension_bytes + 1) {
          *used = pos;
          return kBadRequest;
        }
        const int status = ChunkExtByte(c);
        if (status != 0) {
          *used = pos;
          return status;
        }
        break;
      }
      case State::kChunkSizeLf:
        ++pos;
        if (c != '\n') {
          *used = pos;
          return kBadRequest;
        }
        if (chunk_size_ == 0) {
          state_ = State::kTrailer;
          *used = pos;
          return 0;  // Feed() continues with the trailer section
        }
        body_total_ += chunk_size_;
        remaining_ = chunk_size_;
        state_ = State::kChunkData;
        break;
      case State::kChunkDataCr:
        ++pos;
        if (c != '\r') {
          *used = pos;
          return kBadRequest;
        }
        state_ = State::kChunkDataLf;
        break;
      case State::kChunkDataLf:
        ++pos;
        if (c != '\n') {
          *used = pos;
          return kBadRequest;
        }
        state_ = State::kChunkSize;
        chunk_size_ = 0;
        chunk_digits_ = 0;
        break;
      default:  // kComplete
        *used = pos;
        return 0;
    }
  }
  *used = pos;
  return 0;
}

// chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), with
// ext-val = token / quoted-string; the line ends at CR. Extensions are
// checked and ignored.
int RequestParser::ChunkExtByte(char c) {
  enum {
    kBeforeSemi,   // BWS before ';'
    kBeforeName,   // BWS after ';'
    kName,
    kAfterName,    // BWS after the name
    kBeforeValue,  // BWS after '='
    kTokenValue,
    kQuoted,
    kQuotedPair,
    kAfterQuoted,
  };
  const bool ows = IsOws(c);
  const bool tchar = HasCharClass(c, kTokenChar);
  int& s = chunk_ext_state_;
  switch (s) {
    case kBeforeSemi:
      if (c == ';') s = kBeforeName;
      else if (!ows) return kBadRequest;
      return 0;
    case kBeforeName:
      if (tchar) s = kName;
      else if (!ows) return kBadRequest;
      return 0;
    case kName:
    case kTokenValue:
    case kAfterQuoted:
      if (tchar && s != kAfterQuoted) return 0;
      if (c == ';') s = kBeforeName;
      else if (c == '=' && s == kName) s = kBeforeValue;
      else if (ows) s = s == kName ? kAfterName : kBeforeSemi;
      else if (c == '\r') state_ = State::kChunkSizeLf;
      else return kBadRequest;
      return 0;
    case kAfterName:
      if (c == '=') s = kBeforeValue;
      else if (c == ';') s = kBeforeName;
      else if (!ows) return kBadRequest;
      return 0;
    case kBeforeValue:
      if (tchar) s = kTokenValue;
      else if (c == '"') s = kQuoted;
      else if (!ows) return kBadRequest;
      return 0;
    case kQuoted:
      if (c == '"') s = kAfterQuoted;
      else if (c == '\\') s = kQuotedPair;
      else if (!HasCharClass(c, kFieldValueChar)) return kBadRequest;
      return 0;
    case kQuotedPair:
      if (!HasCharClass(c, kFieldValueChar)) return kBadRequest;
      s = kQuoted;
      return 0;
    default:
      return kBadRequest;
  }
}

}  // namespace brisk::http
