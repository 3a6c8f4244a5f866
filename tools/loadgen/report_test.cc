#include "tools/loadgen/report.h"

#include <chrono>
#include <string>

#include "gtest/gtest.h"
#include "tools/loadgen/run_stats.h"

namespace brisk::loadgen {
namespace {

using std::chrono::microseconds;
using std::chrono::seconds;

TEST(LatencyRecorderTest, ExactNearestRankPercentiles) {
  LatencyRecorder r;
  // 1..1000 us in a scrambled order.
  for (uint32_t i = 0; i < 1000; ++i) r.RecordMicros((i * 7919) % 1000 + 1);
  EXPECT_EQ(r.count(), 1000u);
  EXPECT_EQ(r.Percentile(0), 1u);
  EXPECT_EQ(r.Percentile(50), 500u);
  EXPECT_EQ(r.Percentile(90), 900u);
  EXPECT_EQ(r.Percentile(99), 990u);
  EXPECT_EQ(r.Percentile(99.9), 999u);
  EXPECT_EQ(r.Percentile(99.99), 1000u);
  EXPECT_EQ(r.Max(), 1000u);
  EXPECT_DOUBLE_EQ(r.Mean(), 500.5);
}

TEST(LatencyRecorderTest, EmptySingleAndSaturation) {
  LatencyRecorder r;
  EXPECT_EQ(r.Percentile(50), 0u);
  EXPECT_EQ(r.Mean(), 0.0);
  r.Record(microseconds(42) + std::chrono::nanoseconds(999));  // truncated
  EXPECT_EQ(r.Percentile(0), 42u);
  EXPECT_EQ(r.Percentile(100), 42u);
  r.Record(std::chrono::hours(2));  // beyond uint32 microseconds
  EXPECT_EQ(r.Max(), 4'294'967'295u);
  r.Record(microseconds(-5));  // clock oddities never go negative
  EXPECT_EQ(r.Percentile(0), 0u);
}

TEST(LatencyRecorderTest, RecordAfterPercentileResorts) {
  LatencyRecorder r;
  r.RecordMicros(10);
  EXPECT_EQ(r.Max(), 10u);
  r.RecordMicros(5);
  EXPECT_EQ(r.Percentile(0), 5u);
  EXPECT_EQ(r.Max(), 10u);
}

TEST(RunStatsTest, MergeAddsCountsAndSamples) {
  RunStats a, b;
  a.scheduled = 10;
  a.sent = 9;
  a.completed = 8;
  a.status_counts[200] = 8;
  a.errors.timeout = 2;
  a.errors.timeout_before_send = 1;
  a.retried = 1;
  a.latencies.RecordMicros(100);
  a.send_window = seconds(1);
  b.scheduled = 5;
  b.sent = 5;
  b.completed = 5;
  b.status_counts[200] = 3;
  b.status_counts[503] = 2;
  b.errors.connect = 1;
  b.errors.timeout = 3;
  b.errors.timeout_before_send = 2;
  b.latencies.RecordMicros(50);
  b.latencies.RecordMicros(300);
  b.send_window = seconds(2);
  a.Merge(b);
  EXPECT_EQ(a.scheduled, 15u);
  EXPECT_EQ(a.sent, 14u);
  EXPECT_EQ(a.completed, 13u);
  EXPECT_EQ(a.retried, 1u);
  EXPECT_EQ(a.status_counts[200], 11u);
  EXPECT_EQ(a.status_counts[503], 2u);
  EXPECT_EQ(a.errors.timeout, 5u);
  EXPECT_EQ(a.errors.timeout_before_send, 3u);
  EXPECT_EQ(a.errors.timeout_after_send(), 2u);
  EXPECT_EQ(a.errors.connect, 1u);
  EXPECT_EQ(a.errors.requests(), 5u);
  EXPECT_EQ(a.latencies.count(), 3u);
  EXPECT_EQ(a.latencies.Percentile(50), 100u);
  EXPECT_EQ(a.latencies.Max(), 300u);
  EXPECT_EQ(a.send_window, seconds(2));
}

RunStats SampleStats() {
  RunStats s;
  s.scheduled = 4;
  s.sent = 4;
  s.completed = 3;
  s.status_counts[200] = 2;
  s.status_counts[503] = 1;
  s.errors.timeout = 1;
  s.errors.connect = 2;
  for (uint32_t us : {100, 200, 4000}) s.latencies.RecordMicros(us);
  for (uint32_t us : {100, 4000}) s.latencies_ok.RecordMicros(us);  // the 200s
  // The same 200s from their sends: the second one left 3000 us late.
  for (uint32_t us : {95, 1000}) s.latencies_ok_from_send.RecordMicros(us);
  s.latencies_non2xx.RecordMicros(200);                              // the 503
  for (uint32_t us : {5, 7, 9, 3000}) s.send_delay.RecordMicros(us);
  s.send_window = seconds(2);
  s.complete_window = seconds(3);
  return s;
}

ReportInfo SampleInfo() {
  return ReportInfo{.target = "GET http://127.0.0.1:8080/hello",
                    .rate = 2,
                    .duration = seconds(2),
                    .connections = 4,
                    .threads = 1};
}

TEST(ReportTest, HumanReadable) {
  RunStats stats = SampleStats();
  std::string text = FormatReport(stats, SampleInfo());
  EXPECT_NE(text.find("GET http://127.0.0.1:8080/hello (1 thread, 4 connections, 2s)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("target 2 req/s, sent 2.0 req/s, completed 1.0 req/s"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("scheduled 4, sent 4, completed 3, retried 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find(" 200: 2 503: 1"), std::string::npos) << text;
  EXPECT_NE(text.find("connect 2, closed 0, timeout 1, parse 0 "
                      "(timed out before sending 0, after sending 1)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("p50 200 p90 4000 p99 4000 p99.9 4000 p99.99 4000 max 4000"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\nnon-2xx     p50 200 p90 200 p99 200 p99.9 200 p99.99 200 "
                      "max 200 mean 200.0 (1 samples)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("send delay  p50 7 p99 3000 max 3000 us"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("goodput"), std::string::npos) << text;  // no SLA given
}

TEST(ReportTest, JsonLine) {
  RunStats stats = SampleStats();
  ReportInfo info = SampleInfo();
  info.target = "GET \"quoted\"";
  EXPECT_EQ(FormatJson(stats, info),
            "{\"target\":\"GET \\\"quoted\\\"\",\"rate\":2,\"duration_s\":2,"
            "\"connections\":4,\"threads\":1,\"scheduled\":4,\"sent\":4,"
            "\"completed\":3,\"retried\":0,\"send_rate\":2.0,\"completion_rate\":1.0,"
            "\"status\":{\"200\":2,\"503\":1},\"errors\":{\"connect\":2,"
            "\"closed\":0,\"timeout\":1,\"parse\":0},"
            "\"timeouts\":{\"before_send\":0,\"after_send\":1},\"latency_us\":{\"p50\":200,"
            "\"p90\":4000,\"p99\":4000,\"p99.9\":4000,\"p99.99\":4000,"
            "\"max\":4000,\"mean\":1433.3,\"samples\":3},"
            "\"latency_ok_us\":{\"p50\":100,\"p90\":4000,\"p99\":4000,"
            "\"p99.9\":4000,\"p99.99\":4000,\"max\":4000,\"mean\":2050.0,"
            "\"samples\":2},"
            "\"latency_non2xx_us\":{\"p50\":200,\"p90\":200,\"p99\":200,"
            "\"p99.9\":200,\"p99.99\":200,\"max\":200,\"mean\":200.0,"
            "\"samples\":1},"
            "\"send_delay_us\":{\"p50\":7,\"p99\":3000,\"max\":3000}}");
}

TEST(ReportTest, GoodputCountsTwoHundredsWithinTheSla) {
  RunStats stats = SampleStats();  // 2xx latencies: 100 us and 4000 us
  ReportInfo info = SampleInfo();
  info.sla = std::chrono::milliseconds(1);
  const std::string json = FormatJson(stats, info);
  EXPECT_NE(json.find("\"sla_us\":1000,\"ok_within_sla\":1,\"goodput_rps\":0.5,"
                      "\"ok_within_sla_from_send\":2,"),
            std::string::npos)
      << json;
  info.sla = std::chrono::microseconds(999);  // from the send, only the first
  EXPECT_NE(FormatJson(stats, info).find("\"ok_within_sla_from_send\":1,"),
            std::string::npos);
  info.sla = std::chrono::milliseconds(4);
  EXPECT_NE(FormatJson(stats, info).find("\"ok_within_sla\":2"), std::string::npos);
  EXPECT_NE(FormatReport(stats, info).find("goodput     2 2xx within 4000 us"),
            std::string::npos);
}

// A mix of two classes with their own SLAs: the run's lines merge them and
// sum their goodput (each within its own SLA); each class follows with its
// own name, target, SLA and figures.
std::vector<ClassReport> SampleMix() {
  ClassReport fast{.info = SampleInfo(), .stats = SampleStats()};
  fast.info.name = "fast";
  fast.info.target = "GET http://127.0.0.1:8080/fast";
  fast.info.sla = std::chrono::milliseconds(1);  // 1 of its 2xx (100, 4000 us)
  ClassReport slow{.info = SampleInfo(), .stats = RunStats{}};
  slow.info.name = "slow";
  slow.info.target = "GET http://127.0.0.1:8080/slow";
  slow.info.rate = 3;
  slow.info.connections = 6;
  slow.info.sla = std::chrono::milliseconds(500);
  slow.stats.scheduled = slow.stats.sent = slow.stats.completed = 2;
  slow.stats.status_counts[200] = 2;
  for (uint32_t us : {30'000, 600'000}) {
    slow.stats.latencies.RecordMicros(us);
    slow.stats.latencies_ok.RecordMicros(us);
  }
  return {fast, slow};
}

ReportInfo MixRunInfo() {
  return ReportInfo{.target = "http://127.0.0.1:8080",
                    .rate = 5,
                    .duration = seconds(2),
                    .connections = 10,
                    .threads = 1};
}

TEST(ReportTest, MixTextHasTheRunThenEachClass) {
  std::vector<ClassReport> mix = SampleMix();
  const std::string text = FormatMixReport(mix, MixRunInfo());
  EXPECT_EQ(text.rfind("target      http://127.0.0.1:8080 (1 thread, 10 connections, 2s)\n"
                       "rate        target 5 req/s",
                       0),
            0u)
      << text;
  EXPECT_NE(text.find("\nrequests    scheduled 6, sent 6, completed 5, retried 0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\nstatus      200: 4 503: 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\ngoodput     2 2xx within their class's SLA (1.0 req/s over 2 s)\n"),
            std::string::npos)
      << text;
  const size_t fast = text.find("\nclass fast  GET http://127.0.0.1:8080/fast "
                                "(4 connections, SLA 1000 us)\n  rate        target 2 req/s");
  const size_t slow = text.find("\nclass slow  GET http://127.0.0.1:8080/slow "
                                "(6 connections, SLA 500000 us)\n  rate        target 3 req/s");
  ASSERT_NE(fast, std::string::npos) << text;
  ASSERT_NE(slow, std::string::npos) << text;
  EXPECT_LT(fast, slow);
  const std::string fast_part = text.substr(fast, slow - fast);
  EXPECT_NE(fast_part.find("\n  non-2xx     p50 200 "), std::string::npos) << fast_part;
  EXPECT_NE(fast_part.find("\n  goodput     1 2xx within 1000 us (0.5 req/s over 2 s)\n"),
            std::string::npos)
      << fast_part;
  EXPECT_NE(text.substr(slow).find("\n  goodput     1 2xx within 500000 us"), std::string::npos)
      << text.substr(slow);
}

TEST(ReportTest, MixJsonHasTheRunThenOneObjectPerClass) {
  std::vector<ClassReport> mix = SampleMix();
  const std::string json = FormatMixJson(mix, MixRunInfo());
  EXPECT_EQ(json.rfind("{\"target\":\"http://127.0.0.1:8080\",\"rate\":5,", 0), 0u) << json;
  const size_t classes = json.find(",\"classes\":[{\"name\":\"fast\",\"target\":");
  ASSERT_NE(classes, std::string::npos) << json;
  const std::string run = json.substr(0, classes);
  EXPECT_NE(run.find("\"scheduled\":6,"), std::string::npos) << run;
  EXPECT_NE(run.find("\"status\":{\"200\":4,\"503\":1}"), std::string::npos) << run;
  EXPECT_EQ(run.find("sla_us"), std::string::npos) << run;  // each class has its own
  EXPECT_NE(run.find("\"ok_within_sla\":2,\"goodput_rps\":1.0,"), std::string::npos) << run;
  // Each class object is FormatJson of the class, with its name first.
  std::vector<ClassReport> alone = SampleMix();
  EXPECT_EQ(json.substr(classes),
            ",\"classes\":[{\"name\":\"fast\"," +
                FormatJson(alone[0].stats, alone[0].info).substr(1) +
                ",{\"name\":\"slow\"," +
                FormatJson(alone[1].stats, alone[1].info).substr(1) + "]}");
  EXPECT_NE(json.find("\"name\":\"slow\",\"target\":\"GET http://127.0.0.1:8080/slow\","
                      "\"rate\":3,"),
            std::string::npos);
  EXPECT_NE(json.find("\"sla_us\":500000,\"ok_within_sla\":1,\"goodput_rps\":0.5"),
            std::string::npos);
}

TEST(ReportTest, CsvCoversZeroToHundredWithFineTail) {
  std::vector<double> ps = CsvPercentiles();
  ASSERT_FALSE(ps.empty());
  EXPECT_EQ(ps.front(), 0.0);
  EXPECT_EQ(ps.back(), 100.0);
  for (size_t i = 1; i < ps.size(); ++i) EXPECT_LT(ps[i - 1], ps[i]);
  LatencyRecorder r;
  for (uint32_t i = 1; i <= 100000; ++i) r.RecordMicros(i);
  std::string csv = FormatLatencyCsv(r);
  EXPECT_EQ(csv.rfind("percentile,latency_us\n0,1\n1,1000\n", 0), 0u) << csv.substr(0, 80);
  EXPECT_NE(csv.find("\n50,50000\n"), std::string::npos);
  EXPECT_NE(csv.find("\n99.9,99900\n"), std::string::npos);
  EXPECT_NE(csv.find("\n99.99,99990\n"), std::string::npos);
  EXPECT_NE(csv.find("\n99.995,99995\n"), std::string::npos);
  EXPECT_NE(csv.find("\n99.999,99999\n"), std::string::npos);
  EXPECT_NE(csv.find("\n100,100000\n"), std::string::npos);
}

}  // namespace
}  // namespace brisk::loadgen
