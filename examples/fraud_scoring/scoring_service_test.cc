// The fraud-scoring service: handlers through brisk::testing::FakeRequest,
// then the whole service on a real HttpServer (127.0.0.1, port 0) with each
// batching policy. Its scores must equal XGBoost's own predictions for the
// same rows (testdata/golden.csv, written by train_model.py), bit for bit.
#include "examples/fraud_scoring/scoring_service.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "examples/fraud_scoring/golden.h"
#include "examples/fraud_scoring/test_models.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/testing/fake_request.h"
#include "server/testing/raw_client.h"

namespace brisk::fraud_scoring {
namespace {

using ::brisk::testing::FakeRequest;
using ::brisk::testing::RawClient;
using ::testing::HasSubstr;

constexpr char kModel[] = "examples/fraud_scoring/model.json";
constexpr char kGolden[] = "examples/fraud_scoring/testdata/golden.csv";

// {"features":[...]} with every value printed so it reads back exactly
// (NaN, a missing value, as null).
std::string FeaturesJson(const float* row, size_t n, const std::string& id) {
  std::string out = "{\"id\":\"" + id + "\",\"features\":[";
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += ",";
    if (std::isnan(row[i])) {
      out += "null";
    } else {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof(buf), row[i]);
      out.append(buf, r.ptr);
    }
  }
  return out + "]}";
}

// The "score" of a response body, as a float.
float ScoreOf(const std::string& body) {
  const size_t at = body.find("\"score\":");
  if (at == std::string::npos) return -1;
  float v = -1;
  const char* begin = body.data() + at + 8;
  std::from_chars(begin, body.data() + body.size(), v);
  return v;
}

class ScoringServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ScoringService>> s = ScoringService::Load(kModel);
    ASSERT_TRUE(s.ok()) << s.status();
    service_ = *std::move(s);
    absl::StatusOr<GoldenSet> g = ReadGolden(kGolden);
    ASSERT_TRUE(g.ok()) << g.status();
    golden_ = *std::move(g);
    ASSERT_EQ(golden_.feature_names.size(), service_->model().num_features());
  }
  std::string Row(size_t i) {
    return FeaturesJson(golden_.row(i), golden_.feature_names.size(),
                        "txn-" + std::to_string(i));
  }

  std::unique_ptr<ScoringService> service_;
  GoldenSet golden_;
};

TEST_F(ScoringServiceTest, OneRequestScoresAsXgboostDoes) {
  for (size_t i = 0; i < 20; ++i) {
    auto req = FakeRequest::Post("/score", Row(i));
    http::Response r = service_->ScoreOne(req->context());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(ScoreOf(r.body), golden_.scores[i]) << i << " " << r.body;
    EXPECT_THAT(r.body, HasSubstr("\"id\":\"txn-" + std::to_string(i) + "\""));
    EXPECT_THAT(r.body, HasSubstr("\"model\":\"" + service_->model().label() + "\""));
  }
}

TEST_F(ScoringServiceTest, ABatchScoresEveryRowAndAnswersBadOnes400) {
  std::vector<std::unique_ptr<FakeRequest>> reqs;
  for (size_t i = 0; i < 8; ++i) reqs.push_back(FakeRequest::Post("/score", Row(i)));
  reqs.push_back(FakeRequest::Post("/score", "{\"features\": [1, 2]}"));
  reqs.push_back(FakeRequest::Post("/score", "{not json"));
  reqs.push_back(FakeRequest::Post("/score", "{\"features\": \"x\"}"));
  reqs.push_back(FakeRequest::Post("/score", ""));
  std::vector<RequestContext*> batch;
  for (auto& r : reqs) batch.push_back(&r->context());
  std::vector<http::Response> out = service_->ScoreBatch(batch);
  ASSERT_EQ(out.size(), batch.size());
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(out[i].status, 200);
    EXPECT_EQ(ScoreOf(out[i].body), golden_.scores[i]) << i;
  }
  EXPECT_EQ(out[8].status, 400);
  EXPECT_THAT(out[8].body, HasSubstr("must have 10 numbers, got 2"));
  EXPECT_EQ(out[9].status, 400);
  EXPECT_THAT(out[9].body, HasSubstr("invalid JSON"));
  EXPECT_EQ(out[10].status, 400);
  EXPECT_EQ(out[11].status, 400);
  EXPECT_THAT(out[11].body, HasSubstr("empty"));
}

