// TicketKeyRing: the secret keys that encrypt TLS session tickets (RFC 5077
// tickets in TLS 1.2, PSK tickets in TLS 1.3), as a ring of two: the current
// key, which seals new tickets, and the previous one, which still opens
// tickets sealed before the last rotation (their clients get a fresh ticket
// under the current key). A ticket sealed under any older key is not
// recognised, so its client falls back to a full handshake.
//
//   TicketKeyRing ring(absl::Hours(1), absl::Now);
//   TicketKey key;
//   if (ring.EncryptionKey(&key)) Seal(ticket, key);
//   switch (ring.Find(name_from_ticket, &key)) { ... }
//   ring.Rotate();  // on demand, e.g. after a suspected key leak
//
// Rotation: besides Rotate(), the ring rotates by itself when the current key
// is older than the period (checked lazily by EncryptionKey and Find, on the
// injected clock, or at once when that clock went back past the key's
// creation). A current key older than two periods is dropped together
// with the previous one, so no key outlives two periods of use.
//
// Keys come from OpenSSL's CSPRNG, live only in memory (never on disk, never
// shared between processes: several processes behind one address each keep
// their own ring, so a ticket resumes only on the process that issued it),
// and are wiped when dropped.
//
// Thread-safety: every method may be called from any thread (one std::mutex; the
// critical sections copy 80 bytes).
#ifndef BRISK_TLS_TICKET_KEY_RING_H_
#define BRISK_TLS_TICKET_KEY_RING_H_

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>

#include "absl/time/time.h"

namespace brisk::tls {

struct TicketKey {
  static constexpr size_t kNameBytes = 16;
  std::array<uint8_t, kNameBytes> name{};  // sent in the clear in the ticket
  std::array<uint8_t, 32> aes_key{};       // AES-256-CBC
  std::array<uint8_t, 32> hmac_key{};      // HMAC-SHA256
  absl::Time created;
};

class TicketKeyRing {
 public:
  using Clock = std::function<absl::Time()>;
  enum class Match { kUnknown, kCurrent, kPrevious };

  // `period` > 0. `now` must be callable from any thread.
  TicketKeyRing(absl::Duration period, Clock now);
  ~TicketKeyRing();
  TicketKeyRing(const TicketKeyRing&) = delete;
  TicketKeyRing& operator=(const TicketKeyRing&) = delete;

  // Copies the key that seals new tickets into *key. False only when the
  // random generator fails (then issue no ticket).
  bool EncryptionKey(TicketKey* key);
  // Looks up the key a ticket names; copies it into *key unless kUnknown.
  Match Find(const uint8_t name[TicketKey::kNameBytes], TicketKey* key);
  // Makes a fresh current key; the current one becomes the previous one.
  void Rotate();

  absl::Duration period() const { return period_; }
  // The ring's clock (the one it rotates keys on).
  absl::Time Now() const { return now_(); }
  // Key changes after the first key (periodic and on demand).
  uint64_t rotations() const;

 private:
  struct Slot {
    bool valid = false;
    TicketKey key;
  };
  bool MaybeRotateLocked(absl::Time now);  // mu_ held
  bool RotateLocked(absl::Time now);  // mu_ held

  const absl::Duration period_;
  const Clock now_;
  // std::mutex, not absl::Mutex: TSan sees pthread locks, not Debian's
  // uninstrumented abseil (and clang's -Wthread-safety cannot check
  // libstdc++'s std::mutex, hence comments instead of ABSL_GUARDED_BY).
  mutable std::mutex mu_;
  Slot current_;  // guarded by mu_
  Slot previous_;  // guarded by mu_
  bool made_first_key_ = false;  // guarded by mu_
  uint64_t rotations_ = 0;  // guarded by mu_
};

}  // namespace brisk::tls

#endif  // BRISK_TLS_TICKET_KEY_RING_H_
