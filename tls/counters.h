// TlsCounters: what every session of one TlsContext did, as relaxed atomics
// the server reads for /metrics. TlsStats is a plain snapshot of them.
//
//   const TlsStats s = context->stats();
//   out << "brisk_tls_handshakes_total{kind=\"full\"} " << s.full_handshakes;
//   for (size_t i = 1; i < kNumTlsFailures; ++i)
//     out << "brisk_tls_handshake_failures_total{reason=\""
//         << TlsFailureName(TlsFailure(i)) << "\"} " << s.handshake_failures[i];
//
// Thread-safety: every method may be called from any thread at any time.
// The counters are independent (a snapshot is not one atomic cut across
// them), which is all a metrics scrape needs.
#ifndef BRISK_TLS_COUNTERS_H_
#define BRISK_TLS_COUNTERS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "tls/failure.h"

namespace brisk::tls {

struct TlsStats {
  uint64_t full_handshakes = 0;     // completed, with a full key exchange
  uint64_t resumed_handshakes = 0;  // completed by resuming a session ticket
  // Handshakes that failed, by reason (index: static_cast<size_t>(reason);
  // [0], kNone, stays 0).
  std::array<uint64_t, kNumTlsFailures> handshake_failures{};
  // Connections whose handshake had completed and that then failed (a bad
  // record, an unexpected message).
  uint64_t errors_after_handshake = 0;
  uint64_t reloads = 0;          // successful TlsContext::Reload() calls
  uint64_t reload_failures = 0;  // failed ones (the old certificate stayed)
  uint64_t ticket_key_rotations = 0;  // filled by TlsContext::stats()

  // resumed / (full + resumed); 0 before the first handshake.
  double resumption_rate() const {
    const uint64_t total = full_handshakes + resumed_handshakes;
    return total == 0 ? 0.0 : static_cast<double>(resumed_handshakes) / total;
  }
  uint64_t total_handshake_failures() const {
    uint64_t total = 0;
    for (uint64_t n : handshake_failures) total += n;
    return total;
  }
};

class TlsCounters {
 public:
  void RecordHandshake(bool resumed) {
    (resumed ? resumed_ : full_).fetch_add(1, std::memory_order_relaxed);
  }
  void RecordHandshakeFailure(TlsFailure reason) {
    const auto i = static_cast<size_t>(reason);
    if (i < kNumTlsFailures) failures_[i].fetch_add(1, std::memory_order_relaxed);
  }
  void RecordErrorAfterHandshake() {
    after_handshake_.fetch_add(1, std::memory_order_relaxed);
  }
  void RecordReload(bool ok) {
    (ok ? reloads_ : reload_failures_).fetch_add(1, std::memory_order_relaxed);
  }

  TlsStats Snapshot() const {
    TlsStats s;
    s.full_handshakes = full_.load(std::memory_order_relaxed);
    s.resumed_handshakes = resumed_.load(std::memory_order_relaxed);
    for (size_t i = 0; i < kNumTlsFailures; ++i) {
      s.handshake_failures[i] = failures_[i].load(std::memory_order_relaxed);
    }
    s.errors_after_handshake = after_handshake_.load(std::memory_order_relaxed);
    s.reloads = reloads_.load(std::memory_order_relaxed);
    s.reload_failures = reload_failures_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::atomic<uint64_t> full_{0};
  std::atomic<uint64_t> resumed_{0};
  std::array<std::atomic<uint64_t>, kNumTlsFailures> failures_{};
  std::atomic<uint64_t> after_handshake_{0};
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> reload_failures_{0};
};

}  // namespace brisk::tls

#endif  // BRISK_TLS_COUNTERS_H_