// A body in a content coding the service does not decode (gzip) is 415
// Unsupported Media Type with Accept-Encoding: identity (RFC 9110 15.5.16,
// 12.5.3), not a 400 that blames the JSON; "identity" is no coding. In a
// batch it is answered on its own.
TEST_F(ScoringServiceTest, AnEncodedBodyIs415WithAcceptEncoding) {
  auto Encoded = [&](std::string_view codings) {
    const std::string body = Row(2);
    auto r =
        FakeRequest::Parse("POST /score HTTP/1.1\r\nHost: t\r\n" + std::string(codings) +
                           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    EXPECT_TRUE(r.ok()) << r.status();
    return *std::move(r);
  };
  auto gzip = Encoded("Content-Encoding: gzip\r\n");
  auto listed = Encoded("Content-Encoding: identity, GZIP\r\n");
  auto repeated = Encoded("Content-Encoding: identity\r\nContent-Encoding: br\r\n");
  auto identity = Encoded("Content-Encoding: Identity\r\n");
  std::vector<http::Response> out = service_->ScoreBatch(
      {&gzip->context(), &listed->context(), &repeated->context(), &identity->context()});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].status, 415);
  EXPECT_EQ(out[0].body,
            "{\"error\":\"Content-Encoding \\\"gzip\\\" is not supported: send the body "
            "unencoded\"}");
  EXPECT_EQ(out[0].Header("Accept-Encoding").value_or(""), "identity");
  EXPECT_THAT(std::string(out[0].Header("Content-Type").value_or("")),
              HasSubstr("application/json"));
  EXPECT_EQ(out[1].status, 415);
  EXPECT_THAT(out[1].body, HasSubstr("\\\"GZIP\\\""));
  EXPECT_EQ(out[2].status, 415);
  EXPECT_THAT(out[2].body, HasSubstr("\\\"br\\\""));
  EXPECT_EQ(out[3].status, 200);
  EXPECT_EQ(ScoreOf(out[3].body), golden_.scores[2]);
}

// RFC 9110 13.1.1: /score keeps no representation, so If-Match (a tag or
// *) is false: 412, judged before the body is parsed (a bad body does not
// turn it into a 400), after the head's own 415. If-None-Match: * is true.
// In a batch each member is judged on its own.
TEST_F(ScoringServiceTest, IfMatchIs412AndIfNoneMatchStarIsScored) {
  auto With = [&](std::string_view fields, const std::string& body) {
    auto r =
        FakeRequest::Parse("POST /score HTTP/1.1\r\nHost: t\r\n" + std::string(fields) +
                           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    EXPECT_TRUE(r.ok()) << r.status();
    return *std::move(r);
  };
  auto tag = With("If-Match: \"v1\"\r\n", Row(1));
  auto star = With("If-Match: *\r\n", "not json");
  auto none = With("If-None-Match: *\r\n", Row(2));
  auto encoded = With("If-Match: *\r\nContent-Encoding: gzip\r\n", Row(3));
  std::vector<http::Response> out = service_->ScoreBatch(
      {&tag->context(), &star->context(), &none->context(), &encoded->context()});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].status, 412);
  EXPECT_THAT(out[0].body, HasSubstr("precondition"));
  EXPECT_THAT(std::string(out[0].Header("Content-Type").value_or("")),
              HasSubstr("application/json"));
  EXPECT_EQ(out[1].status, 412);
  EXPECT_EQ(out[2].status, 200);
  EXPECT_EQ(ScoreOf(out[2].body), golden_.scores[2]);
  EXPECT_EQ(out[3].status, 415);
}

