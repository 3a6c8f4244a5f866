#include "tools/loadgen/schedule.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace brisk::loadgen {
namespace {
constexpr unsigned __int128 kNanosPerSecond = 1'000'000'000;
}  // namespace

Schedule::Schedule(net::TimePoint start, uint64_t rate, uint64_t total)
    : start_(start), rate_(std::max<uint64_t>(rate, 1)), total_(total) {}

uint64_t Schedule::CountFor(uint64_t rate, net::Duration duration) {
  if (rate == 0 || duration.count() <= 0) return 0;
  // Request i is inside [0, duration) iff i * 1e9 / rate < duration, i.e.
  // i < duration * rate / 1e9: the count is that quotient rounded up.
  unsigned __int128 product =
      static_cast<unsigned __int128>(duration.count()) * rate;
  return static_cast<uint64_t>((product + kNanosPerSecond - 1) / kNanosPerSecond);
}

net::TimePoint Schedule::TimeOf(uint64_t index) const {
  unsigned __int128 nanos =
      static_cast<unsigned __int128>(index) * kNanosPerSecond / rate_;
  return start_ + net::Duration(static_cast<int64_t>(nanos));
}

uint64_t Schedule::Advance(net::TimePoint now) {
  if (now < start_ || AllDue()) return 0;
  // Request k is due iff floor(k * 1e9 / rate) <= elapsed, i.e.
  // k * 1e9 < (elapsed + 1) * rate: the due count is that bound rounded up.
  unsigned __int128 elapsed = static_cast<uint64_t>((now - start_).count());
  unsigned __int128 due =
      ((elapsed + 1) * rate_ + kNanosPerSecond - 1) / kNanosPerSecond;
  uint64_t new_due = due >= total_ ? total_ : static_cast<uint64_t>(due);
  uint64_t moved = new_due > next_due_ ? new_due - next_due_ : 0;
  next_due_ = std::max(next_due_, new_due);
  return moved;
}

ScheduledRequest Schedule::PopDue() {
  ScheduledRequest r = PeekDue();
  ++next_send_;
  return r;
}

ScheduledRequest Schedule::PeekDue() const {
  return ScheduledRequest{next_send_, TimeOf(next_send_)};
}

net::Duration Schedule::PhaseOf(size_t k, uint64_t rate) {
  if (rate == 0) return net::Duration(0);
  const double fraction = std::fmod(0.6180339887498949 * static_cast<double>(k), 1.0);
  return std::chrono::duration_cast<net::Duration>(
      std::chrono::duration<double>(fraction / static_cast<double>(rate)));
}

}  // namespace brisk::loadgen
