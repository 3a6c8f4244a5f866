// The brisk server binary: flags -> ServerOptions, demo routes, Run().
// See README.md.
//
//   tools/bazel run //server -- --port=8080 --workers=4
//
// Prints "listening on http://HOST:PORT" once ready. SIGTERM/SIGINT shut
// down gracefully (see HttpServer::Run); a second signal exits at once
// (status 128 + signal number).
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "http/ascii.h"
#include "http/conditional.h"
#include "http/json_string.h"
#include "http/response.h"
#include "server/flags.h"
#include "server/handler.h"
#include "server/http_server.h"
#include "server/sse.h"
#include "server/stderr_writer.h"
#include "tls/peer_identity.h"

namespace {

using brisk::RequestContext;
using brisk::http::Response;

// Reads an integer query parameter, clamped to [0, max].
int64_t QueryInt(const RequestContext& ctx, std::string_view name,
                 int64_t fallback, int64_t max) {
  const std::optional<std::string> v = ctx.Query(name);
  if (!v.has_value()) return fallback;
  // All digits, however many: a value too long to parse is above any cap
  // and is cut to it, as a shorter one would be (not the fallback).
  if (v->empty() ||
      !std::all_of(v->begin(), v->end(), [](char c) { return brisk::http::IsDigit(c); })) {
    return fallback;
  }
  std::string_view digits = *v;
  while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
  const std::optional<uint64_t> n = brisk::http::ParseDecimal(digits, 12);
  if (!n.has_value()) return max;
  return std::min<int64_t>(static_cast<int64_t>(*n), max);
}

int64_t ThreadCpuNanos() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

constexpr char kIndex[] =
    "<!doctype html>\n<title>brisk</title>\n<h1>brisk</h1>\n<ul>\n"
    "<li><a href=\"/hello\">GET /hello</a>: tiny fixed text (inline)</li>\n"
    "<li><a href=\"/slow?ms=100\">GET /slow?ms=N</a>: sleeps N ms on a "
    "worker (honours its deadline)</li>\n"
    "<li><a href=\"/cpu?us=1000\">GET /cpu?us=N</a>: burns N us of CPU time on a "
    "worker</li>\n"
    "<li><a href=\"/report?us=20000\">GET /report?us=N</a>: the same on a "
    "route of its own (default 20 ms): a slow route beside /cpu</li>\n"
    "<li>POST /echo: answers with the request body</li>\n"
    "<li><a href=\"/events?n=5&amp;ms=200\">GET /events?n=N&amp;ms=M</a>: "
    "N Server-Sent Events, one every M ms (a streamed answer)</li>\n"
    "<li><a href=\"/whoami\">GET /whoami</a>: the connection's TLS client "
    "certificate as the server verified it (mutual TLS), as JSON</li>\n"
    "<li><a href=\"/healthz\">GET /healthz</a>: liveness (200 while the "
    "process serves)</li>\n"
    "<li><a href=\"/readyz\">GET /readyz</a>: readiness (503 once a "
    "shutdown began)</li>\n"
    "<li><a href=\"/metrics\">GET /metrics</a>: Prometheus metrics</li>\n"
    "<li><a href=\"/status\">GET /status</a>: live status page (its data: "
    "<a href=\"/status.json\">GET /status.json</a>)</li>\n"
    "</ul>\n";

// {"secure":..,"verified":..} and, for a verified client certificate, its
// subject, issuer, serial, fingerprint and subject alternative names.
std::string WhoAmI(const RequestContext& ctx) {
  std::string out = absl::StrCat("{\"secure\":", ctx.secure() ? "true" : "false");
  const brisk::tls::PeerIdentity* id = ctx.client_certificate();
  absl::StrAppend(&out, ",\"verified\":", id != nullptr ? "true" : "false");
  if (id != nullptr) {
    auto field = [&out](const char* name, std::string_view value) {
      absl::StrAppend(&out, ",\"", name, "\":");
      brisk::http::AppendJsonString(value, &out);
    };
    auto list = [&out](const char* name, const std::vector<std::string>& values) {
      absl::StrAppend(&out, ",\"", name, "\":[");
      for (size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out += ',';
        brisk::http::AppendJsonString(values[i], &out);
      }
      out += ']';
    };
    field("subject", id->subject);
    field("issuer", id->issuer);
    field("serial", id->serial);
    field("sha256_fingerprint", id->sha256_fingerprint);
    list("dns_names", id->dns_names);
    list("uris", id->uris);
    list("emails", id->emails);
    list("ip_addresses", id->ip_addresses);
  }
  out += "}\n";
  return out;
}

absl::Status AddDemoRoutes(brisk::HttpServer& server) {
  using brisk::RouteOptions;
  const RouteOptions kInline{.run_inline = true};
  absl::Status s;
  auto add = [&](std::string_view method, std::string_view path,
                 brisk::Handler h, RouteOptions o) {
    if (s.ok()) s = server.AddRoute(method, path, std::move(h), o);
  };
  // A streamed answer: N events, one every M ms, from a worker that waits
  // on the stream's backpressure and stops when the client leaves.
  if (s.ok()) {
    s = server.AddAsyncRoute(
        "GET", "/events",
        [](RequestContext& ctx, brisk::Responder r) {
          const int64_t n = QueryInt(ctx, "n", 5, 1000000);
          const int64_t ms = QueryInt(ctx, "ms", 200, 60000);
          brisk::SseStream sse(std::move(r));
          for (int64_t i = 1; i <= n && !sse.closed(); ++i) {
            if (!sse.Send(absl::StrCat("event ", i, " of ", n), "tick",
                          absl::StrCat(i))) {
              sse.responder().WaitWritable(std::chrono::seconds(10));
            }
            if (i < n) ctx.SleepFor(std::chrono::milliseconds(ms));
          }
        });
  }
  add("GET", "/", [](RequestContext&) { return Response::Html(200, kIndex); },
      kInline);
  add("GET", "/hello",
      [](RequestContext&) { return Response::Text(200, "Hello, World!\n"); },
      kInline);
  add("GET", "/whoami",
      [](RequestContext& ctx) { return Response::Json(200, WhoAmI(ctx)); },
      kInline);
  // Its cost is in its query: admission knows it from the first request
  // (RouteOptions::service_time_hint), so a burst of them is judged at
  // arrival, not when the first ends, and a mix of sleeps is not averaged.
  const auto slow_ms = [](const RequestContext& ctx) {
    return QueryInt(ctx, "ms", 100, 600000);
  };
  add("GET", "/slow",
      [slow_ms](RequestContext& ctx) {
        const int64_t ms = slow_ms(ctx);
        if (!ctx.SleepFor(std::chrono::milliseconds(ms))) {
          return Response::Text(503, "cancelled\n");  // dropped: already 503
        }
        return Response::Text(200, absl::StrCat("slept ", ms, " ms\n"));
      },
      {.service_time_hint = [slow_ms](const RequestContext& ctx)
           -> std::optional<std::chrono::nanoseconds> {
         return std::chrono::milliseconds(slow_ms(ctx));
       }});
  // N us of this thread's CPU time (not wall time: threads sharing a core
  // must not overlap their "work"). /report is the same work on a route of
  // its own, with a heavier default: a slow route beside a fast one.
  auto burn = [](int64_t default_us) {
    return [default_us](RequestContext& ctx) {
      const int64_t us = QueryInt(ctx, "us", default_us, 10000000);
      const int64_t end = ThreadCpuNanos() + us * 1000;
      uint64_t x = 88172645463325252ull;
      while (ThreadCpuNanos() < end && !ctx.cancelled()) {
        for (int i = 0; i < 256; ++i) {  // xorshift: real CPU work
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
        }
      }
      return Response::Text(200, absl::StrCat("burned ", us, " us ", x % 10, "\n"));
    };
  };
  add("GET", "/cpu", burn(1000), {});
  // A background route: with --background_workers it runs at their lower
  // CPU priority and leaves the core to /cpu.
  add("GET", "/report", burn(20000), {.background = true});
  // /echo has no representation of its own (GET /echo is 405), so a
  // precondition that asks for one is false (RFC 9110 §13.1.1: If-Match
  // is 412) and one that asks for none is true (If-None-Match: *).
  add("POST", "/echo",
      [](RequestContext& ctx) {
        if (brisk::http::EvaluatePreconditions(ctx.request(), {.exists = false}) ==
            brisk::http::Precondition::kFailed) {
          return Response::Status(412);
        }
        Response r;
        r.status = 200;
        r.body = std::move(ctx.mutable_request().mutable_body());
        r.AddHeader("Content-Type", "application/octet-stream");
        return r;
      },
      {});
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything else: SIGHUP held for the server (a reload sent while
  // the process starts must not kill it), SIGPIPE ignored (a closed stdout
  // costs log lines, not the process), the open-file limit raised.
  brisk::PrepareServerProcess();
  brisk::SetFlagsUsage(
      "brisk: a low-latency HTTP/1.1 server (demo routes: GET / lists them).\n"
      "  server --port=8080 [--workers=4] [--tls_cert=C --tls_key=K] ...\n"
      "Flags (README.md, \"The server binary\", says more):");

  absl::StatusOr<brisk::ServerOptions> options =
      brisk::ServerOptionsFromCommandLine(argc, argv);
  if (!options.ok()) {
    std::fprintf(stderr, "%s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  brisk::ServerOptions o = *std::move(options);
  o.metrics_path = "/metrics";
  o.health_path = "/healthz";
  o.ready_path = "/readyz";
  o.status_path = "/status";

  brisk::HttpServer server(o);
  if (absl::Status s = AddDemoRoutes(server); !s.ok()) {
    brisk::internal::SayOnStderr("routes: %s", s.ToString().c_str());
    return 1;
  }
  if (absl::Status s = server.Start(); !s.ok()) {
    brisk::internal::SayOnStderr("start: %s", s.ToString().c_str());
    return 1;
  }
  std::printf("%s\n", brisk::ListeningLine(o, server.port()).c_str());
  std::fflush(stdout);
  if (absl::Status s = server.Run(); !s.ok()) {
    brisk::internal::SayOnStderr("run: %s", s.ToString().c_str());
    return 1;
  }
  return 0;
}
