#include "server/forwarded.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/ascii.h"

namespace brisk::internal {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The address of one entry without its port, or empty if it is none.
std::string_view HostOf(std::string_view entry) {
  if (!entry.empty() && entry.front() == '[') {  // [v6] or [v6]:port
    const size_t close = entry.find(']');
    if (close == std::string_view::npos) return {};
    const std::string_view rest = entry.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return {};
    entry = entry.substr(1, close - 1);
    if (entry.find(':') == std::string_view::npos) return {};  // [1.2.3.4]
  } else if (const size_t colon = entry.find(':');
             colon != std::string_view::npos &&
             entry.find(':', colon + 1) == std::string_view::npos) {
    entry = entry.substr(0, colon);  // v4:port (a v6 address has 2+ colons)
  }
  return net::IpAddress::Parse(entry).has_value() ? entry : std::string_view();
}

}  // namespace

std::string ForwardedClient(const http::Request& request,
                            const net::IpPrefixSet& trusted_proxies,
                            std::string peer) {
  std::vector<std::string_view> entries;
  for (const http::HeaderField& field : request.headers()) {
    if (!http::EqualsIgnoreCase(field.name, "x-forwarded-for")) continue;
    std::string_view value = field.value;
    while (true) {
      const size_t comma = value.find(',');
      entries.push_back(Trim(value.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  std::string_view client;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    const std::string_view host = HostOf(*it);
    if (host.empty()) return peer;
    client = host;
    if (!trusted_proxies.ContainsText(host)) break;
  }
  return client.empty() ? peer : std::string(client);
}

}  // namespace brisk::internal
