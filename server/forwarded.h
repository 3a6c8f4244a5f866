// The client a trusted proxy forwarded a request for (ServerOptions::
// trusted_proxies), from X-Forwarded-For, as nginx's realip module does.
#ifndef BRISK_SERVER_FORWARDED_H_
#define BRISK_SERVER_FORWARDED_H_

#include <string>
#include <string_view>

#include "http/request.h"
#include "net/ip_prefix.h"

namespace brisk::internal {

struct TrustedProxies {
  net::IpPrefixSet set;
  // Walk past trusted entries (several proxies in a chain), as nginx's
  // real_ip_recursive on: then a client whose own address is trusted can
  // name any client it likes.
  bool recursive = false;
};

// `request` came from `peer` (its host), a trusted proxy. X-Forwarded-For
// lists the addresses each proxy saw, the nearest last; its lines are
// taken together, in order (RFC 9110 §5.3). The client is its rightmost
// entry, the one the trusted peer appended (what the client wrote further
// left is never believed); `recursive`: the rightmost entry that is not a
// trusted proxy itself (all trusted: the leftmost). No X-Forwarded-For, or
// an entry on the way that is no IP address ("unknown", a name, garbage,
// a bad port): `peer`, as if nothing had been forwarded. An entry may
// carry a port ("1.2.3.4:80", "[2001:db8::1]:80"), which is dropped. The
// address is returned in canonical form (IPv4 dotted, also when written
// IPv4-mapped; IPv6 compressed, lower case), so one client is one string.
std::string ForwardedClient(const http::Request& request,
                            const TrustedProxies& trusted, std::string peer);

}  // namespace brisk::internal

#endif  // BRISK_SERVER_FORWARDED_H_
