#include "tools/loadgen/report.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string_view>
#include <utility>

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

uint32_t SlaMicros(net::Duration sla) {
  return static_cast<uint32_t>(std::clamp<int64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(sla).count(), 0,
      UINT32_MAX));
}

// 2xx answers within the class's SLA, or nothing when it has none.
std::optional<uint64_t> OkWithinSla(RunStats& stats, const ReportInfo& info) {
  if (info.sla <= net::Duration(0)) return std::nullopt;
  return stats.latencies_ok.CountAtMost(SlaMicros(info.sla));
}

// " p50 107 p90 162 ... max 8054 mean 231.6 (4000 samples)" after `label`.
void AppendLatencyText(std::string_view indent, std::string_view label,
                       LatencyRecorder& r, std::string* out) {
  absl::StrAppend(out, std::string(indent), std::string(label));
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

// The report lines after the target line, each after `indent`. `good`: the
// goodput count, described by `within` ("within 20000 us").
void AppendTextBody(RunStats& stats, const ReportInfo& info, std::string_view indent,
                    std::optional<uint64_t> good, std::string_view within,
                    std::string* out) {
  const std::string in(indent);
  absl::StrAppendFormat(
      out, "%srate        target %d req/s, sent %.1f req/s, completed %.1f req/s\n", in,
      info.rate, PerSecond(stats.sent, stats.send_window),
      PerSecond(stats.completed, stats.complete_window));
  absl::StrAppendFormat(out, "%srequests    scheduled %d, sent %d, completed %d, retried %d\n", in,
                        stats.scheduled, stats.sent, stats.completed, stats.retried);
  absl::StrAppend(out, in, "status     ");
  if (stats.status_counts.empty()) absl::StrAppend(out, " none");
  for (const auto& [code, n] : stats.status_counts) {
    absl::StrAppendFormat(out, " %d: %d", code, n);
  }
  absl::StrAppend(out, "\n");
  absl::StrAppendFormat(out,
                        "%serrors      connect %d, closed %d, timeout %d, parse %d "
                        "(timed out before sending %d, after sending %d)\n",
                        in, stats.errors.connect, stats.errors.closed, stats.errors.timeout,
                        stats.errors.parse, stats.errors.timeout_before_send,
                        stats.errors.timeout_after_send());
  AppendLatencyText(indent, "latency us ", stats.latencies, out);
  AppendLatencyText(indent, "2xx only   ", stats.latencies_ok, out);
  AppendLatencyText(indent, "non-2xx    ", stats.latencies_non2xx, out);
  if (good.has_value()) {
    absl::StrAppendFormat(out, "%sgoodput     %d 2xx %s (%.1f req/s over %.3g s)\n", in,
                          *good, std::string(within), PerSecond(*good, info.duration),
                          Seconds(info.duration));
  }
  absl::StrAppendFormat(out, "%ssend delay  p50 %d p99 %d max %d us\n", in,
                        stats.send_delay.Percentile(50),
                        stats.send_delay.Percentile(99), stats.send_delay.Max());
}

// The keys of one JSON object, from "target" to "send_delay_us", without
// the braces. `good`: ok_within_sla and goodput_rps when set; sla_us when
// the info has an SLA.
void AppendJsonBody(RunStats& stats, const ReportInfo& info,
                    std::optional<uint64_t> good, std::string* out) {
  absl::StrAppend(
      out, "\"target\":", JsonString(info.target), ",\"rate\":", info.rate,
      ",\"duration_s\":", absl::StrFormat("%.6g", Seconds(info.duration)),
      ",\"connections\":", info.connections, ",\"threads\":", info.threads,
      ",\"scheduled\":", stats.scheduled, ",\"sent\":", stats.sent,
      ",\"completed\":", stats.completed, ",\"retried\":", stats.retried,
      ",\"send_rate\":", absl::StrFormat("%.1f", PerSecond(stats.sent, stats.send_window)),
      ",\"completion_rate\":",
      absl::StrFormat("%.1f", PerSecond(stats.completed, stats.complete_window)), ",\"status\":{");
  const char* sep = "";
  for (const auto& [code, n] : stats.status_counts) {
    absl::StrAppend(out, sep, "\"", code, "\":", n);
    sep = ",";
  }
  absl::StrAppend(out, "},\"errors\":{\"connect\":", stats.errors.connect,
                  ",\"closed\":", stats.errors.closed,
                  ",\"timeout\":", stats.errors.timeout,
                  ",\"parse\":", stats.errors.parse, "}");
  // Apart from "errors", whose values scripts sum (tools/bench/*.sh).
  absl::StrAppend(out, ",\"timeouts\":{\"before_send\":", stats.errors.timeout_before_send,
                  ",\"after_send\":", stats.errors.timeout_after_send(), "}");
  AppendLatencyJson("latency_us", stats.latencies, out);
  AppendLatencyJson("latency_ok_us", stats.latencies_ok, out);
  AppendLatencyJson("latency_non2xx_us", stats.latencies_non2xx, out);
  if (info.sla > net::Duration(0)) {
    absl::StrAppend(out, ",\"sla_us\":", SlaMicros(info.sla));
  }
  if (good.has_value()) {
    absl::StrAppend(out, ",\"ok_within_sla\":", *good, ",\"goodput_rps\":",
                    absl::StrFormat("%.1f", PerSecond(*good, info.duration)));
    if (info.sla > net::Duration(0)) {
      // The same count timed from the send: the 2xx the server itself
      // delivered within the budget it was given.
      absl::StrAppend(out, ",\"ok_within_sla_from_send\":",
                      stats.latencies_ok_from_send.CountAtMost(SlaMicros(info.sla)));
    }
  }
  absl::StrAppend(out, ",\"send_delay_us\":{\"p50\":", stats.send_delay.Percentile(50),
                  ",\"p99\":", stats.send_delay.Percentile(99),
                  ",\"max\":", stats.send_delay.Max(), "}");
}

std::string TargetLine(const ReportInfo& info) {
  return absl::StrFormat("target      %s (%d thread%s, %d connections, %.3gs)\n",
                         info.target, info.threads, info.threads == 1 ? "" : "s",
                         info.connections, Seconds(info.duration));
}

// The classes merged, and the sum of their goodput counts (each within its
// own SLA; nothing when no class has an SLA).
std::pair<RunStats, std::optional<uint64_t>> MergeClasses(
    std::vector<ClassReport>& classes) {
  RunStats total;
  std::optional<uint64_t> good;
  for (ClassReport& c : classes) {
    total.Merge(c.stats);
    if (std::optional<uint64_t> g = OkWithinSla(c.stats, c.info)) {
      good = good.value_or(0) + *g;
    }
  }
  return {std::move(total), good};
}

}  // namespace

