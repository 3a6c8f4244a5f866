#include "tools/loadgen/plot.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace brisk::loadgen {
namespace {

constexpr char kTestdata[] = "tools/loadgen/testdata/plot/";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A loadgen latency CSV ("percentile,latency_us" then rows) as plot points.
std::vector<PlotPoint> ReadCsv(const std::string& path) {
  std::vector<PlotPoint> points;
  std::istringstream lines(Slurp(path));
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "percentile,latency_us");
  while (std::getline(lines, line)) {
    PlotPoint p;
    EXPECT_EQ(std::sscanf(line.c_str(), "%lf,%lf", &p.percentile, &p.latency_us), 2)
        << line;
    points.push_back(p);
  }
  return points;
}

std::string OneDecimal(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f", v);
  return buffer;
}

// How many times `needle` occurs in `s`.
int Count(const std::string& s, const std::string& needle) {
  int n = 0;
  for (size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// The value of attribute `name` in the first element that starts with
// `element` (e.g. "<polyline data-label=\"a\"").
std::string Attribute(const std::string& svg, const std::string& element,
                      const std::string& name) {
  size_t at = svg.find(element);
  if (at == std::string::npos) return "<no element>";
  const size_t end = svg.find('>', at);
  at = svg.find(" " + name + "=\"", at);
  if (at == std::string::npos || at > end) return "<no attribute>";
  at += name.size() + 3;
  return svg.substr(at, svg.find('"', at) - at);
}

TEST(PlotTest, PercentileAxisIsDecadesOfOneOverOneMinusP) {
  EXPECT_DOUBLE_EQ(PercentileDecades(0), 0);
  EXPECT_NEAR(PercentileDecades(90), 1, 1e-12);
  EXPECT_NEAR(PercentileDecades(99), 2, 1e-12);
  EXPECT_NEAR(PercentileDecades(99.9), 3, 1e-9);
  EXPECT_NEAR(PercentileDecades(99.999), 5, 1e-9);
  EXPECT_NEAR(PercentileDecades(50), 0.30103, 1e-5);
  EXPECT_EQ(PercentileDecades(99.99999), kPercentileDecades);  // clamped
  EXPECT_EQ(PercentileDecades(100), kPercentileDecades);       // the max
  EXPECT_EQ(PercentileDecades(-1), 0);

  const std::vector<AxisTick> ticks = PercentileTicks();
  ASSERT_EQ(ticks.size(), 6u);
  const char* labels[] = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"};
  for (size_t i = 0; i < ticks.size(); ++i) {
    EXPECT_EQ(ticks[i].label, labels[i]);
    EXPECT_DOUBLE_EQ(ticks[i].position,
                     kPlotLeft + (kPlotRight - kPlotLeft) * static_cast<double>(i) / 5);
  }
  EXPECT_EQ(ticks.front().position, kPlotLeft);
  EXPECT_EQ(ticks.back().position, kPlotRight);
}

TEST(PlotTest, LatencyAxisRunsBetweenOneTwoFiveValuesAroundTheData) {
  struct Row {
    double min_us, max_us;
    int64_t low, high;
    std::vector<std::string> labels;  // "" for a gridline without a label
  };
  const Row rows[] = {
      {120, 25'000, 100, 50'000,
       {"100µs", "200µs", "500µs", "1ms", "2ms", "5ms", "10ms", "20ms", "50ms"}},
      // More than 10 gridlines: only the powers of ten are labelled.
      {50, 8'000'000, 50, 10'000'000,
       {"", "100µs", "", "", "1ms", "", "", "10ms", "", "", "100ms", "", "", "1s",
        "", "", "10s"}},
      {0, 0, 1, 2, {"1µs", "2µs"}},          // no data: the smallest axis
      {7, 7, 5, 10, {"5µs", "10µs"}},        // one value
      {1000, 1000, 1000, 2000, {"1ms", "2ms"}},  // exactly on a step
      {999, 1001, 500, 2000, {"500µs", "1ms", "2ms"}},
      {1'500'000, 3'000'000, 1'000'000, 5'000'000, {"1s", "2s", "5s"}},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(testing::Message() << row.min_us << ".." << row.max_us);
    LatencyAxis axis = ChooseLatencyAxis(row.min_us, row.max_us);
    EXPECT_EQ(axis.low_us, row.low);
    EXPECT_EQ(axis.high_us, row.high);
    std::vector<std::string> labels;
    for (const AxisTick& t : axis.ticks) labels.push_back(t.label);
    EXPECT_EQ(labels, row.labels);
    EXPECT_DOUBLE_EQ(axis.Position(static_cast<double>(row.low)), kPlotBottom);
    EXPECT_DOUBLE_EQ(axis.Position(static_cast<double>(row.high)), kPlotTop);
    for (size_t i = 1; i < axis.ticks.size(); ++i) {
      EXPECT_LT(axis.ticks[i].position, axis.ticks[i - 1].position);  // upwards
    }
  }
  // Log scale: each power of ten is the same height.
  LatencyAxis axis = ChooseLatencyAxis(1, 1000);
  EXPECT_NEAR(axis.Position(1) - axis.Position(10), axis.Position(100) - axis.Position(1000),
              1e-9);
  EXPECT_DOUBLE_EQ(axis.Position(0), axis.Position(1));  // below resolution
}

TEST(PlotTest, LatencyLabels) {
  EXPECT_EQ(LatencyLabel(1), "1µs");
  EXPECT_EQ(LatencyLabel(500), "500µs");
  EXPECT_EQ(LatencyLabel(1000), "1ms");
  EXPECT_EQ(LatencyLabel(200'000), "200ms");
  EXPECT_EQ(LatencyLabel(1'000'000), "1s");
  EXPECT_EQ(LatencyLabel(50'000'000), "50s");
}

TEST(PlotTest, SvgHasOneLinePerSeriesAtTheRightCoordinates) {
  PlotSeries fast{.label = "fast", .points = {{0, 100}, {90, 1000}, {99.9, 10'000}, {100, 20'000}}};
  PlotSeries slow{.label = "slow <&>", .points = {{0, 500}, {50, 700}, {100, 900}}};
  PlotSeries none{.label = "refused", .points = {{0, 0}, {100, 0}}};
  const std::string svg = RenderPercentilePlot({fast, slow, none}, "mixed \"SLA\" & more");

  EXPECT_EQ(svg.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
                      "width=\"960\" height=\"600\" viewBox=\"0 0 960 600\"",
                      0),
            0u)
      << svg.substr(0, 200);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  // Self-contained: no scripts, styles from elsewhere, images or links.
  EXPECT_EQ(Count(svg, "http"), 1);  // the xmlns
  for (const char* absent : {"<script", "<image", "@import", "href", "url("}) {
    EXPECT_EQ(svg.find(absent), std::string::npos) << absent;
  }
  // Balanced groups; a title, escaped.
  EXPECT_EQ(Count(svg, "<g "), Count(svg, "</g>"));
  EXPECT_NE(svg.find("<title>mixed &quot;SLA&quot; &amp; more</title>"), std::string::npos);

  // The axis spans 100 µs .. 20 ms: ticks 100µs .. 20ms.
  const LatencyAxis axis = ChooseLatencyAxis(100, 20'000);
  ASSERT_EQ(axis.low_us, 100);
  ASSERT_EQ(axis.high_us, 20'000);
  for (const char* label : {">100µs<", ">200µs<", ">500µs<", ">1ms<", ">2ms<", ">5ms<",
                            ">10ms<", ">20ms<", ">0%<", ">90%<", ">99.999%<"}) {
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  }

  // Two lines (the series without data has none), points in order.
  EXPECT_EQ(Count(svg, "<polyline "), 2);
  // x: 0%, 90%, 99.9% and the max at 0, 1, 3 and 5 fifths of 84..912.
  EXPECT_EQ(Attribute(svg, "<polyline data-label=\"fast\"", "points"),
            "84.0,536.0 249.6," + OneDecimal(axis.Position(1000)) + " 580.8," +
                OneDecimal(axis.Position(10'000)) + " 912.0,56.0");
  EXPECT_EQ(Attribute(svg, "<polyline data-label=\"slow &lt;&amp;&gt;\"", "stroke"), "#d62728");
  // 50% is log10(2) = 0.30103 decades: 84 + 0.30103 / 5 * 828 = 133.85.
  const std::string slow_points =
      Attribute(svg, "<polyline data-label=\"slow &lt;&amp;&gt;\"", "points");
  EXPECT_EQ(slow_points.substr(slow_points.find(' ') + 1, 6), "133.9,") << slow_points;
  // The legend names all three, the last one without data.
  EXPECT_NE(svg.find(">fast</text>"), std::string::npos);
  EXPECT_NE(svg.find(">slow &lt;&amp;&gt;</text>"), std::string::npos);
  EXPECT_NE(svg.find(">refused (no data)</text>"), std::string::npos);
}

// The same golden file as tools/bench/plot_latency_test.py: loadgen's plot
// and the comparison script draw the same picture from the same points.
TEST(PlotTest, MatchesThePythonScriptOnTheGoldenFile) {
  std::vector<PlotSeries> series = {
      {"brisk", ReadCsv(std::string(kTestdata) + "brisk.csv")},
      {"peer — thread pool, 1 µs", ReadCsv(std::string(kTestdata) + "peer.csv")},
      {"shed", ReadCsv(std::string(kTestdata) + "shed.csv")},
  };
  ASSERT_EQ(series[0].points.size(), 137u);
  const std::string svg = RenderPercentilePlot(series, "golden: brisk vs peer <&>");
  EXPECT_EQ(svg, Slurp(std::string(kTestdata) + "golden.svg"));
}

}  // namespace
}  // namespace brisk::loadgen
