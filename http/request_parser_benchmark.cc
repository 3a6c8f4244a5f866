// RequestParser vs Node's http-parser 2.9.4 (Debian libhttp-parser), side by
// side on the same inputs. http-parser gets callbacks that record the URL and
// every header name/value span (no copies), which is the least work a user
// of it needs; ours produces a self-contained, owned Request per request
// (one copy of the head, field offsets, decoded path, body).
//
//   tools/bazel run //http:request_parser_benchmark -- --benchmark_repetitions=3
#include <http_parser.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "benchmark/benchmark.h"
#include "http/request.h"
#include "http/request_parser.h"

namespace brisk::http {
namespace {

// ~100 bytes: what a load generator sends.
const std::string kSmall =
    "GET /hello?name=world HTTP/1.1\r\n"
    "Host: localhost:8080\r\n"
    "User-Agent: brisk-bench/1.0\r\n"
    "Accept: */*\r\n"
    "\r\n";

// ~700 bytes: a browser navigation.
const std::string kBrowser =
    "GET /products/search?q=mechanical+keyboard&page=2&sort=price_asc "
    "HTTP/1.1\r\n"
    "Host: shop.example.com\r\n"
    "Connection: keep-alive\r\n"
    "sec-ch-ua: \"Chromium\";v=\"118\", \"Google Chrome\";v=\"118\"\r\n"
    "sec-ch-ua-mobile: ?0\r\n"
    "sec-ch-ua-platform: \"Linux\"\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/118.0.0.0 Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
    "image/webp,image/apng,*/*;q=0.8\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9,fr;q=0.8\r\n"
    "Cookie: session=8f2d1c3b4a5e6f708192a3b4c5d6e7f8; theme=dark; "
    "cart=3\r\n"
    "\r\n";

std::string Pipeline16() {
  std::string s;
  for (int i = 0; i < 16; ++i) s += kSmall;
  return s;
}
const std::string kPipeline = Pipeline16();

// ---- brisk ----

int ParseAllBrisk(RequestParser& parser, std::string_view in) {
  int n = 0;
  while (!in.empty()) {
    ParseResult r = parser.Feed(in);
    if (r.kind != ParseResult::kComplete) std::abort();
    Request req = parser.TakeRequest();
    benchmark::DoNotOptimize(req.path().data());
    in.remove_prefix(r.consumed);
    ++n;
  }
  return n;
}

void BriskParse(benchmark::State& state, const std::string& input, int count) {
  RequestParser parser;
  if (ParseAllBrisk(parser, input) != count) std::abort();
  for (auto _ : state) {
    benchmark::DoNotOptimize(ParseAllBrisk(parser, input));
  }
  state.SetBytesProcessed(state.iterations() * input.size());
  state.SetItemsProcessed(state.iterations() * count);
}

// ---- http-parser ----

struct Span {
  const char* p;
  size_t n;
};
struct Recorded {
  Span url;
  Span names[64];
  Span values[64];
  int fields;
  int messages;
};

int OnUrl(http_parser* p, const char* at, size_t n) {
  static_cast<Recorded*>(p->data)->url = {at, n};
  return 0;
}
int OnField(http_parser* p, const char* at, size_t n) {
  Recorded* r = static_cast<Recorded*>(p->data);
  if (r->fields < 64) r->names[r->fields] = {at, n};
  return 0;
}
int OnValue(http_parser* p, const char* at, size_t n) {
  Recorded* r = static_cast<Recorded*>(p->data);
  if (r->fields < 64) r->values[r->fields] = {at, n};
  ++r->fields;
  return 0;
}
int OnBegin(http_parser* p) {
  Recorded* r = static_cast<Recorded*>(p->data);
  r->fields = 0;
  return 0;
}
int OnComplete(http_parser* p) {
  ++static_cast<Recorded*>(p->data)->messages;
  return 0;
}

int ParseAllNode(const http_parser_settings& settings, Recorded* rec,
                 std::string_view in) {
  http_parser parser;
  http_parser_init(&parser, HTTP_REQUEST);
  parser.data = rec;
  rec->messages = 0;
  const size_t n = http_parser_execute(&parser, &settings, in.data(), in.size());
  if (n != in.size() || parser.http_errno != HPE_OK) std::abort();
  benchmark::DoNotOptimize(rec->url.p);
  return rec->messages;
}

void NodeParse(benchmark::State& state, const std::string& input, int count) {
  http_parser_settings settings;
  http_parser_settings_init(&settings);
  settings.on_message_begin = OnBegin;
  settings.on_url = OnUrl;
  settings.on_header_field = OnField;
  settings.on_header_value = OnValue;
  settings.on_message_complete = OnComplete;
  Recorded rec{};
  if (ParseAllNode(settings, &rec, input) != count) std::abort();
  for (auto _ : state) {
    benchmark::DoNotOptimize(ParseAllNode(settings, &rec, input));
  }
  state.SetBytesProcessed(state.iterations() * input.size());
  state.SetItemsProcessed(state.iterations() * count);
}

BENCHMARK_CAPTURE(BriskParse, small_100B, kSmall, 1);
BENCHMARK_CAPTURE(NodeParse, small_100B, kSmall, 1);
BENCHMARK_CAPTURE(BriskParse, browser_700B, kBrowser, 1);
BENCHMARK_CAPTURE(NodeParse, browser_700B, kBrowser, 1);
BENCHMARK_CAPTURE(BriskParse, pipeline_16, kPipeline, 16);
BENCHMARK_CAPTURE(NodeParse, pipeline_16, kPipeline, 16);

}  // namespace
}  // namespace brisk::http

int main(int argc, char** argv) {
  std::printf("small=%zuB browser=%zuB pipeline=%zuB\n",
              brisk::http::kSmall.size(), brisk::http::kBrowser.size(),
              brisk::http::kPipeline.size());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