std::vector<double> SummaryPercentiles() {
  return {50, 90, 99, 99.9, 99.99, 100};
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
  range(99'990, 100'000, 1);
  out.push_back(100.0);
  return out;
}

std::string FormatReport(RunStats& stats, const ReportInfo& info) {
  std::string out = TargetLine(info);
  AppendTextBody(stats, info, "", OkWithinSla(stats, info),
                 absl::StrCat("within ", SlaMicros(info.sla), " us"), &out);
  return out;
}

std::string FormatJson(RunStats& stats, const ReportInfo& info) {
  std::string out = "{";
  AppendJsonBody(stats, info, OkWithinSla(stats, info), &out);
  return out + "}";
}

std::string FormatMixReport(std::vector<ClassReport>& classes, const ReportInfo& run) {
  auto [total, good] = MergeClasses(classes);
  std::string out = TargetLine(run);
  AppendTextBody(total, run, "", good, "within their class's SLA", &out);
  for (ClassReport& c : classes) {
    absl::StrAppendFormat(&out, "class %s  %s (%d connections", c.info.name,
                          c.info.target, c.info.connections);
    if (c.info.sla > net::Duration(0)) {
      absl::StrAppendFormat(&out, ", SLA %d us", SlaMicros(c.info.sla));
    }
    out += ")\n";
    AppendTextBody(c.stats, c.info, "  ", OkWithinSla(c.stats, c.info),
                   absl::StrCat("within ", SlaMicros(c.info.sla), " us"), &out);
  }
  return out;
}

std::string FormatMixJson(std::vector<ClassReport>& classes, const ReportInfo& run) {
  auto [total, good] = MergeClasses(classes);
  ReportInfo run_info = run;
  run_info.sla = net::Duration(0);  // each class has its own
  std::string out = "{";
  AppendJsonBody(total, run_info, good, &out);
  out += ",\"classes\":[";
  for (size_t i = 0; i < classes.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"name\":", JsonString(classes[i].info.name),
                    ",");
    AppendJsonBody(classes[i].stats, classes[i].info,
                   OkWithinSla(classes[i].stats, classes[i].info), &out);
    out += "}";
  }
  return out + "]}";
}

std::string FormatLatencyCsv(LatencyRecorder& latencies) {
  std::string out = "percentile,latency_us\n";
  for (double p : CsvPercentiles()) {
    absl::StrAppendFormat(&out, "%g,%d\n", p, latencies.Percentile(p));
  }
  return out;
}

}  // namespace brisk::loadgen
