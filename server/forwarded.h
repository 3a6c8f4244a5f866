// The client a trusted proxy forwarded a request for (ServerOptions::
// trusted_proxies), from X-Forwarded-For, as nginx's realip module does with
// real_ip_recursive on.
#ifndef BRISK_SERVER_FORWARDED_H_
#define BRISK_SERVER_FORWARDED_H_

#include <string>
#include <string_view>

#include "http/request.h"
#include "net/ip_prefix.h"

namespace brisk::internal {

// `request` came from `peer` (its host), a trusted proxy. X-Forwarded-For
// lists the addresses each proxy saw, the nearest last; its lines are
// taken together, in order (RFC 9110 §5.3). Walking from the right, trusted
// proxies are skipped: the first address that is not one is the client (so
// addresses a client wrote into the header itself, further left, are never
// believed). All trusted: the leftmost. No X-Forwarded-For, or an entry on
// the way that is no IP address ("unknown", a name, garbage): `peer`, as
// if nothing had been forwarded. An entry may carry a port ("1.2.3.4:80",
// "[2001:db8::1]:80"), which is dropped.
std::string ForwardedClient(const http::Request& request,
                            const net::IpPrefixSet& trusted_proxies,
                            std::string peer);

}  // namespace brisk::internal

#endif  // BRISK_SERVER_FORWARDED_H_
