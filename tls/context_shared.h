// Internal: the state a TlsContext shares with its sessions and with the
// OpenSSL contexts of every reload (counters, the ticket key ring, the ALPN
// list in wire format). Held by shared_ptr, so sessions may outlive their
// TlsContext. Not part of the public API.
//
// Thread-safety: the counters and the key ring are thread-safe; alpn_wire is
// immutable after construction.
#ifndef BRISK_TLS_CONTEXT_SHARED_H_
#define BRISK_TLS_CONTEXT_SHARED_H_

#include <string>
#include <utility>

#include "tls/counters.h"
#include "tls/ticket_key_ring.h"

namespace brisk::tls::internal {

struct ContextShared {
  ContextShared(absl::Duration ticket_key_rotation, TicketKeyRing::Clock now, std::string alpn)
      : ticket_keys(ticket_key_rotation, std::move(now)), alpn_wire(std::move(alpn)) {}

  TlsCounters counters;
  // Also the clock of the ticket checks; its period is how long a session
  // may be resumed after its full handshake (tls/context.cc).
  TicketKeyRing ticket_keys;
  const std::string alpn_wire;  // RFC 7301 ProtocolNameList, server order
};

}  // namespace brisk::tls::internal

#endif  // BRISK_TLS_CONTEXT_SHARED_H_
