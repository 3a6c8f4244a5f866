#include "server/metrics.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/utf8.h"
#include "server/status_page.h"
#include "simdjson.h"

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
  m.RecordShed(2, 5);                               // unmatched, body_memory
  m.RecordShed(2, 5);
  m.deadline_in_queue.store(1);
  m.route(1).deadline_exceeded.store(4);
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
  // Unmatched requests can be refused for body memory (OPTIONS * with a
  // body): exported like a route's, as /status.json has them.
  EXPECT_THAT(out, HasSubstr("brisk_shed_total{route=\"unmatched\",reason=\"body_memory\"} 2\n"));
  EXPECT_THAT(out, HasSubstr("brisk_deadline_exceeded_in_queue_total 1\n"));
  EXPECT_THAT(out, HasSubstr("brisk_route_deadline_exceeded_total{route=\"/hello\"} 0\n"));
  EXPECT_THAT(out, HasSubstr("brisk_route_deadline_exceeded_total{route=\"/a\\\"b\"} 4\n"));
  // Unmatched requests are never offloaded: no deadline of theirs to miss.
  EXPECT_THAT(out, Not(HasSubstr("brisk_route_deadline_exceeded_total{route=\"unmatched\"}")));
  EXPECT_EQ(m.shed_queue_full.load(), 7u);
  EXPECT_EQ(m.ShedCount(0), 7u);
  EXPECT_THAT(out, HasSubstr("# TYPE brisk_loop_lag_seconds histogram\n"));
  EXPECT_THAT(out, HasSubstr("# TYPE brisk_receive_lag_seconds histogram\n"));
}

// The batch families are written by a server that forms batches, not as
// empty families on every other server.
TEST(ServerMetricsTest, BatchFamiliesOnlyWhereARouteFormsBatches) {
  ServerMetrics plain({"/hello"});
  std::string out;
  plain.AppendPrometheus(&out);
  EXPECT_THAT(out, HasSubstr("brisk_requests_total"));
  EXPECT_THAT(out, Not(HasSubstr("brisk_batch")));

  ServerMetrics batching({"/hello", "/score"});
  batching.route(1).batch = true;
  out.clear();
  batching.AppendPrometheus(&out);
  EXPECT_THAT(out, HasSubstr("# TYPE brisk_batch_size histogram\n"));
  EXPECT_THAT(out, HasSubstr("brisk_batch_size_count{route=\"/score\"} 0\n"));
  EXPECT_THAT(out, HasSubstr("# TYPE brisk_batch_cost_seconds gauge\n"));
  EXPECT_THAT(out, Not(HasSubstr("brisk_batch_size_count{route=\"/hello\"}")));
}

