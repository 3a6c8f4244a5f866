// Schedule: the open-loop arithmetic of the load generator. Request i is due
// at start + i / rate, whatever happened to earlier requests; requests whose
// time has come wait in a FIFO until a connection is free, and their latency
// is measured from the scheduled time, so time spent waiting behind a stalled
// server is part of the latency (no coordinated omission, as in wrk2).
//
//   Schedule s(start, /*rate=*/1000, Schedule::CountFor(1000, 10s));
//   s.Advance(now);                   // due requests enter the FIFO
//   while (s.HasDue() && idle_connection) {
//     ScheduledRequest r = s.PopDue();
//     Send(r);                        // later: latency = done - r.time
//   }
//   loop.RunAt(s.NextTime(), tick);   // when the next request becomes due
//
// The FIFO holds only consecutive indices, so it is two counters: memory is
// O(1) however far behind the server is. Pure arithmetic: no clock, no IO;
// times are given by the caller (tests pass plain time points).
//
// Thread-safety: none; one per event loop.
#ifndef BRISK_TOOLS_LOADGEN_SCHEDULE_H_
#define BRISK_TOOLS_LOADGEN_SCHEDULE_H_

#include <cstddef>
#include <cstdint>

#include "net/clock.h"

namespace brisk::loadgen {

struct ScheduledRequest {
  uint64_t index = 0;
  net::TimePoint time;  // when it was due: latency is measured from here
};

class Schedule {
 public:
  // `rate` requests per second (> 0), `total` requests in all.
  Schedule(net::TimePoint start, uint64_t rate, uint64_t total);

  // The number of requests due in [0, duration) at `rate`: exactly
  // rate x duration when that is whole, else rounded up.
  static uint64_t CountFor(uint64_t rate, net::Duration duration);

  // How long after the first class the schedule of class `k` (of several
  // run together) starts: k x 0.618... (mod 1) of its own period (1/rate),
  // so that classes whose periods share multiples do not send at the same
  // instants. 0 for the first class.
  static net::Duration PhaseOf(size_t k, uint64_t rate);

  // When request `index` is due: start + floor(index * 1e9 / rate) ns.
  net::TimePoint TimeOf(uint64_t index) const;

  // Moves every request due at or before `now` into the due FIFO. Returns
  // how many were moved.
  uint64_t Advance(net::TimePoint now);

  bool HasDue() const { return next_send_ < next_due_; }
  uint64_t due_count() const { return next_due_ - next_send_; }
  // The oldest due request (HasDue() must be true), removed from the FIFO.
  ScheduledRequest PopDue();
  // The oldest due request without removing it (HasDue() must be true).
  ScheduledRequest PeekDue() const;

  // True once every request has become due (the FIFO may still hold some).
  bool AllDue() const { return next_due_ == total_; }
  // True once every request has left the FIFO.
  bool Exhausted() const { return next_send_ == total_; }
  // When the next not-yet-due request is due (AllDue() must be false).
  net::TimePoint NextTime() const { return TimeOf(next_due_); }

  net::TimePoint start() const { return start_; }
  uint64_t rate() const { return rate_; }
  uint64_t total() const { return total_; }

 private:
  net::TimePoint start_;
  uint64_t rate_;
  uint64_t total_;
  uint64_t next_send_ = 0;  // FIFO head
  uint64_t next_due_ = 0;   // FIFO tail (one past the last due request)
};

}  // namespace brisk::loadgen

#endif  // BRISK_TOOLS_LOADGEN_SCHEDULE_H_
