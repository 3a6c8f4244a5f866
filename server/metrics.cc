#include "server/metrics.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "http/json_string.h"
#include "http/utf8.h"

namespace brisk {

void Histogram::Observe(std::chrono::nanoseconds value) {
  const int64_t ns = std::max<int64_t>(0, value.count());
  const int64_t us = ns / 1000;
  // Binary search over the fixed bounds; bucket i holds (b[i-1], b[i]].
  const auto it = std::lower_bound(kBoundsUs.begin(), kBoundsUs.end(),
                                   us + (ns % 1000 != 0 ? 1 : 0));
  buckets_[static_cast<size_t>(it - kBoundsUs.begin())].fetch_add(
      1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
}

uint64_t Histogram::CumulativeCount(size_t i) const {
  uint64_t c = 0;
  for (size_t b = 0; b <= i && b < buckets_.size(); ++b) {
    c += buckets_[b].load(std::memory_order_relaxed);
  }
  return c;
}

std::chrono::nanoseconds Histogram::Quantile(double q) const {
  const uint64_t n = count();
  if (n == 0) return std::chrono::nanoseconds(0);
  const auto rank = static_cast<uint64_t>(q * static_cast<double>(n));
  uint64_t c = 0;
  for (size_t b = 0; b < kBoundsUs.size(); ++b) {
    c += buckets_[b].load(std::memory_order_relaxed);
    if (c > rank) return std::chrono::microseconds(kBoundsUs[b]);
  }
  return std::chrono::nanoseconds::max();
}

void Histogram::AppendPrometheus(std::string_view name, std::string_view labels,
                                 std::string* out) const {
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t b = 0; b < kBoundsUs.size(); ++b) {
    cumulative += buckets_[b].load(std::memory_order_relaxed);
    absl::StrAppendFormat(out, "%s_bucket{%s%sle=\"%g\"} %d\n", name, labels,
                          sep, static_cast<double>(kBoundsUs[b]) / 1e6,
                          cumulative);
  }
  cumulative += buckets_.back().load(std::memory_order_relaxed);
  absl::StrAppendFormat(out, "%s_bucket{%s%sle=\"+Inf\"} %d\n", name, labels,
                        sep, cumulative);
  const std::string braces =
      labels.empty() ? "" : "{" + std::string(labels) + "}";
  absl::StrAppendFormat(
      out, "%s_sum%s %.9f\n", name, braces,
      static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
  absl::StrAppendFormat(out, "%s_count%s %d\n", name, braces, cumulative);
}

void Histogram::AppendJson(std::string* out) const {
  std::array<uint64_t, kBoundsUs.size() + 1> counts;
  uint64_t count = 0;
  for (size_t b = 0; b < counts.size(); ++b) {
    counts[b] = buckets_[b].load(std::memory_order_relaxed);
    count += counts[b];
  }
  absl::StrAppend(out, "{\"count\":", count, ",\"sum_ns\":",
                  sum_ns_.load(std::memory_order_relaxed), ",\"buckets\":[",
                  absl::StrJoin(counts, ","), "]}");
}

void CountHistogram::Observe(uint64_t value) {
  const auto it = std::lower_bound(kBounds.begin(), kBounds.end(), value);
  buckets_[static_cast<size_t>(it - kBounds.begin())].fetch_add(
      1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

void CountHistogram::AppendPrometheus(std::string_view name,
                                      std::string_view labels,
                                      std::string* out) const {
  uint64_t cumulative = 0;
  for (size_t b = 0; b < kBounds.size(); ++b) {
    cumulative += buckets_[b].load(std::memory_order_relaxed);
    absl::StrAppendFormat(out, "%s_bucket{%s,le=\"%d\"} %d\n", name, labels,
                          kBounds[b], cumulative);
  }
  cumulative += buckets_.back().load(std::memory_order_relaxed);
  absl::StrAppendFormat(out, "%s_bucket{%s,le=\"+Inf\"} %d\n", name, labels,
                        cumulative);
  absl::StrAppendFormat(out, "%s_sum{%s} %d\n", name, labels, sum());
  absl::StrAppendFormat(out, "%s_count{%s} %d\n", name, labels, cumulative);
}

void RouteMetrics::RecordStatus(int status) {
  if (status < 100 || status > 599) status = 599;
  status_counts[static_cast<size_t>(status - 100)].fetch_add(
      1, std::memory_order_relaxed);
}

uint64_t RouteMetrics::StatusCount(int status) const {
  if (status < 100 || status > 599) return 0;
  return status_counts[static_cast<size_t>(status - 100)].load(
      std::memory_order_relaxed);
}

ServerMetrics::ServerMetrics(const std::vector<std::string>& route_names) {
  for (const auto& name : route_names) {
    routes_.push_back(std::make_unique<RouteMetrics>(name));
  }
  routes_.push_back(std::make_unique<RouteMetrics>("unmatched"));
}

void ServerMetrics::RecordShed(size_t route, size_t reason) {
  RouteMetrics& r = route < num_routes() ? *routes_[route] : unmatched();
  r.shed[reason].fetch_add(1, std::memory_order_relaxed);
  if (reason == 0) shed_queue_full.fetch_add(1, std::memory_order_relaxed);
  if (reason == 3) shed_codel.fetch_add(1, std::memory_order_relaxed);
}

uint64_t ServerMetrics::ShedCount(size_t reason) const {
  uint64_t n = 0;
  for (const auto& r : routes_) n += r->shed[reason].load(std::memory_order_relaxed);
  return n;
}

namespace {

// Escapes a Prometheus label value. The text format is UTF-8, and one
// invalid label value makes a scraper refuse the whole page: a route name is
// a decoded path and may hold any bytes (a pattern "/caf\xE9" serves
// /caf%E9), so bytes that are not well-formed UTF-8 are written as their
// Latin-1 reading, as AppendJsonString does for /status.json.
std::string LabelValue(std::string_view v) {
  std::string utf8;
  http::AppendAsUtf8(v, &utf8);
  std::string out;
  for (char c : utf8) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

void AppendScalar(std::string* out, std::string_view name,
                  std::string_view type, std::string_view help, int64_t v) {
  absl::StrAppendFormat(out, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help,
                        name, type, name, v);
}

}  // namespace

void ServerMetrics::AppendEstimates(std::string_view name,
                                    std::string_view help,
                                    EstimateGauge RouteMetrics::*member,
                                    std::string* out) const {
  absl::StrAppendFormat(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
  for (size_t route = 0; route + 1 < routes_.size(); ++route) {
    const RouteMetrics& r = *routes_[route];
    const EstimateGauge& e = r.*member;
    if (!e.set.load(std::memory_order_relaxed)) continue;
    for (const auto& [stat, ns] :
         {std::pair<std::string_view, const std::atomic<int64_t>*>{"mean", &e.mean_ns},
          {"deviation", &e.dev_ns}}) {
      absl::StrAppendFormat(out, "%s{route=\"%s\",stat=\"%s\"} %.9f\n", name,
                            LabelValue(r.name), stat,
                            static_cast<double>(ns->load(std::memory_order_relaxed)) / 1e9);
    }
  }
}

void ServerMetrics::AppendBatchFamilies(std::string* out) const {
  *out +=
      "# HELP brisk_batch_size Requests per batch, by route.\n"
      "# TYPE brisk_batch_size histogram\n";
  for (size_t route = 0; route + 1 < routes_.size(); ++route) {
    const RouteMetrics* r = routes_[route].get();
    if (!r->batch && r->batch_size.count() == 0) continue;
    r->batch_size.AppendPrometheus("brisk_batch_size",
                                   absl::StrCat("route=\"", LabelValue(r->name), "\""), out);
  }
  *out +=
      "# HELP brisk_batch_wait_seconds How long a batch's oldest request "
      "waited for the batch to start, by route.\n"
      "# TYPE brisk_batch_wait_seconds histogram\n";
  for (size_t route = 0; route + 1 < routes_.size(); ++route) {
    const RouteMetrics* r = routes_[route].get();
    if (!r->batch && r->batch_wait.count() == 0) continue;
    r->batch_wait.AppendPrometheus("brisk_batch_wait_seconds",
                                   absl::StrCat("route=\"", LabelValue(r->name), "\""), out);
  }
  *out +=
      "# HELP brisk_batch_cost_seconds The learned batch cost model "
      "a + b*n per route (term=\"fixed\" is a, term=\"per_item\" is b).\n"
      "# TYPE brisk_batch_cost_seconds gauge\n";
  for (size_t route = 0; route + 1 < routes_.size(); ++route) {
    const RouteMetrics* r = routes_[route].get();
    if (!r->has_batch_cost.load(std::memory_order_relaxed)) continue;
    absl::StrAppendFormat(
        out, "brisk_batch_cost_seconds{route=\"%s\",term=\"fixed\"} %.9f\n", LabelValue(r->name),
        static_cast<double>(r->batch_fixed_ns.load(std::memory_order_relaxed)) / 1e9);
    absl::StrAppendFormat(
        out, "brisk_batch_cost_seconds{route=\"%s\",term=\"per_item\"} %.9f\n", LabelValue(r->name),
        static_cast<double>(r->batch_per_item_ns.load(std::memory_order_relaxed)) / 1e9);
  }
}

void ServerMetrics::AppendPrometheus(std::string* out) const {
  auto load = [](const auto& a) {
    return static_cast<int64_t>(a.load(std::memory_order_relaxed));
  };
  *out += "# HELP brisk_requests_total Requests answered, by route and status.\n"
          "# TYPE brisk_requests_total counter\n";
  for (const auto& r : routes_) {
    for (size_t i = 0; i < r->status_counts.size(); ++i) {
      const uint64_t c = r->status_counts[i].load(std::memory_order_relaxed);
      if (c == 0 && !r->written_at_zero[i]) continue;
      absl::StrAppendFormat(out,
                            "brisk_requests_total{route=\"%s\",status=\"%d\"} %d\n",
                            LabelValue(r->name), i + 100, c);
    }
  }
  const std::pair<const char*, const char*> histograms[] = {
      {"brisk_queue_wait_seconds", "Time offloaded requests waited for a worker."},
      {"brisk_handler_seconds", "Handler run time."},
      {"brisk_request_seconds",
       "Request parsed to response queued for writing (0 for answers made inline on the "
       "reactor: timed at the loop turn that parsed them)."},
  };
  for (int h = 0; h < 3; ++h) {
    absl::StrAppendFormat(out, "# HELP %s %s\n# TYPE %s histogram\n",
                          histograms[h].first, histograms[h].second,
                          histograms[h].first);
    for (const auto& r : routes_) {
      const Histogram& hist =
          h == 0 ? r->queue_wait : (h == 1 ? r->handler : r->total);
      if (hist.count() == 0) continue;
      hist.AppendPrometheus(histograms[h].first,
                            absl::StrCat("route=\"", LabelValue(r->name), "\""),
                            out);
    }
  }
  *out += "# HELP brisk_shed_total Requests answered without running, by "
          "route and reason: refused at arrival, or taken from the queue "
          "unrun (expired_in_queue: with too little time left to run, "
          "refused like the others; with its deadline already past, answered "
          "503 deadline exceeded and also counted in "
          "brisk_deadline_exceeded_total).\n# TYPE brisk_shed_total counter\n";
  // Unmatched too: OPTIONS * (no route, answered by the server) can be
  // refused for body memory like any request with a body.
  for (size_t route = 0; route < routes_.size(); ++route) {
    const RouteMetrics* r = routes_[route].get();
    for (size_t i = 0; i < kShedReasonNames.size(); ++i) {
      absl::StrAppendFormat(
          out, "brisk_shed_total{route=\"%s\",reason=\"%s\"} %d\n",
          LabelValue(r->name), std::string(kShedReasonNames[i]),
          r->shed[i].load(std::memory_order_relaxed));
    }
  }
  *out += "# HELP brisk_worker_seconds_total Worker time spent in handlers, "
          "by route and outcome, counted once a request's outcome is final "
          "(useful: a 2xx the client got in time; late: a result dropped or "
          "answered 503 because the deadline or a disconnect came first, or a "
          "stream cut short; other).\n# TYPE brisk_worker_seconds_total counter\n";
  for (size_t route = 0; route + 1 < routes_.size(); ++route) {
    const RouteMetrics* r = routes_[route].get();
    for (size_t i = 0; i < kWorkOutcomeNames.size(); ++i) {
      absl::StrAppendFormat(
          out, "brisk_worker_seconds_total{route=\"%s\",outcome=\"%s\"} %.9f\n",
          LabelValue(r->name), std::string(kWorkOutcomeNames[i]),
          static_cast<double>(r->worker_ns[i].load(std::memory_order_relaxed)) / 1e9);
    }
  }
  AppendEstimates(
      "brisk_service_time_estimate_seconds",
      "The admission policy's learned handler time per route: how long a "
      "request holds its worker (EWMA mean and mean deviation).",
      &RouteMetrics::service_estimate, out);
  AppendEstimates(
      "brisk_time_to_answer_estimate_seconds",
      "The admission policy's learned time from a handler's start to its "
      "answer per route, what a deadline must cover (EWMA mean and mean "
      "deviation); below the handler time for a stream, above it for an "
      "async answer.",
      &RouteMetrics::answer_estimate, out);
  // Batch routes: the three families only on a server that has one (a
  // family with no samples would only say the server could batch).
  bool any_batch = false;
  for (size_t route = 0; route + 1 < routes_.size(); ++route) {
    const RouteMetrics* r = routes_[route].get();
    any_batch = any_batch || r->batch || r->batch_size.count() > 0 ||
                r->has_batch_cost.load(std::memory_order_relaxed);
  }
  if (any_batch) AppendBatchFamilies(out);
  // The routes' shares of the two gauges below (the unmatched route never
  // offloads a request).
  const auto append_route_gauge = [&](std::string_view name, std::string_view help,
                                      std::atomic<int64_t> RouteMetrics::*member) {
    absl::StrAppendFormat(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    for (size_t route = 0; route + 1 < routes_.size(); ++route) {
      const RouteMetrics& r = *routes_[route];
      absl::StrAppendFormat(out, "%s{route=\"%s\"} %d\n", name, LabelValue(r.name),
                            (r.*member).load(std::memory_order_relaxed));
    }
  };
  append_route_gauge("brisk_route_in_flight_requests",
                     "Offloaded requests queued or running, by route (of "
                     "brisk_in_flight_requests).",
                     &RouteMetrics::in_flight);
  append_route_gauge("brisk_route_queue_depth",
                     "Offloaded requests waiting for a worker, by route (of brisk_queue_depth).",
                     &RouteMetrics::queue_depth);
  AppendScalar(out, "brisk_deadline_exceeded_total", "counter",
               "Offloaded requests answered 503 at their deadline.",
               load(deadline_exceeded));
  *out +=
      "# HELP brisk_route_deadline_exceeded_total Offloaded requests answered 503 at their "
      "deadline, by route (of brisk_deadline_exceeded_total).\n"
      "# TYPE brisk_route_deadline_exceeded_total counter\n";
  for (size_t route = 0; route + 1 < routes_.size(); ++route) {
    const RouteMetrics& r = *routes_[route];
    absl::StrAppendFormat(out, "brisk_route_deadline_exceeded_total{route=\"%s\"} %d\n",
                          LabelValue(r.name), load(r.deadline_exceeded));
  }
  AppendScalar(out, "brisk_deadline_exceeded_in_queue_total", "counter",
               "Of brisk_deadline_exceeded_total, those whose handler never ran (their "
               "deadline passed in the queue), also counted in "
               "brisk_shed_total{reason=\"expired_in_queue\"}: shed + deadline_exceeded - this "
               "counts each request answered without a result once.",
               load(deadline_in_queue));
  AppendScalar(out, "brisk_late_results_dropped_total", "counter",
               "Handler results dropped because the deadline answer or the client's "
               "departure came first.",
               load(late_results_dropped));
  AppendScalar(out, "brisk_handler_exceptions_total", "counter",
               "Handlers that threw, or batch handlers that did not give one answer per member "
               "(answered 500).",
               load(handler_exceptions));
  AppendScalar(out, "brisk_responders_dropped_total", "counter",
               "Responders destroyed without an answer (answered 500).",
               load(responders_dropped));
  AppendScalar(out, "brisk_stream_overruns_total", "counter",
               "Streams cut off because their handler, told the buffer was full, wrote "
               "4x its limit more without waiting.",
               load(stream_overruns));
  AppendScalar(out, "brisk_in_flight_requests", "gauge",
               "Offloaded requests queued or running.", load(in_flight));
  AppendScalar(out, "brisk_queue_depth", "gauge",
               "Offloaded requests waiting for a worker.", load(queue_depth));
  AppendScalar(out, "brisk_request_body_bytes_held", "gauge",
               "Bytes of request bodies held: being received, queued or with "
               "their handler (refused past --max_body_memory: shed reason "
               "body_memory).",
               load(body_bytes_held));
  AppendScalar(out, "brisk_open_connections", "gauge", "Open client connections.",
               load(open_connections));
  AppendScalar(out, "brisk_connection_errors_total", "counter",
               "Connections ended by an error of the server's own (out of memory, "
               "of epoll watches, of buffers); their unanswered requests are logged 500.",
               load(connection_errors));
  AppendScalar(out, "brisk_accepted_connections_total", "counter",
               "Connections accepted.", load(accepted_connections));
  AppendScalar(out, "brisk_rejected_connections_total", "counter",
               "Connections closed at once: over --max_connections.",
               load(rejected_connections));
  AppendScalar(out, "brisk_accept_fd_limit_total", "counter",
               "Accepts that found the open-file limit reached (EMFILE/ENFILE): "
               "new connections waited in the backlog.",
               load(accept_fd_limit));
  AppendScalar(out, "brisk_accept_errors_total", "counter",
               "Accepts that failed with an error of the listener itself (not the "
               "open-file limit, not the pending connection's): the listener was "
               "left alone 100 ms.",
               load(accept_errors));
  *out += "# HELP brisk_proxy_protocol_headers_total PROXY protocol headers taken "
          "(--proxy_protocol), by version.\n"
          "# TYPE brisk_proxy_protocol_headers_total counter\n";
  absl::StrAppendFormat(out, "brisk_proxy_protocol_headers_total{version=\"1\"} %d\n",
                        load(proxy_headers_v1));
  absl::StrAppendFormat(out, "brisk_proxy_protocol_headers_total{version=\"2\"} %d\n",
                        load(proxy_headers_v2));
  *out += "# HELP brisk_proxy_protocol_refused_total Connections closed for their PROXY "
          "protocol header: invalid or unfinished, or sent by a peer outside "
          "--trusted_proxies.\n"
          "# TYPE brisk_proxy_protocol_refused_total counter\n";
  absl::StrAppendFormat(out, "brisk_proxy_protocol_refused_total{reason=\"invalid\"} %d\n",
                        load(proxy_refused_invalid));
  absl::StrAppendFormat(out,
                        "brisk_proxy_protocol_refused_total{reason=\"untrusted_peer\"} %d\n",
                        load(proxy_refused_untrusted));
  AppendScalar(out, "brisk_access_log_lost_lines_total", "counter",
               "Access-log lines lost to failed writes (full disk, closed pipe).",
               load(access_log_lost_lines));
  *out += "# HELP brisk_timeouts_total Connections closed by a timeout, by kind.\n"
          "# TYPE brisk_timeouts_total counter\n";
  absl::StrAppendFormat(out, "brisk_timeouts_total{kind=\"header\"} %d\n",
                        load(timeouts_header));
  absl::StrAppendFormat(out, "brisk_timeouts_total{kind=\"idle\"} %d\n",
                        load(timeouts_idle));
  absl::StrAppendFormat(out, "brisk_timeouts_total{kind=\"write\"} %d\n",
                        load(timeouts_write));
  AppendScalar(out, "brisk_bad_requests_total", "counter",
               "Requests the parser refused: malformed (400), over a size limit (413 from a "
               "declared or chunked length, 414, 431), an HTTP version not served (505), a "
               "method too long or a transfer coding not known (501); and "
               "plain HTTP sent to a TLS port.",
               load(bad_requests));
  absl::StrAppendFormat(out,
                        "# HELP brisk_start_time_seconds When the server started, Unix time.\n"
                        "# TYPE brisk_start_time_seconds gauge\n"
                        "brisk_start_time_seconds %.3f\n",
                        start_time_seconds.load(std::memory_order_relaxed));
  *out += "# HELP brisk_loop_lag_seconds How late reactor timers and posted "
          "tasks ran.\n# TYPE brisk_loop_lag_seconds histogram\n";
  loop_lag.AppendPrometheus("brisk_loop_lag_seconds", "", out);
  *out += "# HELP brisk_receive_lag_seconds How long received bytes waited in "
          "their socket (kernel receive time) before a reactor read them.\n"
          "# TYPE brisk_receive_lag_seconds histogram\n";
  receive_lag.AppendPrometheus("brisk_receive_lag_seconds", "", out);
}

void ServerMetrics::AppendJson(std::string* out) const {
  auto load = [](const auto& a) {
    return static_cast<int64_t>(a.load(std::memory_order_relaxed));
  };
  absl::StrAppend(out, "{\"bucket_bounds_us\":[",
                  absl::StrJoin(Histogram::kBoundsUs, ","), "],\"routes\":[");
  for (size_t i = 0; i < routes_.size(); ++i) {
    const RouteMetrics& r = *routes_[i];
    *out += i == 0 ? "{\"name\":" : ",{\"name\":";
    http::AppendJsonString(r.name, out);
    *out += ",\"requests\":{";
    bool first = true;
    for (size_t s = 0; s < r.status_counts.size(); ++s) {
      const uint64_t c = r.status_counts[s].load(std::memory_order_relaxed);
      if (c == 0) continue;
      absl::StrAppend(out, first ? "" : ",", "\"", s + 100, "\":", c);
      first = false;
    }
    *out += "},\"shed\":{";
    for (size_t k = 0; k < kShedReasonNames.size(); ++k) {
      *out += k == 0 ? "\"" : ",\"";
      out->append(kShedReasonNames[k]);
      absl::StrAppend(out, "\":", load(r.shed[k]));
    }
    absl::StrAppend(out, "},\"in_flight\":", load(r.in_flight),
                    ",\"queue_depth\":", load(r.queue_depth), ",\"latency\":");
    r.total.AppendJson(out);
    *out += ",\"queue_wait\":";
    r.queue_wait.AppendJson(out);
    *out += ",\"handler\":";
    r.handler.AppendJson(out);
    *out += "}";
  }
  absl::StrAppend(
      out, "],\"connections\":{\"open\":", load(open_connections),
      ",\"accepted\":", load(accepted_connections), ",\"rejected\":", load(rejected_connections),
      "},\"timeouts\":{\"header\":", load(timeouts_header), ",\"idle\":", load(timeouts_idle),
      ",\"write\":", load(timeouts_write), "},\"bad_requests\":", load(bad_requests),
      ",\"in_flight\":", load(in_flight), ",\"queue_depth\":", load(queue_depth),
      ",\"deadline_exceeded\":", load(deadline_exceeded),
      ",\"deadline_in_queue\":", load(deadline_in_queue),
      ",\"late_results_dropped\":", load(late_results_dropped),
      ",\"handler_exceptions\":", load(handler_exceptions),
      ",\"responders_dropped\":", load(responders_dropped),
      ",\"stream_overruns\":", load(stream_overruns),
      ",\"access_log_lost_lines\":", load(access_log_lost_lines), ",\"start_time_seconds\":",
      absl::StrFormat("%.3f", start_time_seconds.load(std::memory_order_relaxed)),
      ",\"loop_lag\":");
  loop_lag.AppendJson(out);
  *out += ",\"receive_lag\":";
  receive_lag.AppendJson(out);
  *out += "}";
}

}  // namespace brisk