// RFC 9110 15.5.14: a body over the parser's 64 KiB limit is 413 Content
// Too Large, with the same JSON error body as a 400; in a batch it is
// answered on its own and its neighbours are still scored.
TEST_F(ScoringServiceTest, ABodyOverTheLimitIs413) {
  const std::string too_large = Row(0) + std::string(70000, ' ');  // ~70 KB
  auto alone = FakeRequest::Post("/score", too_large);
  http::Response r = service_->ScoreOne(alone->context());
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, "{\"error\":\"request body is larger than 65536 bytes\"}");
  EXPECT_THAT(std::string(r.Header("Content-Type").value_or("")),
              HasSubstr("application/json"));

  auto big = FakeRequest::Post("/score", too_large);
  auto good = FakeRequest::Post("/score", Row(1));
  auto bad = FakeRequest::Post("/score", "{\"features\": [1, 2]}");
  std::vector<http::Response> out =
      service_->ScoreBatch({&big->context(), &good->context(), &bad->context()});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].status, 413);
  EXPECT_EQ(out[1].status, 200);
  EXPECT_EQ(ScoreOf(out[1].body), golden_.scores[1]);
  EXPECT_EQ(out[2].status, 400);
}

// A NaN leaf on golden row 0's path (tree 0, leaf 17) in a UBJSON model:
// Load's JSON checks cannot see that format and its warm-up row takes
// another leaf, so it loads. Row 0's score is NaN: answered 500 with a JSON
// error (it was 200 {"score":null}); the batch's other row (row 4, whose
// path ends at leaf 26) is still scored.
TEST_F(ScoringServiceTest, ANonFiniteScoreIs500NotANullScore) {
  const std::string path = TempPath("nan_leaf.ubj");
  ASSERT_TRUE(
      SaveAsUbjson(WithNodeValue(ShippedModelText(), "split_conditions", 0, 17, "NaN"), path).ok());
  absl::StatusOr<std::unique_ptr<ScoringService>> service = ScoringService::Load(path);
  ASSERT_TRUE(service.ok()) << service.status();
  auto nan_row = FakeRequest::Post("/score", Row(0));
  auto good_row = FakeRequest::Post("/score", Row(4));
  std::vector<http::Response> out =
      (*service)->ScoreBatch({&nan_row->context(), &good_row->context()});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].status, 500);
  EXPECT_EQ(out[0].body, "{\"error\":\"model produced a non-finite score\"}");
  EXPECT_THAT(std::string(out[0].Header("Content-Type").value_or("")),
              HasSubstr("application/json"));
  EXPECT_EQ(out[1].status, 200) << out[1].body;
  EXPECT_EQ(ScoreOf(out[1].body), golden_.scores[4]);
  // Alone, through the ordinary route's handler, the same.
  auto alone = FakeRequest::Post("/score", Row(0));
  EXPECT_EQ((*service)->ScoreOne(alone->context()).status, 500);
}

TEST_F(ScoringServiceTest, MetadataHasTheFeatureCount) {
  http::Response r = service_->Metadata();
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("\"num_features\":10"));
  // Only the distance had missing values in training (train_model.py).
  EXPECT_THAT(r.body, HasSubstr(",\"nullable_features\":[\"distance_from_home_km\"]"));
}

// The shipped model learned a default branch for a missing distance only:
// a null card_present (scored exactly as card_present=1: every split on it
// has default_left=0) is a 400 naming it, in both forms; a null distance
// is still scored, and every golden row with a missing distance gets
// XGBoost's own score.
TEST_F(ScoringServiceTest, NullOnlyForTheFeaturesTheModelLearnedADefaultFor) {
  auto positional =
      FakeRequest::Post("/score", "{\"features\":[120.5,4.79,3,0.2,12,400,2,0,null,800]}");
  auto named = FakeRequest::Post(
      "/score",
      "{\"amount_usd\": 950, \"amount_zscore\": 4.1, \"hour_of_day\": 3, \"merchant_risk\": 0.6,"
      " \"distance_from_home_km\": 12, \"card_age_days\": 12, \"txn_count_24h\": 9,"
      " \"is_foreign\": 1, \"card_present\": null, \"account_age_days\": 40}");
  auto distance =
      FakeRequest::Post("/score", "{\"features\":[120.5,4.79,3,0.2,null,400,2,0,0,800]}");
  std::vector<RequestContext*> batch = {&positional->context(), &named->context(),
                                        &distance->context()};
  std::vector<std::unique_ptr<FakeRequest>> missing;
  std::vector<size_t> rows;
  for (size_t i = 0; i < golden_.num_rows(); ++i) {
    if (!std::isnan(golden_.row(i)[4])) continue;
    rows.push_back(i);
    missing.push_back(FakeRequest::Post("/score", Row(i)));
    batch.push_back(&missing.back()->context());
  }
  ASSERT_GE(rows.size(), 5u);  // 7 in golden.csv
  std::vector<http::Response> out = service_->ScoreBatch(batch);
  ASSERT_EQ(out.size(), batch.size());
  EXPECT_EQ(out[0].status, 400);
  EXPECT_EQ(out[0].body,
            "{\"error\":\"features[8] (\\\"card_present\\\") must be a number: the model has no "
            "learned default for a missing value\"}");
  EXPECT_EQ(out[1].status, 400);
  EXPECT_EQ(out[1].body,
            "{\"error\":\"\\\"card_present\\\" must be a number: the model has no learned "
            "default for a missing value\"}");
  EXPECT_EQ(out[2].status, 200) << out[2].body;
  for (size_t k = 0; k < rows.size(); ++k) {
    EXPECT_EQ(out[3 + k].status, 200) << out[3 + k].body;
    EXPECT_EQ(ScoreOf(out[3 + k].body), golden_.scores[rows[k]]) << "golden row " << rows[k];
  }
}

