// Report: renders a RunStats for people (a few aligned lines), for scripts
// (one JSON line) and for plotting (CSV `percentile,latency_us`).
//
//   ReportInfo info{.target = "http://127.0.0.1:8080/hello", .rate = 1000,
//                   .duration = std::chrono::seconds(10)};
//   std::fputs(FormatReport(stats, info).c_str(), stdout);
//   std::puts(FormatJson(stats, info).c_str());
//   std::string csv = FormatLatencyCsv(stats.latencies);
//
// Rates: achieved send rate = sent / send_window, completion rate =
// completed / complete_window (both windows start at the end of the warm-up
// and last at least the measured duration).
//
// Pure functions over values; thread-compatible. They take RunStats by
// non-const reference only because percentiles sort the samples.
#ifndef BRISK_TOOLS_LOADGEN_REPORT_H_
#define BRISK_TOOLS_LOADGEN_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "net/clock.h"
#include "tools/loadgen/run_stats.h"

namespace brisk::loadgen {

struct ReportInfo {
  std::string target;      // e.g. "GET http://127.0.0.1:8080/hello"
  uint64_t rate = 0;       // target requests per second
  net::Duration duration{0};  // measured duration (after the warm-up)
  int connections = 0;
  int threads = 1;
  // Goodput SLA: 2xx answers within this count as good (0 = not reported).
  net::Duration sla{0};
};

// The percentiles of the summary: 50, 90, 99, 99.9, 99.99 and 100 (max).
std::vector<double> SummaryPercentiles();
// The percentiles of the CSV: 0..90 by 1, 90..99 by 0.5, 99..99.9 by 0.1,
// 99.9..99.99 by 0.01, 99.999 and 100.
std::vector<double> CsvPercentiles();

std::string FormatReport(RunStats& stats, const ReportInfo& info);
std::string FormatJson(RunStats& stats, const ReportInfo& info);
// "percentile,latency_us\n" then one line per CsvPercentiles() entry.
std::string FormatLatencyCsv(LatencyRecorder& latencies);

}  // namespace brisk::loadgen

#endif  // BRISK_TOOLS_LOADGEN_REPORT_H_
