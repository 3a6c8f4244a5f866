// The brisk server binary: flags -> ServerOptions, demo routes, Run().
// See README.md.
//
//   tools/bazel run //server -- --port=8080 --workers=4
//
// Prints "listening on http://HOST:PORT" once ready. SIGTERM/SIGINT shut
// down gracefully (see HttpServer::Run); a second signal exits at once
// (status 128 + signal number).
#include <time.h>

#include <chrono>
#include <cstdint>
#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "http/ascii.h"
#include "http/response.h"
#include "server/handler.h"
#include "server/http_server.h"
#include "server/sse.h"

ABSL_FLAG(std::string, address, "0.0.0.0", "Address to listen on (IPv4 or IPv6).");
ABSL_FLAG(int32_t, port, 8080, "Port to listen on; 0 picks a free port.");
ABSL_FLAG(int32_t, reactors, 1, "Reactor (event loop) threads.");
ABSL_FLAG(bool, defer_accept, true,
          "TCP_DEFER_ACCEPT on the listeners and a read right after accept.");
ABSL_FLAG(std::string, io, "epoll",
          "How reactors wait for IO: epoll, or io_uring (Linux 6.0+).");
ABSL_FLAG(int32_t, workers, 4, "Worker threads for offloaded handlers.");
ABSL_FLAG(int32_t, queue_capacity, 1024,
          "Offloaded requests that may wait for a worker; beyond: 503.");
ABSL_FLAG(int32_t, max_connections, 10000,
          "Open connections; beyond, new ones are closed at once.");
ABSL_FLAG(absl::Duration, header_timeout, absl::Seconds(10),
          "Time allowed for a whole request head (slowloris): else 408.");
ABSL_FLAG(absl::Duration, idle_timeout, absl::Seconds(60),
          "Idle keep-alive connections are closed after this; also the "
          "longest pause while a body is received.");
ABSL_FLAG(absl::Duration, write_timeout, absl::Seconds(10),
          "Pending output must be written within this once the client "
          "stops reading.");
ABSL_FLAG(absl::Duration, request_deadline, absl::Seconds(5),
          "Default deadline of an offloaded request (503 when passed). "
          "Clients may shorten it with X-Request-Budget-Ms.");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(10),
          "On SIGTERM/SIGINT, how long in-flight requests may take.");
ABSL_FLAG(int64_t, max_header_bytes, 32 * 1024,
          "Largest request header section (431 beyond).");
ABSL_FLAG(int64_t, max_body_bytes, 1 << 20, "Largest request body (413 beyond).");
ABSL_FLAG(std::string, access_log, "",
          "Access log file; '-' for stdout; empty for none.");
ABSL_FLAG(std::string, admission, "deadline",
          "Admission control of offloaded requests: 'deadline' (each "
          "request's own deadline and its route's measured cost decide; "
          "earliest deadline first) or 'codel' (CoDel + adaptive LIFO).");
ABSL_FLAG(absl::Duration, codel_target, absl::Milliseconds(5),
          "CoDel target: queue wait allowed while a standing queue exists.");
ABSL_FLAG(absl::Duration, codel_interval, absl::Milliseconds(100),
          "CoDel interval: a queue not empty for this long is standing.");
ABSL_FLAG(bool, adaptive_lifo, true,
          "Serve the newest queued request first while a queue is standing.");
ABSL_FLAG(int32_t, shed_status, 503,
          "Status of an admission refusal: 503, or 429 for load balancers "
          "that eject backends after consecutive 5xx.");

namespace {

using brisk::RequestContext;
using brisk::http::Response;

std::chrono::nanoseconds ToChrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(d);
}