// A model's name comes from its file: quotes and backslashes are escaped in
// the metrics family, other bytes outside printable ASCII (a newline, a
// non-ASCII letter) become '_', so no model file breaks the page.
TEST(ModelInfoMetricTest, AModelsNameCannotBreakTheMetricsPage) {
  std::string json = ShippedModelText();
  const std::string from = "\"brisk_model_name\":\"fraud_gbt\"";
  const size_t at = json.find(from);
  ASSERT_NE(at, std::string::npos);
  // JSON for a"b\c<e-acute>\n: a quote, a backslash, two UTF-8 bytes, a newline.
  json.replace(at, from.size(), "\"brisk_model_name\":\"a\\\"b\\\\c\xc3\xa9\\n\"");
  const std::string path = WriteTemp("odd_name.json", json);
  absl::StatusOr<std::unique_ptr<ScoringService>> service = ScoringService::Load(path);
  ASSERT_TRUE(service.ok()) << service.status();
  ASSERT_EQ((*service)->model().info().name, "a\"b\\c\xc3\xa9\n");
  const std::string metric = (*service)->ModelInfoMetric();
  EXPECT_THAT(metric,
              HasSubstr("fraud_model_info{name=\"a\\\"b\\\\c___\",version=\"1\",sha256=\""));
  EXPECT_THAT(metric, ::testing::EndsWith("\"} 1\n"));
  EXPECT_EQ(std::count(metric.begin(), metric.end(), '\n'), 3);  // HELP, TYPE, sample
}

// A batch route needs deadline admission: under CoDel, Register() with
// batching is refused and adds nothing, so kOff may follow on the same
// server (it used to leave /model registered: AlreadyExists).
TEST_F(ScoringServiceTest, ARefusedRegistrationLeavesNothingBehind) {
  HttpServer server({.address = "127.0.0.1",
                     .port = 0,
                     .workers = 2,
                     .admission = ServerOptions::Admission::kCodel,
                     .handle_signals = false});
  const absl::Status batched = service_->Register(server, Batching::kDeadline, {});
  EXPECT_EQ(batched.code(), absl::StatusCode::kFailedPrecondition) << batched;
  const absl::Status plain = service_->Register(server, Batching::kOff, {});
  EXPECT_TRUE(plain.ok()) << plain;
}

// The whole service over HTTP, one test per batching policy.
class ScoringServerTest : public ScoringServiceTest,
                          public ::testing::WithParamInterface<Batching> {};

