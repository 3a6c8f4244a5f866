// Server metrics and their Prometheus text exposition.
//
//   ServerMetrics m({"/hello", "/slow"});           // route names, fixed
//   m.route(0).RecordStatus(200);
//   m.route(1).handler.Observe(std::chrono::microseconds(850));
//   std::string page;
//   m.AppendPrometheus(&page);                       // GET /metrics
//
// Counters, gauges and histograms are lock-free (relaxed atomics): reactors
// and workers record from any thread; a scrape reads a consistent-enough
// snapshot (each value is atomic; the set is not a transaction, as in every
// Prometheus client).
//
// Histogram buckets are fixed (50 us .. 10 s), chosen for request latencies
// of an SLA-bound service; they are exported in seconds, as Prometheus
// expects.
#ifndef BRISK_SERVER_METRICS_H_
#define BRISK_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <bitset>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace brisk {

class Histogram {
 public:
  // Upper bounds in microseconds; +Inf is implicit.
  static constexpr std::array<int64_t, 17> kBoundsUs = {
      50,     100,    250,     500,     1000,    2500,    5000,    10000, 25000,
      50000,  100000, 250000,  500000,  1000000, 2500000, 5000000, 10000000};

  void Observe(std::chrono::nanoseconds value);

  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  // Cumulative count of observations <= kBoundsUs[i].
  uint64_t CumulativeCount(size_t i) const;
  // An estimate of quantile q (0..1) from the buckets (upper bound of the
  // bucket holding it); for tests and logs, Prometheus computes its own.
  std::chrono::nanoseconds Quantile(double q) const;

  // Appends `name_bucket{labels,le=...}`, `name_sum`, `name_count` lines.
  // `labels` is empty or like `route="/hello"`.
  void AppendPrometheus(std::string_view name, std::string_view labels,
                        std::string* out) const;
  // Appends {"count":N,"sum_ns":S,"buckets":[...]}: the count of each
  // bucket (not cumulative), kBoundsUs.size() + 1 of them, +Inf last;
  // count is their sum.
  void AppendJson(std::string* out) const;

 private:
  std::array<std::atomic<uint64_t>, kBoundsUs.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

// Counts of small integers (batch sizes) in power-of-two buckets: 1, 2, 4,
// ... 256, +Inf. Lock-free, like Histogram.
class CountHistogram {
 public:
  static constexpr std::array<uint64_t, 9> kBounds = {1, 2, 4, 8, 16, 32, 64, 128, 256};
  void Observe(uint64_t value);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  uint64_t sum() const { return sum_.load(std::memory_order_relaxed); }
  void AppendPrometheus(std::string_view name, std::string_view labels,
                        std::string* out) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_{0};
};

// Reasons a request is refused without running (the `reason` label of
// brisk_shed_total), indexed as internal::ShedReason.
inline constexpr std::array<std::string_view, 6> kShedReasonNames = {
    "queue_full", "predicted_late", "expired_in_queue", "codel",
    "standing_queue", "body_memory"};
// Outcomes of worker time (RouteMetrics::worker_ns), indexed as
// internal::Exchange::Outcome.
inline constexpr std::array<std::string_view, 3> kWorkOutcomeNames = {
    "useful", "late", "other"};

// A learned mean and deviation, published by whoever learns them and read
// by scrapes.
struct EstimateGauge {
  void Set(std::chrono::nanoseconds mean, std::chrono::nanoseconds deviation) {
    mean_ns.store(mean.count(), std::memory_order_relaxed);
    dev_ns.store(deviation.count(), std::memory_order_relaxed);
    set.store(true, std::memory_order_relaxed);
  }
  std::atomic<int64_t> mean_ns{0};
  std::atomic<int64_t> dev_ns{0};
  std::atomic<bool> set{false};
};

// Per-route figures. Statuses 100..599 are counted in a flat array, so
// recording is one relaxed increment.
struct RouteMetrics {
  explicit RouteMetrics(std::string route_name) : name(std::move(route_name)) {}

  void RecordStatus(int status);
  uint64_t StatusCount(int status) const;

