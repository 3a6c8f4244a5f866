// Percentile plot: latency by percentile, one line per series, as a
// self-contained SVG (no scripts, fonts or links; generic sans-serif), in the
// style of HdrHistogram's percentile-spectrum plots.
//
//   x: the percentile on the log scale of 1/(1 - p), ticks 0%, 90%, 99%,
//      99.9%, 99.99%, 99.999% equally spaced; p = 100 (the maximum) and
//      anything beyond 99.999% is drawn at the right edge.
//   y: latency on a log scale; the axis runs between 1-2-5 values (1, 2, 5,
//      10, 20, 50 ... µs) around the data, with a gridline at each and labels
//      in µs, ms or s (only at the powers of ten when there are more than 10).
//      Latencies under 1 µs (loadgen's resolution) are drawn at 1 µs.
//
//   PlotSeries fast{.label = "fast"};
//   for (double p : CsvPercentiles())
//     fast.points.push_back({p, double(latencies.Percentile(p))});
//   std::string svg = RenderPercentilePlot({fast, slow}, "overload at 2x");
//
// tools/bench/plot_latency.py renders loadgen CSV files with the same
// geometry, ticks and number formatting: given the same points, both write
// byte-identical SVG (plot_test and plot_latency_test check one golden file).
// A series with no points, or whose latencies are all 0 (loadgen's CSV of
// an empty distribution), draws no line; its legend entry says "no data".
//
// Pure functions; thread-safe.
#ifndef BRISK_TOOLS_LOADGEN_PLOT_H_
#define BRISK_TOOLS_LOADGEN_PLOT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace brisk::loadgen {

struct PlotPoint {
  double percentile = 0;  // 0..100
  double latency_us = 0;
};

struct PlotSeries {
  std::string label;
  std::vector<PlotPoint> points;  // in increasing percentile order
};

std::string RenderPercentilePlot(const std::vector<PlotSeries>& series,
                                 const std::string& title);

// The pieces of the plot, exposed for tests.

struct AxisTick {
  double value;       // percentile (x) or microseconds (y)
  double position;    // SVG coordinate: x for the percentile axis, y for latency
  std::string label;  // empty: a gridline without a label
};

// The geometry of the drawing area (SVG user units).
inline constexpr int kPlotWidth = 960;
inline constexpr int kPlotHeight = 600;
inline constexpr int kPlotLeft = 84;
inline constexpr int kPlotRight = 912;
inline constexpr int kPlotTop = 56;
inline constexpr int kPlotBottom = 536;
// The x axis spans this many powers of ten of 1/(1 - p): 0% .. 99.999%.
inline constexpr int kPercentileDecades = 5;

// -log10(1 - p/100), clamped to [0, kPercentileDecades].
double PercentileDecades(double percentile);
std::vector<AxisTick> PercentileTicks();

// The latency axis for data between `min_us` and `max_us`.
struct LatencyAxis {
  int64_t low_us = 1;   // bottom of the axis
  int64_t high_us = 2;  // top of the axis, > low_us
  std::vector<AxisTick> ticks;
  double Position(double latency_us) const;  // SVG y
};
LatencyAxis ChooseLatencyAxis(double min_us, double max_us);

// 500 -> "500µs", 2000 -> "2ms", 5000000 -> "5s" (whole values only).
std::string LatencyLabel(int64_t us);

}  // namespace brisk::loadgen

#endif  // BRISK_TOOLS_LOADGEN_PLOT_H_
