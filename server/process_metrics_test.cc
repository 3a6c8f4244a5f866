#include "server/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace brisk::internal {
namespace {

// A /proc/PID/stat line of a process whose name holds ") (": only the last
// ')' ends it. utime 250, stime 50, starttime 123456, vsize 987654321,
// rss 2048 pages.
constexpr char kStat[] =
    "4242 (brisk) (x 1) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 7 0 "
    "123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

TEST(ProcessMetricsTest, ParsesTheStatLinePastACommandNameWithParentheses) {
  const std::optional<ProcStat> s = ParseProcStat(kStat);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->utime_ticks, 250u);
  EXPECT_EQ(s->stime_ticks, 50u);
  EXPECT_EQ(s->start_ticks, 123456u);
  EXPECT_EQ(s->vsize_bytes, 987654321u);
  EXPECT_EQ(s->rss_pages, 2048u);
}

TEST(ProcessMetricsTest, AMalformedStatLineIsRefused) {
  EXPECT_FALSE(ParseProcStat("").has_value());
  EXPECT_FALSE(ParseProcStat("4242 brisk S 1").has_value());        // no ')'
  EXPECT_FALSE(ParseProcStat("4242 (brisk) S 1 2 3").has_value());  // too short
  std::string bad = kStat;
  bad.replace(bad.find(" 250 "), 5, " x50 ");
  EXPECT_FALSE(ParseProcStat(bad).has_value());
}

TEST(ProcessMetricsTest, FindsTheBootTime) {
  EXPECT_EQ(ParseBootTime("cpu  1 2 3\nintr 5\nbtime 1764892800\nprocesses 9\n"), 1764892800);
  EXPECT_FALSE(ParseBootTime("cpu  1 2 3\n").has_value());
  EXPECT_FALSE(ParseBootTime("btime soon\n").has_value());
}

// The value of the sample `name` in `page`, or -1.
double Sample(const std::string& page, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(page, '\n')) {
    if (std::string(line.substr(0, name.size() + 1)) != name + " ") continue;
    double v;
    if (absl::SimpleAtod(std::string(line.substr(name.size() + 1)), &v)) return v;
  }
  return -1;
}

TEST(ProcessMetricsTest, TheFamiliesOfThisProcess) {
  std::string page;
  AppendProcessMetrics(&page);
  // Open descriptors: counted without the one that lists them; a pipe
  // opened now adds two.
  const double before = Sample(page, "process_open_fds");
  ASSERT_GE(before, 3) << page;  // stdin, stdout, stderr at least
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  std::string after;
  AppendProcessMetrics(&after);
  close(p[0]);
  close(p[1]);
  EXPECT_EQ(Sample(after, "process_open_fds"), before + 2) << after;
  rlimit lim;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &lim), 0);
  EXPECT_EQ(Sample(page, "process_max_fds"), static_cast<double>(lim.rlim_cur)) << page;
  EXPECT_GT(Sample(page, "process_resident_memory_bytes"), 0) << page;
  EXPECT_GE(Sample(page, "process_virtual_memory_bytes"),
            Sample(page, "process_resident_memory_bytes"));
  EXPECT_GE(Sample(page, "process_cpu_seconds_total"), 0) << page;
  // Started before now, and after 2020.
  const double start = Sample(page, "process_start_time_seconds");
  EXPECT_GT(start, 1.5e9) << page;
  EXPECT_LE(start, static_cast<double>(time(nullptr)) + 1);
  // Each family has its HELP and TYPE once.
  for (const char* family : {"process_open_fds", "process_max_fds", "process_cpu_seconds_total",
                             "process_resident_memory_bytes", "process_virtual_memory_bytes",
                             "process_start_time_seconds"}) {
    const std::string type = std::string("# TYPE ") + family + " ";
    EXPECT_NE(page.find(type), std::string::npos) << family;
    EXPECT_EQ(page.find(type), page.rfind(type)) << family;
  }
}

}  // namespace
}  // namespace brisk::internal
