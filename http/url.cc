#include "http/url.h"

#include "http/ascii.h"

namespace brisk::http {
namespace {

// h16 = 1*4HEXDIG
bool IsH16(std::string_view s) {
  return !s.empty() && s.size() <= 4 && AllOfCharClass(s, kHexDigitChar);
}

// dec-octet: 0-255 without leading zeros.
bool IsDecOctet(std::string_view s) {
  if (s.empty() || s.size() > 3 || !AllOfCharClass(s, kDigitChar)) {
    return false;
  }
  if (s.size() > 1 && s[0] == '0') return false;
  return ParseDecimal(s).value_or(256) <= 255;
}

// IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
bool IsIpvFuture(std::string_view s) {
  if (s.size() < 4 || AsciiToLower(s[0]) != 'v') return false;
  const size_t dot = s.find('.');
  if (dot == std::string_view::npos || dot < 2 ||
      !AllOfCharClass(s.substr(1, dot - 1), kHexDigitChar)) {
    return false;
  }
  const std::string_view rest = s.substr(dot + 1);
  if (rest.empty()) return false;
  for (char c : rest) {
    if (c != ':' && !HasCharClass(c, kRegNameChar)) return false;
  }
  return true;
}

// The end of the reg-name at the start of [p, end): the first byte that is
// neither a reg-name byte nor part of a well-formed %XX escape. Sets *ok to
// false on a malformed escape.
const char* SkipRegName(const char* p, const char* end, bool* ok) {
  *ok = true;
  while (true) {
    p = SkipCharClass(p, end, kRegNameChar);
    if (p == end || *p != '%') return p;
    if (end - p < 3 || !IsHexDigit(p[1]) || !IsHexDigit(p[2])) {
      *ok = false;
      return p;
    }
    p += 3;
  }
}

}  // namespace

bool IsIpv4Address(std::string_view s) {
  for (int i = 0; i < 4; ++i) {
    const size_t dot = s.find('.');
    if ((i == 3) != (dot == std::string_view::npos)) return false;
    if (!IsDecOctet(s.substr(0, dot))) return false;
    s.remove_prefix(i == 3 ? s.size() : dot + 1);
  }
  return true;
}

bool IsIpv6Address(std::string_view s) {
  int groups = 0;           // explicit 16-bit groups (a trailing IPv4 counts 2)
  bool compressed = false;  // seen "::"
  size_t i = 0;
  if (s.substr(0, 2) == "::") {
    compressed = true;
    i = 2;
    if (i == s.size()) return true;  // "::"
  }
  while (true) {
    const size_t colon = s.find(':', i);
    const std::string_view piece = s.substr(i, colon - i);
    if (colon == std::string_view::npos) {  // the last piece
      if (piece.find('.') != std::string_view::npos) {
        if (!IsIpv4Address(piece)) return false;
        groups += 2;
      } else {
        if (!IsH16(piece)) return false;
        ++groups;
      }
      break;
    }
    if (!IsH16(piece)) return false;  // also a leading or tripled ':'
    ++groups;
    i = colon + 1;
    if (i == s.size()) return false;  // a trailing single ':'
    if (s[i] == ':') {
      if (compressed) return false;  // a second "::"
      compressed = true;
      if (++i == s.size()) break;  // ends with "::"
    }
  }
  // "::" stands for at least one zero group.
  return compressed ? groups <= 7 : groups == 8;
}

std::optional<HostPort> ParseHostPort(std::string_view authority) {
  const char* const begin = authority.data();
  const char* const end = begin + authority.size();
  const char* p = begin;
  if (p != end && *p == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view literal = authority.substr(1, close - 1);
    if (!IsIpv6Address(literal) && !IsIpvFuture(literal)) return std::nullopt;
    p = begin + close + 1;
  } else {
    bool ok;
    p = SkipRegName(p, end, &ok);
    if (!ok || p == begin) return std::nullopt;  // bad escape, empty host
  }
  HostPort hp;
  hp.host = std::string_view(begin, p - begin);
  if (p != end) {
    if (*p != ':') return std::nullopt;  // '@', space, '/', ...
    ++p;
    if (SkipCharClass(p, end, kDigitChar) != end) return std::nullopt;
    hp.port = std::string_view(p, end - p);
  }
  return hp;
}

std::optional<size_t> WritePercentDecoded(std::string_view in, bool plus_as_space, char* out) {
  size_t o = 0;
  size_t i = 0;
  while (i < in.size()) {
    const char c = in[i];
    if (c == '%') {
      if (in.size() - i < 3) return std::nullopt;
      const int hi = HexDigitValue(in[i + 1]);
      const int lo = HexDigitValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out[o++] = static_cast<char>(hi * 16 + lo);
      i += 3;
    } else {
      out[o++] = plus_as_space && c == '+' ? ' ' : c;
      ++i;
    }
  }
  return o;
}

std::optional<std::string> PercentDecode(std::string_view in,
                                         bool plus_as_space) {
  std::string out(in.size(), '\0');
  const std::optional<size_t> n = WritePercentDecoded(in, plus_as_space, out.data());
  if (!n.has_value()) return std::nullopt;
  out.resize(*n);
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
