#include "http/response_writer.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>

#include "http/ascii.h"

namespace brisk::http {
namespace {

void AppendDecimal(uint64_t v, std::string* out) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

// What goes on the wire for a caller's status: a status line carries
// three digits, so anything else is written, and framed, as a 500.
int WireStatus(int status) { return status < 100 || status > 999 ? 500 : status; }

void AppendStatusLine(int status, std::string* out) {
  status = WireStatus(status);
  const char line[] = {'H', 'T', 'T', 'P', '/', '1', '.', '1', ' ',
                       static_cast<char>('0' + status / 100),
                       static_cast<char>('0' + status / 10 % 10),
                       static_cast<char>('0' + status % 10), ' '};
  out->append(line, sizeof(line));
  out->append(ReasonPhrase(status));
  out->append("\r\n");
}

void AppendField(std::string_view name, std::string_view value,
                 std::string* out) {
  out->append(name);
  out->append(": ");
  out->append(value);
  out->append("\r\n");
}

// A caller-supplied field whose name is not a token (RFC 9110 §5.1), or
// whose value holds a control character other than HTAB (§5.5: CR and LF
// would split the response; NUL, the other C0 controls and DEL are not
// field content either), is dropped.
bool SafeField(std::string_view name, std::string_view value) {
  if (!IsToken(name)) return false;
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return false;
  }
  return true;
}

// Serializer-owned fields a Response may not set: the framing, and the
// connection's own (hop-by-hop, RFC 9110 §7.6.1) fields, which describe a
// connection the serializer manages: Keep-Alive beside its Connection:
// close, TE (a request field), Trailer (promising trailers no answer has).
bool IsFramingField(std::string_view name) {
  return EqualsIgnoreCase(name, "content-length") || EqualsIgnoreCase(name, "transfer-encoding") ||
         EqualsIgnoreCase(name, "connection") || EqualsIgnoreCase(name, "keep-alive") ||
         EqualsIgnoreCase(name, "te") || EqualsIgnoreCase(name, "trailer");
}

// The one Content-Length a handler set for an answer to HEAD whose body it
// left empty (a HEAD route of its own: RFC 9110 §9.3.2 lets it say the
// GET's length), or nullopt (none, several, or not a length).
std::optional<uint64_t> HeadContentLength(const Response& response) {
  std::optional<uint64_t> length;
  for (const auto& [name, value] : response.headers) {
    if (!EqualsIgnoreCase(name, "content-length")) continue;
    if (length.has_value()) return std::nullopt;
    length = ParseDecimal(TrimOws(value));
    if (!length.has_value()) return std::nullopt;
  }
  return length;
}

// 1xx, 204 and 304: no content and no framing field either.
bool StatusHasNoFraming(int status) {
  return status < 200 || status == 204 || status == 304;
}

}  // namespace

bool StatusHasNoContent(int status) {
  // 205 Reset Content: a server MUST NOT send content, and says so with
  // Content-Length: 0 (RFC 9110 §15.3.6); unlike 204's, its head has framing.
  return StatusHasNoFraming(status) || status == 205;
}

