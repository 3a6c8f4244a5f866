#include "tls/ticket_key_ring.h"

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace brisk::tls {
namespace {

using Match = TicketKeyRing::Match;

class FakeClock {
 public:
  absl::Time Now() const { return absl::FromUnixSeconds(seconds_.load()); }
  void Advance(absl::Duration d) { seconds_ += absl::ToInt64Seconds(d); }
  TicketKeyRing::Clock AsClock() {
    return [this] { return Now(); };
  }

 private:
  std::atomic<int64_t> seconds_{1'700'000'000};
};

TEST(TicketKeyRingTest, KeepsOneKeyForAPeriodThenKeepsItAsPrevious) {
  FakeClock clock;
  TicketKeyRing ring(absl::Hours(1), clock.AsClock());
  TicketKey first, again, found;
  ASSERT_TRUE(ring.EncryptionKey(&first));
  clock.Advance(absl::Minutes(59));
  ASSERT_TRUE(ring.EncryptionKey(&again));
  EXPECT_EQ(first.name, again.name);
  EXPECT_EQ(first.aes_key, again.aes_key);
  EXPECT_EQ(ring.Find(first.name.data(), &found), Match::kCurrent);
  EXPECT_EQ(found.hmac_key, first.hmac_key);
  EXPECT_EQ(ring.rotations(), 0u);

  clock.Advance(absl::Minutes(2));  // 61 minutes: rotates
  TicketKey second;
  ASSERT_TRUE(ring.EncryptionKey(&second));
  EXPECT_NE(second.name, first.name);
  EXPECT_NE(second.aes_key, first.aes_key);
  EXPECT_EQ(ring.Find(first.name.data(), &found), Match::kPrevious);
  EXPECT_EQ(found.aes_key, first.aes_key);
  EXPECT_EQ(ring.Find(second.name.data(), &found), Match::kCurrent);
  EXPECT_EQ(ring.rotations(), 1u);

  clock.Advance(absl::Minutes(61));  // the first key falls off the ring
  EXPECT_EQ(ring.Find(first.name.data(), &found), Match::kUnknown);
  EXPECT_EQ(ring.Find(second.name.data(), &found), Match::kPrevious);
  EXPECT_EQ(ring.rotations(), 2u);
}

TEST(TicketKeyRingTest, RotatesOnDemand) {
  FakeClock clock;
  TicketKeyRing ring(absl::Hours(1), clock.AsClock());
  TicketKey first, second, found;
  ASSERT_TRUE(ring.EncryptionKey(&first));
  ring.Rotate();
  ASSERT_TRUE(ring.EncryptionKey(&second));
  EXPECT_NE(first.name, second.name);
  EXPECT_EQ(ring.Find(first.name.data(), &found), Match::kPrevious);
  ring.Rotate();
  EXPECT_EQ(ring.Find(first.name.data(), &found), Match::kUnknown);
  EXPECT_EQ(ring.Find(second.name.data(), &found), Match::kPrevious);
  EXPECT_EQ(ring.rotations(), 2u);
}

TEST(TicketKeyRingTest, AfterTwoIdlePeriodsNoOldKeyOpensTickets) {
  FakeClock clock;
  TicketKeyRing ring(absl::Hours(1), clock.AsClock());
  TicketKey first, found;
  ASSERT_TRUE(ring.EncryptionKey(&first));
  clock.Advance(absl::Hours(2));  // nothing happened for two periods
  EXPECT_EQ(ring.Find(first.name.data(), &found), Match::kUnknown);
}

// The clock is the wall clock (absl::Now by default): one stepped back (an
// NTP correction, a VM restored from a snapshot, an operator's `date`)
// must not keep a key sealing tickets past its period. The key's age went
// negative and stayed below the period for as long as the step (a day back:
// the same key for a day and an hour).
TEST(TicketKeyRingTest, AClockSteppedBackDoesNotKeepAKeyPastItsPeriod) {
  FakeClock clock;
  TicketKeyRing ring(absl::Hours(1), clock.AsClock());
  TicketKey first, later, found;
  ASSERT_TRUE(ring.EncryptionKey(&first));
  clock.Advance(absl::Minutes(30));
  clock.Advance(-absl::Hours(24));  // stepped back a day
  clock.Advance(absl::Minutes(61));
  ASSERT_TRUE(ring.EncryptionKey(&later));
  EXPECT_NE(later.name, first.name);
  EXPECT_EQ(ring.Find(first.name.data(), &found), Match::kPrevious);
  clock.Advance(absl::Minutes(61));
  EXPECT_EQ(ring.Find(first.name.data(), &found), Match::kUnknown);
}

TEST(TicketKeyRingTest, UnknownNameIsUnknown) {
  FakeClock clock;
  TicketKeyRing ring(absl::Hours(1), clock.AsClock());
  const uint8_t name[TicketKey::kNameBytes] = {1, 2, 3};
  TicketKey found;
  EXPECT_EQ(ring.Find(name, &found), Match::kUnknown);
}

}  // namespace
}  // namespace brisk::tls