TEST_P(ScoringServerTest, ScoresOverHttpEqualXgboostsOwn) {
  HttpServer server({.address = "127.0.0.1",
                     .port = 0,
                     .workers = 2,
                     .handle_signals = false,
                     .metrics_path = "/metrics"});
  ASSERT_TRUE(service_->Register(server, GetParam(),
                                 {.max_batch = 16,
                                  .max_delay = std::chrono::milliseconds(2)})
                  .ok());
  ASSERT_TRUE(server.Start().ok());
  // 64 clients at once (batches form), each with its own golden row.
  constexpr size_t kClients = 64;
  std::vector<std::thread> threads;
  std::vector<float> scores(kClients, -1);
  std::vector<int> statuses(kClients, 0);
  for (size_t i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      RawClient c(server.port());
      const std::string body = Row(i);
      c.Send("POST /score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             "X-Request-Budget-Ms: 5000\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body);
      auto r = c.Read();
      if (r.has_value()) {
        statuses[i] = r->status;
        scores[i] = ScoreOf(r->body);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < kClients; ++i) {
    EXPECT_EQ(statuses[i], 200) << i;
    EXPECT_EQ(scores[i], golden_.scores[i]) << i;
  }
  RawClient c(server.port());
  // A ~70 KB body (under the server's 1 MiB limit, over the route's and the
  // parser's 64 KiB).
  const std::string too_large = Row(0) + std::string(70000, ' ');
  ASSERT_TRUE(c.Send("GET /model HTTP/1.1\r\nHost: t\r\n\r\n"
                     "POST /score HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n[1,2]"
                     "POST /score HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                     std::to_string(too_large.size()) + "\r\n\r\n" + too_large));
  auto model = c.Read();
  ASSERT_TRUE(model.has_value());
  EXPECT_THAT(model->body, HasSubstr("\"num_features\":10"));
  auto bad = c.Read();
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 400);
  EXPECT_THAT(bad->body, HasSubstr("JSON object"));
  // Refused by the server from its Content-Length (the route's limit is
  // the parser's), before the body is read; the connection closes.
  auto large = c.Read();
  ASSERT_TRUE(large.has_value());
  EXPECT_EQ(large->status, 413);
  EXPECT_THAT(large->head, HasSubstr("413 Content Too Large"));
  EXPECT_TRUE(c.WaitClosed());
  // The metrics page names the model serving.
  RawClient m(server.port());
  ASSERT_TRUE(m.Send("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto metrics = m.Read();
  ASSERT_TRUE(metrics.has_value());
  EXPECT_THAT(metrics->body,
              HasSubstr("\nfraud_model_info{name=\"fraud_gbt\",version=\"1\",sha256=\""
                        "e459aa0b9c4d33cc6ffd326420e8fb96cf251593d0305c00aaa9efb9c4aad288\"} 1\n"));
  EXPECT_THAT(metrics->body, HasSubstr("# TYPE fraud_model_info gauge\n"));
  server.Stop();
}

// An operator who lowers the server's body limit (--max_body_bytes) below
// the transaction parser's 64 KiB gets it on /score too: a body over it is
// 413 from the head, one under it is scored.
TEST_P(ScoringServerTest, AServerBodyLimitBelowTheParsersHoldsOnScore) {
  HttpServer server({.address = "127.0.0.1",
                     .port = 0,
                     .workers = 1,
                     .max_body_bytes = 1000,
                     .handle_signals = false});
  ASSERT_TRUE(service_
                  ->Register(server, GetParam(),
                             {.max_batch = 4, .max_delay = std::chrono::milliseconds(2)})
                  .ok());
  ASSERT_TRUE(server.Start().ok());
  const std::string fits = Row(0) + std::string(1000 - Row(0).size(), ' ');
  const std::string over = fits + " ";
  RawClient c(server.port());
  ASSERT_TRUE(
      c.Send("POST /score HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(fits.size()) +
             "\r\n\r\n" + fits + "POST /score HTTP/1.1\r\nHost: t\r\nContent-Length: " +
             std::to_string(over.size()) + "\r\n\r\n" + over));
  auto scored = c.Read();
  ASSERT_TRUE(scored.has_value());
  EXPECT_EQ(scored->status, 200);
  EXPECT_EQ(ScoreOf(scored->body), golden_.scores[0]);
  auto refused = c.Read();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 413);
  EXPECT_TRUE(c.WaitClosed());
  server.Stop();
}

INSTANTIATE_TEST_SUITE_P(Batching, ScoringServerTest,
                         ::testing::Values(Batching::kDeadline, Batching::kFixed,
                                           Batching::kOff));

}  // namespace
}  // namespace brisk::fraud_scoring