  const std::string name;
  Histogram queue_wait;  // offloaded requests: admission to handler start
  Histogram handler;     // handler run time
  Histogram total;       // request parsed -> response queued for writing
  std::array<std::atomic<uint64_t>, 500> status_counts{};
  // Statuses whose series are written from the first scrape, at 0 before
  // one is answered (set before the server starts; read-only after): the
  // server's own answers (200, and its failures: 500, 503, the refusal
  // status), so rate() and alerts see the first burst of errors. Other
  // statuses appear with their first answer.
  std::bitset<500> written_at_zero;
  // Refusals by reason (kShedReasonNames).
  std::array<std::atomic<uint64_t>, kShedReasonNames.size()> shed{};
  // The admission policy's learned estimates (deadline admission): how
  // long a handler holds its worker, and how long from its start until its
  // answer (an async handler's answer comes after it returned; a stream's
  // head comes before), which is what a deadline must cover.
  EstimateGauge service_estimate;
  EstimateGauge answer_estimate;
  // Worker time spent on this route's handlers, by how it ended: answers
  // the client got with a 2xx (useful), results dropped because the
  // deadline or a disconnect answered first (late), anything else.
  std::array<std::atomic<uint64_t>, 3> worker_ns{};
  // Batch routes: batch sizes, how long a batch's oldest member waited for
  // it to start, and the learned cost model a + b*n. `batch` is set before
  // the server starts for a route that forms batches: its histograms are
  // exported (at zero) from the first scrape, so rate() and
  // histogram_quantile() see a series before the first batch.
  bool batch = false;
  CountHistogram batch_size;
  Histogram batch_wait;
  void SetBatchCost(std::chrono::nanoseconds fixed,
                    std::chrono::nanoseconds per_item) {
    batch_fixed_ns.store(fixed.count(), std::memory_order_relaxed);
    batch_per_item_ns.store(per_item.count(), std::memory_order_relaxed);
    has_batch_cost.store(true, std::memory_order_relaxed);
  }
  std::atomic<int64_t> batch_fixed_ns{0};
  std::atomic<int64_t> batch_per_item_ns{0};
  std::atomic<bool> has_batch_cost{false};
  // This route's share of ServerMetrics::in_flight and queue_depth:
  // offloaded requests queued or running, and those waiting for a worker.
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> queue_depth{0};
  // This route's share of ServerMetrics::deadline_exceeded.
  std::atomic<uint64_t> deadline_exceeded{0};
};

class ServerMetrics {
 public:
  // One RouteMetrics per name, in order; an extra "unmatched" route collects
  // requests that matched no route (404/405) or could not be parsed.
  explicit ServerMetrics(const std::vector<std::string>& route_names);

  RouteMetrics& route(size_t id) { return *routes_[id]; }
  const RouteMetrics& route(size_t id) const { return *routes_[id]; }
  RouteMetrics& unmatched() { return *routes_.back(); }
  const RouteMetrics& unmatched() const { return *routes_.back(); }
  size_t num_routes() const { return routes_.size() - 1; }

  void AppendPrometheus(std::string* out) const;
  // Appends the figures as one JSON object, for programs and the status
  // page (what `status_path`.json serves): cumulative counters, gauges and
  // histogram buckets (rates and quantiles over an interval come from the
  // difference of two snapshots):
  //   {"bucket_bounds_us":[50,...,10000000],          // +Inf implied last
  //    "routes":[{"name":"/hello","requests":{"200":N,...},
  //               "shed":{"queue_full":N,...},         // kShedReasonNames
  //               "in_flight":N,"queue_depth":N,       // gauges
  //               "latency":H,"queue_wait":H,"handler":H}, ...,
  //              {"name":"unmatched",...}],            // always last
  //    "connections":{"open":N,"accepted":N,"rejected":N},
  //    "timeouts":{"header":N,"idle":N,"write":N},
  //    "bad_requests":N,"in_flight":N,"queue_depth":N,
  //    "deadline_exceeded":N,"deadline_in_queue":N,
  //    "late_results_dropped":N,"handler_exceptions":N,
  //    "responders_dropped":N,"stream_overruns":N,"access_log_lost_lines":N,
  //    "start_time_seconds":F,                         // Unix time
  //    "loop_lag":H,"receive_lag":H}
  // where H is Histogram::AppendJson's object and "latency" is the route's
  // `total`. Route names are escaped (any bytes give valid JSON).
  void AppendJson(std::string* out) const;

