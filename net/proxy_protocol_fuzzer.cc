// libFuzzer target for ParseProxyHeader. Checks its contract on any input:
//  - a complete header lies within the input, is at least the shortest
//    valid one and at most kMaxProxyHeaderBytes, and has version 1 or 2;
//  - the answer does not change as bytes arrive: a prefix of the input that
//    is complete gives the same header as the whole input, a prefix that is
//    invalid means the whole input is invalid, and every prefix shorter
//    than a complete header is incomplete (not invalid);
//  - an invalid answer says why;
//  - a v1 TCP4 header, written back from what was parsed, is the very line
//    that was read (IPv4 text without leading zeros has one spelling);
//  - an address returned as IPv6 is never IPv4-mapped (those come as IPv4).
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "net/proxy_protocol.h"

using brisk::net::ParseProxyHeader;
using brisk::net::ProxyHeaderParse;

namespace {

bool SameAddress(const std::optional<brisk::net::SocketAddress>& a,
                 const std::optional<brisk::net::SocketAddress>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a.has_value() || a->ToString() == b->ToString();
}

std::string Host(const brisk::net::SocketAddress& a) {
  char text[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a.addr())->sin_addr,
            text, sizeof(text));
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const ProxyHeaderParse whole = ParseProxyHeader(input);
  if (whole.outcome == ProxyHeaderParse::kInvalid && whole.error.empty()) std::abort();
  if (whole.outcome == ProxyHeaderParse::kComplete) {
    if (whole.length > size || whole.length < 15 ||
        whole.length > brisk::net::kMaxProxyHeaderBytes) {
      std::abort();
    }
    if (whole.header.version != 1 && whole.header.version != 2) std::abort();
    if (whole.header.source.has_value() != whole.header.destination.has_value()) {
      std::abort();
    }
  } else if (whole.header.source.has_value() || whole.length != 0) {
    std::abort();
  }

  // Prefixes: every one up to 128 bytes, then a few more.
  for (size_t k = 0; k < size; k = k < 128 ? k + 1 : k * 2) {
    const ProxyHeaderParse part = ParseProxyHeader(input.substr(0, k));
    switch (part.outcome) {
      case ProxyHeaderParse::kComplete:
        if (whole.outcome != ProxyHeaderParse::kComplete || part.length != whole.length ||
            part.header.version != whole.header.version ||
            !SameAddress(part.header.source, whole.header.source) ||
            !SameAddress(part.header.destination, whole.header.destination)) {
          std::abort();
        }
        break;
      case ProxyHeaderParse::kInvalid:
        if (whole.outcome != ProxyHeaderParse::kInvalid) std::abort();
        break;
      case ProxyHeaderParse::kIncomplete:
        break;
    }
    if (whole.outcome == ProxyHeaderParse::kComplete && k < whole.length &&
        part.outcome != ProxyHeaderParse::kIncomplete) {
      std::abort();
    }
  }

  // (A TCP6 line with IPv4-mapped addresses is returned as IPv4 too.)
  if (whole.outcome == ProxyHeaderParse::kComplete && input.starts_with("PROXY TCP4 ")) {
    const std::string line =
        "PROXY TCP4 " + Host(*whole.header.source) + " " +
        Host(*whole.header.destination) + " " +
        std::to_string(whole.header.source->port()) + " " +
        std::to_string(whole.header.destination->port()) + "\r\n";
    if (input.substr(0, whole.length) != line) std::abort();
  }
  for (const auto* a : {&whole.header.source, &whole.header.destination}) {
    if (a->has_value() && (*a)->family() == AF_INET6 &&
        IN6_IS_ADDR_V4MAPPED(&reinterpret_cast<const sockaddr_in6*>((*a)->addr())->sin6_addr)) {
      std::abort();
    }
  }
  return 0;
}
