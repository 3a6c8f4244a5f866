#include "net/ip_prefix.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace brisk::net {
namespace {

constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

IpAddress FromV4(const void* four_bytes) {
  IpAddress a;
  std::memcpy(a.bytes.data(), kV4MappedPrefix, 12);
  std::memcpy(a.bytes.data() + 12, four_bytes, 4);
  return a;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// 0..max, decimal digits only; -1 otherwise.
int PrefixLength(std::string_view s, int max) {
  if (s.empty() || s.size() > 3) return -1;
  int n = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n <= max ? n : -1;
}

bool MatchesBits(const IpAddress& a, const IpAddress& prefix, int bits) {
  const int whole = bits / 8;
  if (std::memcmp(a.bytes.data(), prefix.bytes.data(), whole) != 0) return false;
  const int rest = bits % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a.bytes[whole] & mask) == (prefix.bytes[whole] & mask);
}

}  // namespace

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  const std::string s(text);
  in_addr v4;
  if (s.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), &v4) != 1) return std::nullopt;
    return FromV4(&v4);
  }
  IpAddress a;
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  return a;
}

IpAddress IpAddress::Of(const SocketAddress& address) {
  const sockaddr* sa = address.addr();
  if (address.family() == AF_INET) {
    return FromV4(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr);
  }
  IpAddress a;
  if (address.family() == AF_INET6) {
    std::memcpy(a.bytes.data(),
                &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, 16);
  }
  return a;
}

bool IpAddress::is_v4() const {
  return std::memcmp(bytes.data(), kV4MappedPrefix, 12) == 0;
}

std::string IpAddress::ToString() const {
  char text[INET6_ADDRSTRLEN];
  if (is_v4()) {
    inet_ntop(AF_INET, bytes.data() + 12, text, sizeof(text));
  } else {
    inet_ntop(AF_INET6, bytes.data(), text, sizeof(text));
  }
  return text;
}

absl::StatusOr<IpPrefixSet> IpPrefixSet::Parse(std::string_view list) {
  IpPrefixSet set;
  if (Trim(list).empty()) return set;
  while (true) {
    const size_t comma = list.find(',');
    const std::string item(Trim(list.substr(0, comma)));
    const size_t slash = item.find('/');
    const std::string host = item.substr(0, slash);
    const std::optional<IpAddress> address = IpAddress::Parse(host);
    if (!address.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("not an IP address or prefix: \"", item, "\""));
    }
    const int width = host.find(':') == std::string::npos ? 32 : 128;
    const int bits = slash == std::string::npos
                         ? width
                         : PrefixLength(std::string_view(item).substr(slash + 1), width);
    if (bits < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad prefix length in \"", item, "\" (0 to ", width, ")"));
    }
    Prefix p{*address, bits + (128 - width)};
    // Bits set past the prefix length: "10.0.0.1/8" meant a host or a
    // network, and trusting the wrong one is a security hole.
    IpAddress masked = p.address;
    for (int i = p.bits; i < 128; ++i) {
      masked.bytes[i / 8] &= static_cast<uint8_t>(~(0x80 >> (i % 8)));
    }
    if (!(masked == p.address)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", item, "\" has bits set past its prefix length"));
    }
    set.prefixes_.push_back(p);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return set;
}

bool IpPrefixSet::Contains(const IpAddress& address) const {
  const bool v4 = address.is_v4();
  for (const Prefix& p : prefixes_) {
    // IPv4 is held in its mapped form, inside ::/1..::/95: an IPv6 prefix
    // that short ("::/0", "all IPv6") must not take in every IPv4 peer.
    if (v4 && p.bits < 96) continue;
    if (MatchesBits(address, p.address, p.bits)) return true;
  }
  return false;
}

bool IpPrefixSet::ContainsText(std::string_view address) const {
  const std::optional<IpAddress> a = IpAddress::Parse(address);
  return a.has_value() && Contains(*a);
}

std::string IpPrefixSet::ToString() const {
  std::string out;
  for (const Prefix& p : prefixes_) {
    // An IPv4-mapped address only stands in a prefix of 96 bits or more
    // (Parse refuses bits set past the length).
    absl::StrAppend(&out, out.empty() ? "" : ",", p.address.ToString(), "/",
                    p.address.is_v4() ? p.bits - 96 : p.bits);
  }
  return out;
}

}  // namespace brisk::net
