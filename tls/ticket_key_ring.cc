#include "tls/ticket_key_ring.h"

#include <cstring>
#include <utility>

#include "absl/time/clock.h"
#include "openssl/crypto.h"
#include "openssl/rand.h"

namespace brisk::tls {
namespace {

void Wipe(TicketKey* key) { OPENSSL_cleanse(key, sizeof(*key)); }

bool MakeKey(absl::Time now, TicketKey* key) {
  if (RAND_bytes(key->name.data(), key->name.size()) != 1 ||
      RAND_bytes(key->aes_key.data(), key->aes_key.size()) != 1 ||
      RAND_bytes(key->hmac_key.data(), key->hmac_key.size()) != 1) {
    Wipe(key);
    return false;
  }
  key->created = now;
  return true;
}

}  // namespace

TicketKeyRing::TicketKeyRing(absl::Duration period, Clock now)
    : period_(period > absl::ZeroDuration() ? period : absl::Hours(1)),
      now_(now ? std::move(now) : Clock(absl::Now)) {}

TicketKeyRing::~TicketKeyRing() {
  std::lock_guard<std::mutex> lock(mu_);
  Wipe(&current_.key);
  Wipe(&previous_.key);
}

bool TicketKeyRing::RotateLocked(absl::Time now) {
  TicketKey fresh;
  if (!MakeKey(now, &fresh)) return false;
  previous_ = current_;
  current_.valid = true;
  current_.key = fresh;
  Wipe(&fresh);
  if (made_first_key_) ++rotations_;
  made_first_key_ = true;
  return true;
}

bool TicketKeyRing::MaybeRotateLocked(absl::Time now) {
  if (!current_.valid) return RotateLocked(now);
  const absl::Duration age = now - current_.key.created;
  // A negative age: the (wall) clock was stepped back, by how much of the
  // key's real age nobody knows. Rotated at once, or the key would seal
  // tickets for as long as the step (the previous key still opens them).
  if (age >= absl::ZeroDuration() && age < period_) return true;
  if (age >= 2 * period_) {
    // Idle for two periods: neither key may open tickets any more.
    current_.valid = false;
    Wipe(&current_.key);
  }
  return RotateLocked(now);
}

bool TicketKeyRing::EncryptionKey(TicketKey* key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!MaybeRotateLocked(now_()) || !current_.valid) return false;
  *key = current_.key;
  return true;
}

TicketKeyRing::Match TicketKeyRing::Find(
    const uint8_t name[TicketKey::kNameBytes], TicketKey* key) {
  std::lock_guard<std::mutex> lock(mu_);
  MaybeRotateLocked(now_());
  for (const auto& [slot, match] :
       {std::pair<const Slot*, Match>{&current_, Match::kCurrent},
        std::pair<const Slot*, Match>{&previous_, Match::kPrevious}}) {
    if (slot->valid && CRYPTO_memcmp(slot->key.name.data(), name,
                                     TicketKey::kNameBytes) == 0) {
      *key = slot->key;
      return match;
    }
  }
  return Match::kUnknown;
}

void TicketKeyRing::Rotate() {
  std::lock_guard<std::mutex> lock(mu_);
  RotateLocked(now_());
}

uint64_t TicketKeyRing::rotations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rotations_;
}

}  // namespace brisk::tls
