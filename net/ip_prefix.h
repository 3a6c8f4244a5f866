// IpPrefixSet: a set of IPv4 and IPv6 address prefixes (CIDR blocks), for
// deciding whether an address belongs to a trusted party (a load balancer
// allowed to say who the client is).
//
//   absl::StatusOr<IpPrefixSet> s = IpPrefixSet::Parse("10.0.0.0/8, ::1, fd00::/8");
//   s->Contains(peer);               // a SocketAddress
//   s->ContainsText("10.1.2.3");     // an address as text
//
// An IPv4 prefix also matches the same address written as IPv4-mapped IPv6
// (::ffff:10.1.2.3, how a dual-stack "::" listener sees IPv4 peers). An
// IPv6 prefix shorter than /96 matches no IPv4 address ("::/0" is all of
// IPv6, not everything); "::ffff:0:0/96" does match all of IPv4.
// Lookups are linear in the number of prefixes (a deployment trusts a
// handful). Thread-safety: a value; const methods may be called from any
// thread.
#ifndef BRISK_NET_IP_PREFIX_H_
#define BRISK_NET_IP_PREFIX_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "net/socket.h"

namespace brisk::net {

// An IP address as 16 bytes: IPv6, or IPv4 as IPv4-mapped IPv6.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};

  // A numeric IPv4 ("10.1.2.3") or IPv6 ("::1", "fe80::1", not bracketed,
  // no zone, no port) address; nullopt otherwise.
  static std::optional<IpAddress> Parse(std::string_view text);
  static IpAddress Of(const SocketAddress& address);  // family 0: all zero
  bool is_v4() const;  // IPv4-mapped
  // Canonical text: IPv4 dotted ("1.2.3.4", also for ::ffff:1.2.3.4),
  // IPv6 compressed in lower case ("2001:db8::1").
  std::string ToString() const;
  bool operator==(const IpAddress&) const = default;
};

class IpPrefixSet {
 public:
  IpPrefixSet() = default;

  // A comma-separated list of "ADDRESS" or "ADDRESS/BITS" (spaces around
  // items are ignored; empty: the empty set). InvalidArgument naming the
  // bad item otherwise (an address with bits set past its prefix length,
  // "10.0.0.1/8", is refused as a likely typo).
  static absl::StatusOr<IpPrefixSet> Parse(std::string_view list);

  bool empty() const { return prefixes_.empty(); }
  bool Contains(const IpAddress& address) const;
  bool Contains(const SocketAddress& address) const {
    return Contains(IpAddress::Of(address));
  }
  // False for text that is not an address.
  bool ContainsText(std::string_view address) const;
  // The list in canonical form ("10.0.0.0/8,::1/128").
  std::string ToString() const;

 private:
  struct Prefix {
    IpAddress address;
    int bits;  // of the 16-byte form: an IPv4 /8 is 96 + 8
  };
  std::vector<Prefix> prefixes_;
};

}  // namespace brisk::net

#endif  // BRISK_NET_IP_PREFIX_H_
