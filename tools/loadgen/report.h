// Report: renders a RunStats for people (a few aligned lines), for scripts
// (one JSON line) and for plotting (CSV `percentile,latency_us`); a mix of
// request classes as the whole run followed by one section per class.
//
//   ReportInfo info{.target = "http://127.0.0.1:8080/hello", .rate = 1000,
//                   .duration = std::chrono::seconds(10)};
//   std::fputs(FormatReport(stats, info).c_str(), stdout);
//   std::puts(FormatJson(stats, info).c_str());
//   std::string csv = FormatLatencyCsv(stats.latencies);
//
//   std::vector<ClassReport> classes = ...;  // one per class
//   std::puts(FormatMixJson(classes, run_info).c_str());
//
// Goodput: the 2xx answers within the SLA, per second of the measured
// duration; in a mix each class counts within its own SLA and the run's
// goodput is the sum.
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
  std::string name;        // a class's name (mix reports); empty for a run
  std::string target;      // e.g. "GET http://127.0.0.1:8080/hello"
  uint64_t rate = 0;       // target requests per second
  net::Duration duration{0};  // measured duration (after the warm-up)
  int connections = 0;
  int threads = 1;
  // Goodput SLA: 2xx answers within this count as good (0 = not reported).
  net::Duration sla{0};
};

// One class of a mix: what was asked (name, target, rate, connections, sla;
// duration and threads as for the run) and what it measured.
struct ClassReport {
  ReportInfo info;
  RunStats stats;
};

// The percentiles of the summary: 50, 90, 99, 99.9, 99.99 and 100 (max).
std::vector<double> SummaryPercentiles();
// The percentiles of the CSV: 0..90 by 1, 90..99 by 0.5, 99..99.9 by 0.1,
// 99.9..99.99 by 0.01, 99.99..99.999 by 0.001, and 100.
std::vector<double> CsvPercentiles();

std::string FormatReport(RunStats& stats, const ReportInfo& info);
std::string FormatJson(RunStats& stats, const ReportInfo& info);

// A mix: `run` describes the whole run (target = the server, rate and
// connections = the classes' sums); the classes are merged for the run's
// figures, then each is reported with its own name, target and SLA. The
// JSON object has the keys of FormatJson for the merged run (without
// sla_us; ok_within_sla and goodput_rps are the classes' sums) plus
// "classes": one object per class with "name" and the keys of FormatJson.
std::string FormatMixReport(std::vector<ClassReport>& classes, const ReportInfo& run);
std::string FormatMixJson(std::vector<ClassReport>& classes, const ReportInfo& run);
// "percentile,latency_us\n" then one line per CsvPercentiles() entry.
std::string FormatLatencyCsv(LatencyRecorder& latencies);

}  // namespace brisk::loadgen

#endif  // BRISK_TOOLS_LOADGEN_REPORT_H_