// Reads an integer query parameter, clamped to [0, max].
int64_t QueryInt(const RequestContext& ctx, std::string_view name,
                 int64_t fallback, int64_t max) {
  const std::optional<std::string> v = ctx.Query(name);
  if (!v.has_value()) return fallback;
  const std::optional<uint64_t> n = brisk::http::ParseDecimal(*v, 12);
  if (!n.has_value()) return fallback;
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
    "<li><a href=\"/healthz\">GET /healthz</a>: liveness (200 while the "
    "process serves)</li>\n"
    "<li><a href=\"/readyz\">GET /readyz</a>: readiness (503 once a "
    "shutdown began)</li>\n"
    "<li><a href=\"/metrics\">GET /metrics</a>: Prometheus metrics</li>\n"
    "</ul>\n";

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
  add("GET", "/slow",
      [](RequestContext& ctx) {
        const int64_t ms = QueryInt(ctx, "ms", 100, 600000);
        if (!ctx.SleepFor(std::chrono::milliseconds(ms))) {
          return Response::Text(503, "cancelled\n");  // dropped: already 503
        }
        return Response::Text(200, absl::StrCat("slept ", ms, " ms\n"));
      },
      {});
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
  add("GET", "/report", burn(20000), {});
  add("POST", "/echo",
      [](RequestContext& ctx) {
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
  absl::SetProgramUsageMessage(
      "brisk: a low-latency HTTP/1.1 server. See README.md for the flags.");
  absl::ParseCommandLine(argc, argv);

  brisk::ServerOptions o;
  o.address = absl::GetFlag(FLAGS_address);
  const int32_t port = absl::GetFlag(FLAGS_port);
  if (port < 0 || port > 65535) {
    std::fprintf(stderr, "--port must be in [0, 65535]\n");
    return 2;
  }
  o.port = static_cast<uint16_t>(port);
  o.reactors = absl::GetFlag(FLAGS_reactors);
  o.defer_accept = absl::GetFlag(FLAGS_defer_accept);
  const std::string io = absl::GetFlag(FLAGS_io);
  if (io == "epoll") {
    o.io = brisk::IoBackend::kEpoll;
  } else if (io == "io_uring") {
    o.io = brisk::IoBackend::kIoUring;
  } else {
    std::fprintf(stderr, "--io must be epoll or io_uring\n");
    return 2;
  }
  o.workers = absl::GetFlag(FLAGS_workers);
  o.queue_capacity = static_cast<size_t>(
      std::max<int32_t>(1, absl::GetFlag(FLAGS_queue_capacity)));
  o.max_connections = absl::GetFlag(FLAGS_max_connections);
  o.header_timeout = ToChrono(absl::GetFlag(FLAGS_header_timeout));
  o.idle_timeout = ToChrono(absl::GetFlag(FLAGS_idle_timeout));
  o.write_timeout = ToChrono(absl::GetFlag(FLAGS_write_timeout));
  o.request_deadline = ToChrono(absl::GetFlag(FLAGS_request_deadline));
  o.drain_timeout = ToChrono(absl::GetFlag(FLAGS_drain_timeout));
  o.max_header_bytes = static_cast<size_t>(
      std::max<int64_t>(1024, absl::GetFlag(FLAGS_max_header_bytes)));
  o.max_body_bytes =
      static_cast<size_t>(std::max<int64_t>(0, absl::GetFlag(FLAGS_max_body_bytes)));
  o.access_log = absl::GetFlag(FLAGS_access_log);
  o.codel_target = ToChrono(absl::GetFlag(FLAGS_codel_target));
  o.codel_interval = ToChrono(absl::GetFlag(FLAGS_codel_interval));
  o.adaptive_lifo = absl::GetFlag(FLAGS_adaptive_lifo);
  o.shed_status = absl::GetFlag(FLAGS_shed_status);
  if (o.shed_status != 503 && o.shed_status != 429) {
    std::fprintf(stderr, "--shed_status must be 503 or 429\n");
    return 2;
  }
  const std::string admission = absl::GetFlag(FLAGS_admission);
  if (admission == "deadline") {
    o.admission = brisk::ServerOptions::Admission::kDeadline;
  } else if (admission == "codel") {
    o.admission = brisk::ServerOptions::Admission::kCodel;
  } else {
    std::fprintf(stderr, "--admission must be 'deadline' or 'codel'\n");
    return 2;
  }
  o.metrics_path = "/metrics";
  o.health_path = "/healthz";
  o.ready_path = "/readyz";

  brisk::HttpServer server(o);
  if (absl::Status s = AddDemoRoutes(server); !s.ok()) {
    std::fprintf(stderr, "routes: %s\n", s.ToString().c_str());
    return 1;
  }
  if (absl::Status s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "start: %s\n", s.ToString().c_str());
    return 1;
  }
  const bool v6 = o.address.find(':') != std::string::npos;
  std::printf("listening on http://%s%s%s:%u\n", v6 ? "[" : "",
              o.address.c_str(), v6 ? "]" : "", server.port());
  std::fflush(stdout);
  if (absl::Status s = server.Run(); !s.ok()) {
    std::fprintf(stderr, "run: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