std::string HttpDate::Format(int64_t unix_seconds) {
  static constexpr char kDays[][4] = {"Thu", "Fri", "Sat", "Sun",
                                      "Mon", "Tue", "Wed"};
  static constexpr char kMonths[][4] = {"Jan", "Feb", "Mar", "Apr",
                                        "May", "Jun", "Jul", "Aug",
                                        "Sep", "Oct", "Nov", "Dec"};
  int64_t days = unix_seconds / 86400;
  int64_t secs = unix_seconds % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  const int weekday = static_cast<int>(((days % 7) + 7) % 7);  // 0 = Thursday
  // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  char buf[64];
  const int n = std::snprintf(
      buf, sizeof(buf), "%s, %02d %s %04lld %02d:%02d:%02d GMT", kDays[weekday],
      day, kMonths[month - 1], static_cast<long long>(year),
      static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
      static_cast<int>(secs % 60));
  return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

std::string_view HttpDate::Get(int64_t unix_seconds) {
  if (unix_seconds != cached_second_) {
    const std::string s = Format(unix_seconds);
    length_ = std::min(s.size(), sizeof(buf_));
    s.copy(buf_, length_);
    cached_second_ = unix_seconds;
  }
  return std::string_view(buf_, length_);
}

namespace {

// Framing of a response head.
enum class Framing { kLength, kChunked, kUntilClose };

// Status line, caller's fields, Date, Server, the framing field and
// Connection, then the blank line.
void AppendHead(const Response& response, const ResponseOptions& options,
                Framing framing, std::string* out) {
  const int status = WireStatus(response.status);
  AppendStatusLine(status, out);
  bool has_date = false;
  bool has_server = false;
  bool has_traceparent = false;
  bool has_upgrade = false;
  for (const auto& [name, value] : response.headers) {
    if (!SafeField(name, value) || IsFramingField(name)) continue;
    // An empty Date would stand in for the server's (an origin server with
    // a clock MUST send one, RFC 9110 §6.6.1): dropped.
    if (EqualsIgnoreCase(name, "date") && TrimOws(value).empty()) continue;
    has_date = has_date || EqualsIgnoreCase(name, "date");
    has_upgrade = has_upgrade || EqualsIgnoreCase(name, "upgrade");
    has_server = has_server || EqualsIgnoreCase(name, "server");
    has_traceparent = has_traceparent || EqualsIgnoreCase(name, "traceparent");
    // A field value neither begins nor ends with whitespace (§5.5).
    AppendField(name, TrimOws(value), out);
  }
  if (!has_date && !options.date.empty()) AppendField("Date", options.date, out);
  if (!has_server) out->append("Server: brisk\r\n");
  // The request's, unless the handler set its own (a span of its own).
  if (!has_traceparent && !options.traceparent.empty()) {
    AppendField("traceparent", options.traceparent, out);
  }
  if (!StatusHasNoFraming(status)) {
    switch (framing) {
      case Framing::kChunked:
        out->append("Transfer-Encoding: chunked\r\n");
        break;
      case Framing::kLength: {
        std::optional<uint64_t> length = StatusHasNoContent(status) ? 0 : response.body.size();
        // A HEAD answer's length must be the GET's (RFC 9110 §8.6): with
        // no body to count, the handler's if it said it, else none rather
        // than a wrong 0.
        if (options.head && response.body.empty() && !StatusHasNoContent(status)) {
          length = HeadContentLength(response);
        }
        if (length.has_value()) {
          out->append("Content-Length: ");
          AppendDecimal(*length, out);
          out->append("\r\n");
        }
        break;
      }
      case Framing::kUntilClose:
        break;
    }
  }
  // Upgrade comes with its connection option (RFC 9110 §7.8), on a line
  // of its own so the head still ends with the keep-alive/close line.
  if (has_upgrade) out->append("Connection: upgrade\r\n");
  out->append(options.keep_alive ? "Connection: keep-alive\r\n\r\n"
                                 : "Connection: close\r\n\r\n");
}

}  // namespace

void AppendResponse(const Response& response, const ResponseOptions& options,
                    std::string* out) {
  size_t estimate = 160 + response.body.size();
  for (const auto& [name, value] : response.headers) {
    estimate += name.size() + value.size() + 4;
  }
  out->reserve(out->size() + estimate);
  const bool no_body = StatusHasNoContent(WireStatus(response.status));
  const bool chunked =
      options.chunked && options.request_version_minor >= 1 && !no_body;
  AppendHead(response, options, chunked ? Framing::kChunked : Framing::kLength,
             out);
  if (options.head || no_body) return;
  if (chunked) {
    AppendChunk(response.body, out);
    AppendLastChunk(out);
  } else {
    out->append(response.body);
  }
}

void AppendStreamHead(const Response& head, const ResponseOptions& options,
                      std::string* out) {
  AppendHead(head, options,
             options.request_version_minor >= 1 ? Framing::kChunked
                                                : Framing::kUntilClose,
             out);
}

void AppendErrorResponse(int status, std::string_view date, std::string* out) {
  AppendStatusLine(status, out);
  if (!date.empty()) AppendField("Date", date, out);
  const std::string_view reason = ReasonPhrase(status);
  out->append("Server: brisk\r\nContent-Type: text/plain; charset=utf-8\r\n"
              "Content-Length: ");
  AppendDecimal(reason.size() + 1, out);
  out->append("\r\nConnection: close\r\n\r\n");
  out->append(reason);
  out->push_back('\n');
}

void AppendContinue(std::string* out) {
  out->append("HTTP/1.1 100 Continue\r\n\r\n");
}

void AppendChunk(std::string_view data, std::string* out) {
  if (data.empty()) return;
  char buf[20];
  const auto r = std::to_chars(buf, buf + sizeof(buf), data.size(), 16);
  out->append(buf, r.ptr);
  out->append("\r\n");
  out->append(data);
  out->append("\r\n");
}

void AppendLastChunk(std::string* out) { out->append("0\r\n\r\n"); }

}  // namespace brisk::http
