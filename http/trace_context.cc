#include "http/trace_context.h"

#include "http/ascii.h"

namespace brisk::http {
namespace {

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZeros(std::string_view s) {
  return s.find_first_not_of('0') == std::string_view::npos;
}

}  // namespace

std::optional<std::string_view> ValidTraceParent(std::string_view value) {
  value = TrimOws(value);
  // version "-" trace-id "-" parent-id "-" flags
  if (value.size() < 55 || value[2] != '-' || value[35] != '-' || value[52] != '-') {
    return std::nullopt;
  }
  const std::string_view version = value.substr(0, 2);
  const std::string_view trace_id = value.substr(3, 32);
  const std::string_view parent_id = value.substr(36, 16);
  const std::string_view flags = value.substr(53, 2);
  if (!IsLowerHex(version) || version == "ff" || !IsLowerHex(trace_id) ||
      AllZeros(trace_id) || !IsLowerHex(parent_id) || AllZeros(parent_id) ||
      !IsLowerHex(flags)) {
    return std::nullopt;
  }
  // Version 00 is exactly this; a later one may carry more after a '-',
  // fields this parser cannot check: they are dropped, not passed on (an
  // echo of them would hand any client's bytes, up to the header limit,
  // to everything downstream).
  if (value.size() > 55 && (version == "00" || value[55] != '-')) {
    return std::nullopt;
  }
  return value.substr(0, 55);
}

std::optional<TraceParent> ParseTraceParent(std::string_view raw) {
  const std::optional<std::string_view> value = ValidTraceParent(raw);
  if (!value.has_value()) return std::nullopt;
  const std::string_view flags = value->substr(53, 2);
  TraceParent t;
  t.value_ = std::string(*value);
  t.flags_ = static_cast<uint8_t>(HexDigitValue(flags[0]) * 16 + HexDigitValue(flags[1]));
  return t;
}

std::string TraceParent::Child(std::string_view span_id) const {
  std::string out = "00-";
  out.append(trace_id());
  out.push_back('-');
  out.append(span_id);
  out.push_back('-');
  out.append(value_, 53, 2);  // the flags as received
  return out;
}

std::optional<std::string_view> RequestTraceParent(const Request& request) {
  // Most requests have none: one lookup, as cheap as before the duplicate
  // check (this runs twice per answer).
  const std::optional<std::string_view> first = request.Header(kTraceParentHeader);
  if (!first.has_value()) return std::nullopt;
  int lines = 0;
  for (const HeaderField field : request.headers()) {
    if (EqualsIgnoreCase(field.name, kTraceParentHeader) && ++lines > 1) {
      return std::nullopt;  // a second line
    }
  }
  return ValidTraceParent(*first);
}

}  // namespace brisk::http