  // A refusal of a request to `route` for reason `reason` (an index into
  // kShedReasonNames).
  void RecordShed(size_t route, size_t reason);
  // Refusals for `reason`, all routes.
  uint64_t ShedCount(size_t reason) const;

  // When the server started (HttpServer::Start), Unix time in seconds: a
  // restart (a new process, a binary upgrade) shows as a new value even
  // where counters are compared only with `resets()`.
  std::atomic<double> start_time_seconds{0};
  // The same moment on the steady clock (nanoseconds since its epoch): the
  // uptime /status.json shows, which a step of the wall clock (NTP, an
  // operator's `date -s`) must not move.
  std::atomic<int64_t> start_monotonic_ns{0};
  // Shed and deadline accounting (all routes).
  std::atomic<uint64_t> shed_queue_full{0};  // refused: admission queue full
  std::atomic<uint64_t> shed_codel{0};       // refused: CoDel queue timeout
  std::atomic<uint64_t> deadline_exceeded{0};  // 503: deadline passed
  std::atomic<uint64_t> deadline_in_queue{0};  // ... of which never ran
  std::atomic<uint64_t> handler_exceptions{0};
  std::atomic<uint64_t> responders_dropped{0};  // unanswered: 500
  // Streams cut off: their handler wrote on far past a "full".
  std::atomic<uint64_t> stream_overruns{0};
  std::atomic<uint64_t> late_results_dropped{0};
  // Connections.
  std::atomic<int64_t> open_connections{0};
  std::atomic<uint64_t> accepted_connections{0};
  std::atomic<uint64_t> rejected_connections{0};  // over --max_connections
  std::atomic<uint64_t> timeouts_header{0};
  std::atomic<uint64_t> timeouts_idle{0};
  std::atomic<uint64_t> timeouts_write{0};
  std::atomic<uint64_t> bad_requests{0};
  // Connections ended by an error of the server's own (no memory, no epoll
  // watch, no buffer space): their unanswered requests are logged 500.
  std::atomic<uint64_t> connection_errors{0};
  // Access-log lines lost to failed writes (a full disk, a closed pipe).
  std::atomic<uint64_t> access_log_lost_lines{0};
  // Accepts that found no file descriptor (EMFILE/ENFILE): the listener is
  // left alone a moment and new clients wait in its backlog meanwhile.
  std::atomic<uint64_t> accept_fd_limit{0};
  // Accepts that failed with an error of the listener itself (not the fd
  // limit, not the pending connection's): the listener is left alone a
  // moment as for the fd limit.
  std::atomic<uint64_t> accept_errors{0};
  // PROXY protocol (ServerOptions::proxy_protocol): headers taken, by
  // version; connections refused for an invalid or unfinished header, or
  // for a peer outside trusted_proxies.
  std::atomic<uint64_t> proxy_headers_v1{0};
  std::atomic<uint64_t> proxy_headers_v2{0};
  std::atomic<uint64_t> proxy_refused_invalid{0};
  std::atomic<uint64_t> proxy_refused_untrusted{0};
  // Offloaded work.
  std::atomic<int64_t> in_flight{0};     // offloaded requests queued+running
  std::atomic<int64_t> queue_depth{0};   // waiting for a worker
  // Bytes of request bodies held, all connections: being received, waiting
  // for a worker or with their handler (the buffers' capacity), against
  // ServerOptions::max_body_memory.
  std::atomic<int64_t> body_bytes_held{0};
  Histogram loop_lag;                    // reactor loop lag, all reactors
  // Reads that brought a kernel receive time (ServerOptions::
  // receive_timestamps): how long their bytes waited in the socket before a
  // reactor read them, which the loop lag does not show.
  Histogram receive_lag;

 private:
  // Appends gauge family `name` with a mean and a deviation series for
  // each route whose `member` was set.
  void AppendEstimates(std::string_view name, std::string_view help,
                       EstimateGauge RouteMetrics::*member,
                       std::string* out) const;
  // Appends the batch routes' families: brisk_batch_size, _wait_seconds
  // and _cost_seconds.
  void AppendBatchFamilies(std::string* out) const;

  std::vector<std::unique_ptr<RouteMetrics>> routes_;
};

}  // namespace brisk

#endif  // BRISK_SERVER_METRICS_H_
