#include "tools/loadgen/report.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace brisk::loadgen {
namespace {

double Seconds(net::Duration d) {
  return std::chrono::duration<double>(d).count();
}

double PerSecond(uint64_t count, net::Duration window) {
  double s = Seconds(window);
  return s > 0 ? static_cast<double>(count) / s : 0.0;
}

// "p50", "p99.9", "max".
std::string PercentileLabel(double p) {
  return p >= 100.0 ? "max" : absl::StrFormat("p%g", p);
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

uint32_t SlaMicros(const ReportInfo& info) {
  return static_cast<uint32_t>(std::min<int64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(info.sla).count(),
      UINT32_MAX));
}

std::vector<double> SummaryPercentiles() {
  return {50, 90, 99, 99.9, 99.99, 100};
}

// " p50 107 p90 162 ... max 8054 mean 231.6 (4000 samples)" after `label`.
void AppendLatencyText(std::string_view label, LatencyRecorder& r,
                       std::string* out) {
  out->append(label);
  for (double p : SummaryPercentiles()) {
    absl::StrAppendFormat(out, " %s %d", PercentileLabel(p), r.Percentile(p));
  }
  absl::StrAppendFormat(out, " mean %.1f (%d samples)\n", r.Mean(), r.count());
}

// ,"name":{"p50":..,"max":..,"mean":..,"samples":..}
void AppendLatencyJson(std::string_view name, LatencyRecorder& r,
                       std::string* out) {
  absl::StrAppend(out, ",\"", std::string(name), "\":{");
  for (double p : SummaryPercentiles()) {
    absl::StrAppend(out, "\"", PercentileLabel(p), "\":", r.Percentile(p), ",");
  }
  absl::StrAppend(out, "\"mean\":", absl::StrFormat("%.1f", r.Mean()),
                  ",\"samples\":", r.count(), "}");
}

std::vector<double> CsvPercentiles() {
  // Integer steps in units of 0.001 so the values print exactly.
  std::vector<double> out;
  auto range = [&](int from, int to, int step) {
    for (int p = from; p < to; p += step) out.push_back(p / 1000.0);
  };
  range(0, 90'000, 1'000);
  range(90'000, 99'000, 500);
  range(99'000, 99'900, 100);
  range(99'900, 99'990, 10);
  out.push_back(99.99);
  out.push_back(99.999);
  out.push_back(100.0);
  return out;
}

std::string FormatReport(RunStats& stats, const ReportInfo& info) {
  std::string out;
  absl::StrAppendFormat(&out, "target      %s (%d thread%s, %d connections, %.3gs)\n",
                        info.target, info.threads, info.threads == 1 ? "" : "s",
                        info.connections, Seconds(info.duration));
  absl::StrAppendFormat(
      &out, "rate        target %d req/s, sent %.1f req/s, completed %.1f req/s\n",
      info.rate, PerSecond(stats.sent, stats.send_window),
      PerSecond(stats.completed, stats.complete_window));
  absl::StrAppendFormat(&out, "requests    scheduled %d, sent %d, completed %d\n",
                        stats.scheduled, stats.sent, stats.completed);
  out += "status     ";
  if (stats.status_counts.empty()) out += " none";
  for (const auto& [code, n] : stats.status_counts) {
    absl::StrAppendFormat(&out, " %d: %d", code, n);
  }
  out += "\n";
  absl::StrAppendFormat(&out,
                        "errors      connect %d, closed %d, timeout %d, parse %d\n",
                        stats.errors.connect, stats.errors.closed,
                        stats.errors.timeout, stats.errors.parse);
  AppendLatencyText("latency us ", stats.latencies, &out);
  AppendLatencyText("2xx only   ", stats.latencies_ok, &out);
  if (info.sla > net::Duration(0)) {
    const uint64_t good = stats.latencies_ok.CountAtMost(SlaMicros(info));
    absl::StrAppendFormat(&out, "goodput     %d 2xx within %d us (%.1f req/s over %.3g s)\n",
                          good, SlaMicros(info),
                          static_cast<double>(good) / Seconds(info.duration),
                          Seconds(info.duration));
  }
  absl::StrAppendFormat(&out, "send delay  p50 %d p99 %d max %d us\n",
                        stats.send_delay.Percentile(50),
                        stats.send_delay.Percentile(99), stats.send_delay.Max());
  return out;
}

std::string FormatJson(RunStats& stats, const ReportInfo& info) {
  std::string out = absl::StrCat(
      "{\"target\":", JsonString(info.target), ",\"rate\":", info.rate,
      ",\"duration_s\":", absl::StrFormat("%.6g", Seconds(info.duration)),
      ",\"connections\":", info.connections, ",\"threads\":", info.threads,
      ",\"scheduled\":", stats.scheduled, ",\"sent\":", stats.sent,
      ",\"completed\":", stats.completed, ",\"send_rate\":",
      absl::StrFormat("%.1f", PerSecond(stats.sent, stats.send_window)),
      ",\"completion_rate\":",
      absl::StrFormat("%.1f", PerSecond(stats.completed, stats.complete_window)),
      ",\"status\":{");
  const char* sep = "";
  for (const auto& [code, n] : stats.status_counts) {
    absl::StrAppend(&out, sep, "\"", code, "\":", n);
    sep = ",";
  }
  absl::StrAppend(&out, "},\"errors\":{\"connect\":", stats.errors.connect,
                  ",\"closed\":", stats.errors.closed,
                  ",\"timeout\":", stats.errors.timeout,
                  ",\"parse\":", stats.errors.parse, "}");
  AppendLatencyJson("latency_us", stats.latencies, &out);
  AppendLatencyJson("latency_ok_us", stats.latencies_ok, &out);
  if (info.sla > net::Duration(0)) {
    absl::StrAppend(&out, ",\"sla_us\":", SlaMicros(info), ",\"ok_within_sla\":",
                    stats.latencies_ok.CountAtMost(SlaMicros(info)));
  }
  absl::StrAppend(&out, ",\"send_delay_us\":{\"p50\":", stats.send_delay.Percentile(50),
                  ",\"p99\":", stats.send_delay.Percentile(99),
                  ",\"max\":", stats.send_delay.Max(), "}}");
  return out;
}

std::string FormatLatencyCsv(LatencyRecorder& latencies) {
  std::string out = "percentile,latency_us\n";
  for (double p : CsvPercentiles()) {
    absl::StrAppendFormat(&out, "%g,%d\n", p, latencies.Percentile(p));
  }
  return out;
}

}  // namespace brisk::loadgen