// The text format is UTF-8, and a scraper refuses a whole page over one
// invalid label value: a route name holding other bytes (a pattern is a
// decoded path) is written as valid UTF-8, its stray bytes read as Latin-1.
TEST(ServerMetricsTest, RouteLabelsAreValidUtf8WhateverTheRouteNameHolds) {
  ServerMetrics m({"/caf\xe9", "/caf\xc3\xa9s", std::string("/x\xff\n\"", 5)});
  m.route(0).RecordStatus(200);
  std::string out;
  m.AppendPrometheus(&out);
  EXPECT_THAT(out, HasSubstr("brisk_requests_total{route=\"/caf\xc3\xa9\",status=\"200\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("brisk_shed_total{route=\"/caf\xc3\xa9\",reason="));
  EXPECT_THAT(out, HasSubstr("brisk_shed_total{route=\"/caf\xc3\xa9s\",reason="));
  EXPECT_THAT(out, HasSubstr("brisk_shed_total{route=\"/x\xc3\xbf\\n\\\"\",reason="));
  for (size_t i = 0; i < out.size();) {
    const size_t n = http::Utf8SequenceLength(std::string_view(out).substr(i));
    ASSERT_GT(n, 0u) << "invalid UTF-8 at byte " << i << ": "
                     << out.substr(i > 40 ? i - 40 : 0, 80);
    i += n;
  }
}

// Parses `json` strictly (simdjson); fails the test when it is not valid.
simdjson::dom::element ParseJson(simdjson::dom::parser& parser,
                                 const std::string& json) {
  simdjson::dom::element doc;
  EXPECT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  return doc;
}

uint64_t U(simdjson::dom::element e, std::string_view json_pointer) {
  uint64_t v = 0;
  EXPECT_EQ(e.at_pointer(json_pointer).get(v), simdjson::SUCCESS) << json_pointer;
  return v;
}

TEST(HistogramTest, JsonHasEveryBucketNotCumulative) {
  Histogram h;
  h.Observe(microseconds(50));
  h.Observe(microseconds(51));
  h.Observe(microseconds(51));
  h.Observe(std::chrono::seconds(60));  // +Inf
  std::string out;
  h.AppendJson(&out);
  EXPECT_EQ(out,
            "{\"count\":4,\"sum_ns\":60000152000,"
            "\"buckets\":[1,2,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]}");
}

TEST(ServerMetricsTest, JsonIsValidAndHoldsTheFigures) {
  // Route names an embedder may register, and bytes that must be escaped.
  ServerMetrics m({"/hello", "/a\"b\\c", std::string("/ctl\n\x01\0", 7),
                   "/caf\xc3\xa9", "/bad\xff"});
  m.route(0).RecordStatus(200);
  m.route(0).RecordStatus(200);
  m.route(0).RecordStatus(503);
  m.route(0).total.Observe(microseconds(80));
  m.route(0).queue_wait.Observe(microseconds(3000));
  m.route(0).handler.Observe(microseconds(20));
  m.unmatched().RecordStatus(404);
  m.RecordShed(1, 0);  // queue_full
  m.RecordShed(1, 0);
  m.RecordShed(0, 2);  // expired_in_queue
  m.open_connections.store(5);
  m.accepted_connections.store(9);
  m.rejected_connections.store(1);
  m.timeouts_idle.store(2);
  m.queue_depth.store(3);
  m.in_flight.store(4);
  m.deadline_exceeded.store(6);
  m.loop_lag.Observe(microseconds(700));
  m.receive_lag.Observe(microseconds(3000));

  std::string out;
  m.AppendJson(&out);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = ParseJson(parser, out);

  simdjson::dom::array bounds;
  ASSERT_EQ(doc["bucket_bounds_us"].get(bounds), simdjson::SUCCESS);
  ASSERT_EQ(bounds.size(), Histogram::kBoundsUs.size());
  EXPECT_EQ(U(doc, "/bucket_bounds_us/0"), 50u);
  EXPECT_EQ(U(doc, "/bucket_bounds_us/16"), 10000000u);

  simdjson::dom::array routes;
  ASSERT_EQ(doc["routes"].get(routes), simdjson::SUCCESS);
  ASSERT_EQ(routes.size(), 6u);  // five routes and "unmatched"
  const char* names[] = {"/hello", "/a\"b\\c", nullptr, "/caf\xc3\xa9",
                         "/bad\xc3\xbf", "unmatched"};
  for (size_t i = 0; i < 6; ++i) {
    std::string_view name;
    ASSERT_EQ(routes.at(i)["name"].get(name), simdjson::SUCCESS);
    if (names[i] != nullptr) {
      EXPECT_EQ(name, names[i]) << i;
    }
  }
  std::string_view ctl;
  ASSERT_EQ(routes.at(2)["name"].get(ctl), simdjson::SUCCESS);
  EXPECT_EQ(ctl, std::string_view("/ctl\n\x01\0", 7));

  EXPECT_EQ(U(doc, "/routes/0/requests/200"), 2u);
  EXPECT_EQ(U(doc, "/routes/0/requests/503"), 1u);
  EXPECT_EQ(U(doc, "/routes/5/requests/404"), 1u);
  EXPECT_EQ(U(doc, "/routes/1/shed/queue_full"), 2u);
  EXPECT_EQ(U(doc, "/routes/0/shed/expired_in_queue"), 1u);
  EXPECT_EQ(U(doc, "/routes/0/shed/codel"), 0u);
  EXPECT_EQ(U(doc, "/routes/0/latency/count"), 1u);
  EXPECT_EQ(U(doc, "/routes/0/latency/buckets/1"), 1u);   // le 100 us
  EXPECT_EQ(U(doc, "/routes/0/queue_wait/buckets/6"), 1u);  // le 5000 us
  EXPECT_EQ(U(doc, "/routes/0/handler/sum_ns"), 20000u);
  EXPECT_EQ(U(doc, "/connections/open"), 5u);
  EXPECT_EQ(U(doc, "/connections/accepted"), 9u);
  EXPECT_EQ(U(doc, "/connections/rejected"), 1u);
  EXPECT_EQ(U(doc, "/timeouts/idle"), 2u);
  EXPECT_EQ(U(doc, "/queue_depth"), 3u);
  EXPECT_EQ(U(doc, "/in_flight"), 4u);
  EXPECT_EQ(U(doc, "/deadline_exceeded"), 6u);
  EXPECT_EQ(U(doc, "/loop_lag/count"), 1u);
  EXPECT_EQ(U(doc, "/loop_lag/buckets/4"), 1u);  // le 1000 us
  EXPECT_EQ(U(doc, "/receive_lag/count"), 1u);
  EXPECT_EQ(U(doc, "/receive_lag/buckets/6"), 1u);  // le 5000 us
}

TEST(ServerMetricsTest, JsonOfFreshMetricsIsValid) {
  ServerMetrics m({});
  std::string out;
  m.AppendJson(&out);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = ParseJson(parser, out);
  EXPECT_EQ(U(doc, "/routes/0/latency/count"), 0u);
  std::string_view name;
  ASSERT_EQ(doc.at_pointer("/routes/0/name").get(name), simdjson::SUCCESS);
  EXPECT_EQ(name, "unmatched");
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

// The status page's uptime is steady-clock time since the start: a step of
// the wall clock (NTP, `date -s`) after the start does not move it.
TEST(StatusJsonTest, UptimeIsSteadyClockTimeSinceTheStart) {
  ServerMetrics m({"/hello"});
  // Started "in 2001" by the wall clock, which has since been stepped; on the
  // steady clock the server has run 2.5 s.
  m.start_time_seconds.store(1e9);
  m.start_monotonic_ns.store(7'000'000'000);
  const std::string json =
      internal::StatusJson(m, /*ready=*/true, std::chrono::nanoseconds(9'500'000'000), /*pid=*/42);
  EXPECT_THAT(json, HasSubstr("\"uptime_seconds\":2.500,"));
  EXPECT_THAT(json, HasSubstr("\"pid\":42,"));
  // Before the start is recorded: 0, not the steady clock's age.
  ServerMetrics fresh({"/hello"});
  EXPECT_THAT(internal::StatusJson(fresh, false, std::chrono::nanoseconds(5), 1),
              HasSubstr("\"uptime_seconds\":0.000,"));
}

}  // namespace
}  // namespace brisk
