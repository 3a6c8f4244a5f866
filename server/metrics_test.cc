#include "server/metrics.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace brisk {
namespace {

using std::chrono::microseconds;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(HistogramTest, BucketsAreInclusiveUpperBounds) {
  Histogram h;
  h.Observe(microseconds(50));   // le 5e-05
  h.Observe(microseconds(51));   // le 0.0001
  h.Observe(microseconds(1000)); // le 0.001
  h.Observe(std::chrono::seconds(60));  // +Inf
  EXPECT_EQ(h.CumulativeCount(0), 1u);
  EXPECT_EQ(h.CumulativeCount(1), 2u);
  EXPECT_EQ(h.CumulativeCount(4), 3u);
  EXPECT_EQ(h.count(), 4u);
  std::string out;
  h.AppendPrometheus("x", "", &out);
  EXPECT_THAT(out, HasSubstr("x_bucket{le=\"5e-05\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("x_bucket{le=\"0.001\"} 3\n"));
  EXPECT_THAT(out, HasSubstr("x_bucket{le=\"+Inf\"} 4\n"));
  EXPECT_THAT(out, HasSubstr("x_count 4\n"));
  EXPECT_THAT(out, HasSubstr("x_sum 60.001101000\n"));
}

TEST(HistogramTest, QuantileIsBucketUpperBound) {
  Histogram h;
  for (int i = 0; i < 99; ++i) h.Observe(microseconds(80));
  h.Observe(microseconds(4000));
  EXPECT_EQ(h.Quantile(0.5), microseconds(100));
  EXPECT_EQ(h.Quantile(0.995), microseconds(5000));
}

TEST(ServerMetricsTest, ExportsRoutesStatusesAndGauges) {
  ServerMetrics m({"/hello", "/a\"b"});
  m.route(0).RecordStatus(200);
  m.route(0).RecordStatus(200);
  m.route(1).RecordStatus(503);
  m.unmatched().RecordStatus(404);
  m.route(0).total.Observe(microseconds(10));
  m.open_connections.store(3);
  for (int i = 0; i < 7; ++i) m.RecordShed(1, 0);  // queue_full
  m.RecordShed(0, 1);                               // predicted_late
  std::string out;
  m.AppendPrometheus(&out);
  EXPECT_THAT(out, HasSubstr("brisk_requests_total{route=\"/hello\",status=\"200\"} 2\n"));
  EXPECT_THAT(out, HasSubstr("brisk_requests_total{route=\"/a\\\"b\",status=\"503\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("brisk_requests_total{route=\"unmatched\",status=\"404\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("brisk_request_seconds_bucket{route=\"/hello\",le=\"5e-05\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("brisk_open_connections 3\n"));
  EXPECT_THAT(out, HasSubstr(
      "brisk_shed_total{route=\"/a\\\"b\",reason=\"queue_full\"} 7\n"));
  EXPECT_THAT(out, HasSubstr(
      "brisk_shed_total{route=\"/hello\",reason=\"predicted_late\"} 1\n"));
  EXPECT_THAT(out, HasSubstr(
      "brisk_shed_total{route=\"/hello\",reason=\"codel\"} 0\n"));
  EXPECT_THAT(out, Not(HasSubstr("brisk_shed_total{route=\"unmatched\"")));
  EXPECT_EQ(m.shed_queue_full.load(), 7u);
  EXPECT_EQ(m.ShedCount(0), 7u);
  EXPECT_THAT(out, HasSubstr("# TYPE brisk_loop_lag_seconds histogram\n"));
}

TEST(ServerMetricsTest, ConcurrentRecordingCountsEverything) {
  ServerMetrics m({"/r"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < 10000; ++i) {
        m.route(0).RecordStatus(200);
        m.route(0).handler.Observe(microseconds(i % 300));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(m.route(0).StatusCount(200), 40000u);
  EXPECT_EQ(m.route(0).handler.count(), 40000u);
}

}  // namespace
}  // namespace brisk
