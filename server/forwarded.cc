#include "server/forwarded.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/ascii.h"

namespace brisk::internal {
namespace {

// A port: 1 to 5 digits, at most 65535.
bool IsPort(std::string_view s) {
  const std::optional<uint64_t> n = http::ParseDecimal(s, /*max_digits=*/5);
  return n.has_value() && *n <= 65535;
}

// The address of one entry without its port, or nullopt if it is none.
std::optional<net::IpAddress> AddressOf(std::string_view entry) {
  if (!entry.empty() && entry.front() == '[') {  // [v6] or [v6]:port
    const size_t close = entry.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view rest = entry.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !IsPort(rest.substr(1)))) {
      return std::nullopt;
    }
    entry = entry.substr(1, close - 1);
    if (entry.find(':') == std::string_view::npos) return std::nullopt;  // [1.2.3.4]
  } else if (const size_t colon = entry.find(':');
             colon != std::string_view::npos &&
             entry.find(':', colon + 1) == std::string_view::npos) {
    // v4:port (an IPv6 address has two colons or more)
    if (!IsPort(entry.substr(colon + 1))) return std::nullopt;
    entry = entry.substr(0, colon);
  }
  return net::IpAddress::Parse(entry);
}

}  // namespace

std::string ForwardedClient(const http::Request& request,
                            const TrustedProxies& trusted, std::string peer) {
  std::vector<std::string_view> entries;
  for (const http::HeaderField& field : request.headers()) {
    if (!http::EqualsIgnoreCase(field.name, "x-forwarded-for")) continue;
    std::string_view value = field.value;
    while (true) {
      const size_t comma = value.find(',');
      entries.push_back(http::TrimOws(value.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  std::optional<net::IpAddress> client;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    client = AddressOf(*it);
    if (!client.has_value()) return peer;
    if (!trusted.recursive || !trusted.set.Contains(*client)) break;
  }
  return client.has_value() ? client->ToString() : peer;
}

}  // namespace brisk::internal
