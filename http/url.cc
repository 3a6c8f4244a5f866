#include "http/url.h"

namespace brisk::http {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool AppendPercentDecoded(std::string_view in, bool plus_as_space,
                          std::string* out) {
  size_t i = 0;
  while (i < in.size()) {
    const char c = in[i];
    if (c == '%') {
      if (in.size() - i < 3) return false;
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 3;
    } else {
      out->push_back(plus_as_space && c == '+' ? ' ' : c);
      ++i;
    }
  }
  return true;
}

std::optional<std::string> PercentDecode(std::string_view in,
                                         bool plus_as_space) {
  std::string out;
  out.reserve(in.size());
  if (!AppendPercentDecoded(in, plus_as_space, &out)) return std::nullopt;
  return out;
}

std::vector<std::pair<std::string, std::string>> ParseQuery(
    std::string_view query) {
  std::vector<std::pair<std::string, std::string>> result;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view field = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view()
                                          : query.substr(amp + 1);
    if (field.empty()) continue;
    const size_t eq = field.find('=');
    std::string_view name = field.substr(0, eq);
    std::string_view value = eq == std::string_view::npos
                                 ? std::string_view()
                                 : field.substr(eq + 1);
    auto decode = [](std::string_view s) {
      std::optional<std::string> d = PercentDecode(s, /*plus_as_space=*/true);
      return d.has_value() ? *std::move(d) : std::string(s);
    };
    result.emplace_back(decode(name), decode(value));
  }
  return result;
}

}  // namespace brisk::http
