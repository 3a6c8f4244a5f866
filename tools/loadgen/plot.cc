#include "tools/loadgen/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

// Keep in step with tools/bench/plot_latency.py: the same layout, the same
// arithmetic in the same order and the same number formats, so both write
// the same bytes for the same points.

namespace brisk::loadgen {
namespace {

constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                   "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                   "#bcbd22", "#17becf"};

// "%.1f" of a coordinate.
std::string Coord(double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.1f", v);
  return buffer;
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// Characters as a reader counts them (UTF-8 code points).
int CodePoints(const std::string& s) {
  return static_cast<int>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// The next value of 1, 2, 5, 10, 20, 50, ... after `v` (a value of it).
int64_t NextStep(int64_t v) {
  int64_t power = 1;
  while (power * 10 <= v) power *= 10;
  const int64_t mantissa = v / power;
  return mantissa == 1 ? 2 * power : mantissa == 2 ? 5 * power : 10 * power;
}

bool IsPowerOfTen(int64_t v) {
  while (v % 10 == 0) v /= 10;
  return v == 1;
}

bool HasData(const PlotSeries& s) {
  return std::any_of(s.points.begin(), s.points.end(),
                     [](const PlotPoint& p) { return p.latency_us > 0; });
}

double XOf(double percentile) {
  return kPlotLeft + PercentileDecades(percentile) / kPercentileDecades *
                         (kPlotRight - kPlotLeft);
}

}  // namespace

double PercentileDecades(double percentile) {
  if (percentile >= 100.0) return kPercentileDecades;
  const double decades = -std::log10((100.0 - percentile) / 100.0);
  return std::min<double>(std::max(decades, 0.0), kPercentileDecades);
}

std::vector<AxisTick> PercentileTicks() {
  const std::pair<double, const char*> ticks[] = {
      {0, "0%"},       {90, "90%"},        {99, "99%"},
      {99.9, "99.9%"}, {99.99, "99.99%"}, {99.999, "99.999%"}};
  std::vector<AxisTick> out;
  // Placed by decade index (exactly equally spaced), not by the rounded log.
  for (int i = 0; i <= kPercentileDecades; ++i) {
    out.push_back({ticks[i].first,
                   kPlotLeft + static_cast<double>(i) / kPercentileDecades *
                                   (kPlotRight - kPlotLeft),
                   ticks[i].second});
  }
  return out;
}

double LatencyAxis::Position(double latency_us) const {
  const double v = std::max(latency_us, 1.0);
  return kPlotBottom - (std::log10(v) - std::log10(static_cast<double>(low_us))) /
                           (std::log10(static_cast<double>(high_us)) -
                            std::log10(static_cast<double>(low_us))) *
                           (kPlotBottom - kPlotTop);
}

LatencyAxis ChooseLatencyAxis(double min_us, double max_us) {
  const double low = std::max(min_us, 1.0);
  const double high = std::max(max_us, low);
  LatencyAxis axis;
  axis.low_us = 1;
  while (static_cast<double>(NextStep(axis.low_us)) <= low) {
    axis.low_us = NextStep(axis.low_us);
  }
  axis.high_us = axis.low_us;
  while (static_cast<double>(axis.high_us) < high) axis.high_us = NextStep(axis.high_us);
  if (axis.high_us == axis.low_us) axis.high_us = NextStep(axis.low_us);
  int count = 0;
  for (int64_t v = axis.low_us; v <= axis.high_us; v = NextStep(v)) ++count;
  for (int64_t v = axis.low_us; v <= axis.high_us; v = NextStep(v)) {
    const bool labeled = count <= 10 || IsPowerOfTen(v);
    axis.ticks.push_back({static_cast<double>(v), axis.Position(static_cast<double>(v)),
                          labeled ? LatencyLabel(v) : ""});
  }
  return axis;
}

std::string LatencyLabel(int64_t us) {
  if (us < 1000) return std::to_string(us) + "\u00b5s";
  if (us < 1'000'000) return std::to_string(us / 1000) + "ms";
  return std::to_string(us / 1'000'000) + "s";
}

std::string RenderPercentilePlot(const std::vector<PlotSeries>& series,
                                 const std::string& title) {
  double min_us = std::numeric_limits<double>::infinity();
  double max_us = 0;
  for (const PlotSeries& s : series) {
    if (!HasData(s)) continue;
    for (const PlotPoint& p : s.points) {
      min_us = std::min(min_us, std::max(p.latency_us, 1.0));
      max_us = std::max(max_us, p.latency_us);
    }
  }
  if (max_us == 0) min_us = max_us = 1;
  const LatencyAxis axis = ChooseLatencyAxis(min_us, max_us);
  const std::vector<AxisTick> x_ticks = PercentileTicks();
  const std::string w = std::to_string(kPlotWidth);
  const std::string h = std::to_string(kPlotHeight);
  const std::string left = std::to_string(kPlotLeft);
  const std::string right = std::to_string(kPlotRight);
  const std::string top = std::to_string(kPlotTop);
  const std::string bottom = std::to_string(kPlotBottom);

  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + w + "\" height=\"" + h +
         "\" viewBox=\"0 0 " + w + " " + h +
         "\" font-family=\"sans-serif\" font-size=\"13\">\n";
  out += "<title>" + Escape(title) + "</title>\n";
  out += "<rect x=\"0\" y=\"0\" width=\"" + w + "\" height=\"" + h +
         "\" fill=\"#ffffff\"/>\n";
  out += "<text class=\"title\" x=\"" + std::to_string(kPlotWidth / 2) +
         "\" y=\"32\" text-anchor=\"middle\" font-size=\"17\">" + Escape(title) +
         "</text>\n";

  out += "<g class=\"grid\" stroke-width=\"1\">\n";
  for (const AxisTick& t : x_ticks) {
    out += "<line x1=\"" + Coord(t.position) + "\" y1=\"" + top + "\" x2=\"" +
           Coord(t.position) + "\" y2=\"" + bottom + "\" stroke=\"#d0d0d0\"/>\n";
  }
  for (const AxisTick& t : axis.ticks) {
    out += "<line x1=\"" + left + "\" y1=\"" + Coord(t.position) + "\" x2=\"" + right +
           "\" y2=\"" + Coord(t.position) + "\" stroke=\"" +
           (t.label.empty() ? "#ececec" : "#d0d0d0") + "\"/>\n";
  }
  out += "</g>\n";
  out += "<rect class=\"frame\" x=\"" + left + "\" y=\"" + top + "\" width=\"" +
         std::to_string(kPlotRight - kPlotLeft) + "\" height=\"" +
         std::to_string(kPlotBottom - kPlotTop) +
         "\" fill=\"none\" stroke=\"#444444\"/>\n";

  out += "<g class=\"x-ticks\" text-anchor=\"middle\">\n";
  for (const AxisTick& t : x_ticks) {
    out += "<text x=\"" + Coord(t.position) + "\" y=\"" +
           std::to_string(kPlotBottom + 20) + "\">" + t.label + "</text>\n";
  }
  out += "</g>\n<g class=\"y-ticks\" text-anchor=\"end\">\n";
  for (const AxisTick& t : axis.ticks) {
    if (t.label.empty()) continue;
    out += "<text x=\"" + std::to_string(kPlotLeft - 8) + "\" y=\"" +
           Coord(t.position + 4) + "\">" + t.label + "</text>\n";
  }
  out += "</g>\n";
  const std::string x_mid = std::to_string((kPlotLeft + kPlotRight) / 2);
  const std::string y_mid = std::to_string((kPlotTop + kPlotBottom) / 2);
  out += "<text class=\"x-label\" x=\"" + x_mid + "\" y=\"" +
         std::to_string(kPlotHeight - 14) +
         "\" text-anchor=\"middle\">Percentile</text>\n";
  out += "<text class=\"y-label\" x=\"20\" y=\"" + y_mid +
         "\" text-anchor=\"middle\" transform=\"rotate(-90 20 " + y_mid +
         ")\">Latency</text>\n";

  out += "<g class=\"series\" fill=\"none\" stroke-width=\"2\" stroke-linejoin=\"round\">\n";
  for (size_t i = 0; i < series.size(); ++i) {
    if (!HasData(series[i])) continue;
    out += "<polyline data-label=\"" + Escape(series[i].label) + "\" stroke=\"" +
           kColors[i % std::size(kColors)] + "\" points=\"";
    const char* sep = "";
    for (const PlotPoint& p : series[i].points) {
      out += sep + Coord(XOf(p.percentile)) + "," + Coord(axis.Position(p.latency_us));
      sep = " ";
    }
    out += "\"/>\n";
  }
  out += "</g>\n";

  std::vector<std::string> legend;
  int widest = 0;
  for (const PlotSeries& s : series) {
    legend.push_back(HasData(s) ? s.label : s.label + " (no data)");
    widest = std::max(widest, CodePoints(legend.back()));
  }
  const int lx = kPlotLeft + 12;
  const int ly = kPlotTop + 12;
  out += "<g class=\"legend\">\n";
  out += "<rect x=\"" + std::to_string(lx) + "\" y=\"" + std::to_string(ly) +
         "\" width=\"" + std::to_string(44 + 7 * widest) + "\" height=\"" +
         std::to_string(8 + 20 * static_cast<int>(legend.size())) +
         "\" fill=\"#ffffff\" fill-opacity=\"0.9\" stroke=\"#bbbbbb\"/>\n";
  for (size_t i = 0; i < legend.size(); ++i) {
    const int row = ly + 20 * static_cast<int>(i);
    out += "<line x1=\"" + std::to_string(lx + 8) + "\" y1=\"" + std::to_string(row + 14) +
           "\" x2=\"" + std::to_string(lx + 32) + "\" y2=\"" + std::to_string(row + 14) +
           "\" stroke=\"" + kColors[i % std::size(kColors)] +
           "\" stroke-width=\"2\"/>\n";
    out += "<text x=\"" + std::to_string(lx + 40) + "\" y=\"" + std::to_string(row + 18) +
           "\">" + Escape(legend[i]) + "</text>\n";
  }
  out += "</g>\n</svg>\n";
  return out;
}

}  // namespace brisk::loadgen
