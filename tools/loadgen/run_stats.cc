#include "tools/loadgen/run_stats.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace brisk::loadgen {

void LatencyRecorder::Record(net::Duration latency) {
  int64_t micros =
      std::chrono::duration_cast<std::chrono::microseconds>(latency).count();
  micros = std::clamp<int64_t>(micros, 0, std::numeric_limits<uint32_t>::max());
  RecordMicros(static_cast<uint32_t>(micros));
}

void LatencyRecorder::Merge(const LatencyRecorder& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
  sorted_ = samples_.size() == other.samples_.size() && other.sorted_;
}

uint64_t LatencyRecorder::CountAtMost(uint32_t micros) {
  if (!sorted_) {
    std::sort(samples_.begin(), samples_.end());
    sorted_ = true;
  }
  return static_cast<uint64_t>(
      std::upper_bound(samples_.begin(), samples_.end(), micros) -
      samples_.begin());
}

uint32_t LatencyRecorder::Percentile(double p) {
  if (samples_.empty()) return 0;
  if (!sorted_) {
    std::sort(samples_.begin(), samples_.end());
    sorted_ = true;
  }
  const double n = static_cast<double>(samples_.size());
  p = std::clamp(p, 0.0, 100.0);
  // Nearest rank: ceil(p/100 * n), as a 1-based rank. The small epsilon keeps
  // p = 99.9 of 1000 samples at rank 999 despite binary rounding.
  double rank = std::ceil(p / 100.0 * n - 1e-9);
  size_t index = rank <= 1.0 ? 0 : static_cast<size_t>(rank) - 1;
  return samples_[std::min(index, samples_.size() - 1)];
}

double LatencyRecorder::Mean() const {
  if (samples_.empty()) return 0;
  double sum = 0;
  for (uint32_t s : samples_) sum += s;
  return sum / static_cast<double>(samples_.size());
}

void RunStats::Merge(const RunStats& other) {
  scheduled += other.scheduled;
  sent += other.sent;
  completed += other.completed;
  for (const auto& [code, n] : other.status_counts) status_counts[code] += n;
  errors.connect += other.errors.connect;
  errors.closed += other.errors.closed;
  errors.timeout += other.errors.timeout;
  errors.parse += other.errors.parse;
  errors.timeout_before_send += other.errors.timeout_before_send;
  latencies.Merge(other.latencies);
  latencies_ok.Merge(other.latencies_ok);
  latencies_non2xx.Merge(other.latencies_non2xx);
  latencies_ok_from_send.Merge(other.latencies_ok_from_send);
  send_delay.Merge(other.send_delay);
  ticks += other.ticks;
  retried += other.retried;
  send_window = std::max(send_window, other.send_window);
  complete_window = std::max(complete_window, other.complete_window);
}

}  // namespace brisk::loadgen
