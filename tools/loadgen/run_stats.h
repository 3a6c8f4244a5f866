// RunStats: what one load-generator run measured. Latencies per request
// (LatencyRecorder: exact percentiles by sorting), counts by status code,
// errors by kind, and the time windows the rates are computed over.
//
//   LatencyRecorder latencies;
//   latencies.Record(std::chrono::microseconds(850));
//   ...
//   uint32_t p99_us = latencies.Percentile(99.0);   // exact, nearest-rank
//
//   RunStats total;
//   for (const RunStats& per_thread : results) total.Merge(per_thread);
//
// Every request that counts (scheduled after the warm-up) ends in exactly
// one of: completed (a response, whatever its status), or an error of kind
// closed, timeout or parse; so scheduled == completed + request_errors().
// Connect errors are per connection attempt, not per request.
//
// Thread-safety: none; plain values. Merge per-thread copies after joining.
#ifndef BRISK_TOOLS_LOADGEN_RUN_STATS_H_
#define BRISK_TOOLS_LOADGEN_RUN_STATS_H_

#include <cstdint>
#include <map>
#include <vector>

#include "net/clock.h"

namespace brisk::loadgen {

// Per-request latencies in whole microseconds (saturating at ~71 minutes).
class LatencyRecorder {
 public:
  void Record(net::Duration latency);
  void RecordMicros(uint32_t micros) {
    samples_.push_back(micros);
    sorted_ = false;
  }
  void Merge(const LatencyRecorder& other);

  size_t count() const { return samples_.size(); }
  bool empty() const { return samples_.empty(); }
  // Exact nearest-rank percentile, p in [0, 100]: the smallest sample such
  // that at least p% of the samples are <= it (p = 0: the minimum, p = 100:
  // the maximum). 0 when empty. Sorts on first use after a Record().
  uint32_t Percentile(double p);
  uint32_t Max() { return Percentile(100.0); }
  // How many samples are at most `micros` (sorts on first use, as above).
  uint64_t CountAtMost(uint32_t micros);
  double Mean() const;

 private:
  std::vector<uint32_t> samples_;
  bool sorted_ = true;
};

struct ErrorCounts {
  uint64_t connect = 0;  // failed connection attempts
  uint64_t closed = 0;   // reset, or closed before the response was complete
  // Waited `timeout` for a connection and never sent, or sent and then
  // unanswered `timeout` after its send.
  uint64_t timeout = 0;
  uint64_t parse = 0;  // malformed response
  // Of `timeout`, those that expired waiting for a connection (never sent);
  // the others timed out after sending.
  uint64_t timeout_before_send = 0;

  uint64_t requests() const { return closed + timeout + parse; }
  uint64_t timeout_after_send() const { return timeout - timeout_before_send; }
};

struct RunStats {
  uint64_t scheduled = 0;  // requests due after the warm-up
  uint64_t sent = 0;       // of those, written to a connection
  uint64_t completed = 0;  // of those, answered (any status)
  // Of `sent`, sent a second time: closed with no byte of answer on a
  // connection that had carried earlier requests (idempotent methods only).
  uint64_t retried = 0;
  std::map<int, uint64_t> status_counts;
  ErrorCounts errors;
  // One sample per completed request, and one per timeout: --timeout for
  // one that expired unsent, its wait for a connection plus --timeout for
  // one that timed out after sending (its latency is at least that).
  LatencyRecorder latencies;
  // The 2xx answers only: for a server that sheds load with fast 503s, the
  // latency of the requests it admitted.
  LatencyRecorder latencies_ok;
  // The other answers (any status outside 2xx): how fast refusals (503/429
  // from admission control) come back. latencies = latencies_ok + these +
  // the timeouts; closed and parse errors have no sample anywhere.
  LatencyRecorder latencies_non2xx;
  // The 2xx answers again, timed from when the request was written rather
  // than from when it was due: without the generator's own lateness. A
  // relative budget the server is told (X-Request-Budget-Ms) starts there.
  LatencyRecorder latencies_ok_from_send;
  // Per sent request: from its scheduled time to when it was written. Waiting
  // for a free connection shows here too; with idle connections it is the
  // generator's own lag, which the latencies include.
  LatencyRecorder send_delay;
  // From the end of the warm-up to the last send / last completion (at
  // least the measured duration, so rates are never inflated).
  net::Duration send_window{0};
  net::Duration complete_window{0};
  // The generator's own overhead, not reported: how many times the
  // schedule's timer woke an event loop (each loop counts its wake-ups in
  // its first class).
  uint64_t ticks = 0;

  void Merge(const RunStats& other);
};

}  // namespace brisk::loadgen

#endif  // BRISK_TOOLS_LOADGEN_RUN_STATS_H_
