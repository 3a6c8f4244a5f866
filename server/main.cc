// The brisk server binary: flags, demo routes, signals. See README.md.
//
//   tools/bazel run //server -- --port=8080 --workers=4
//
// Prints "listening on http://HOST:PORT" once ready. SIGTERM/SIGINT drain:
// stop accepting, finish in-flight requests (answered with Connection:
// close), close idle connections, exit 0 within --drain_timeout. A second
// signal exits at once (status 128 + signal number).
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <future>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "http/response.h"
#include "http/url.h"
#include "net/event_loop.h"
#include "net/signals.h"
#include "server/handler.h"
#include "server/http_server.h"

ABSL_FLAG(std::string, address, "0.0.0.0", "Address to listen on (IPv4 or IPv6).");
ABSL_FLAG(int32_t, port, 8080, "Port to listen on; 0 picks a free port.");
ABSL_FLAG(int32_t, reactors, 1, "Reactor (event loop) threads.");
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
ABSL_FLAG(absl::Duration, codel_target, absl::Milliseconds(5),
          "CoDel target: queue wait allowed while a standing queue exists.");
ABSL_FLAG(absl::Duration, codel_interval, absl::Milliseconds(100),
          "CoDel interval: a queue not empty for this long is standing.");
ABSL_FLAG(bool, adaptive_lifo, true,
          "Serve the newest queued request first while a queue is standing.");

namespace {

using brisk::RequestContext;
using brisk::http::Response;

std::chrono::nanoseconds ToChrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(d);
}

// Reads an integer query parameter, clamped to [0, max].
int64_t QueryInt(const RequestContext& ctx, std::string_view name,
                 int64_t fallback, int64_t max) {
  for (const auto& [k, v] : brisk::http::ParseQuery(ctx.request().query())) {
    if (k != name) continue;
    int64_t n = 0;
    if (v.empty() || v.size() > 12) return fallback;
    for (char c : v) {
      if (c < '0' || c > '9') return fallback;
      n = n * 10 + (c - '0');
    }
    return n > max ? max : n;
  }
  return fallback;
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
    "<li>POST /echo: answers with the request body</li>\n"
    "<li><a href=\"/healthz\">GET /healthz</a>: 200, or 503 while "
    "draining</li>\n"
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
  add("GET", "/cpu",
      [](RequestContext& ctx) {
        // N us of this thread's CPU time (not wall time: threads sharing a
        // core must not overlap their "work").
        const int64_t us = QueryInt(ctx, "us", 1000, 10000000);
        const int64_t end = ThreadCpuNanos() + us * 1000;
        uint64_t x = 88172645463325252ull;
        while (ThreadCpuNanos() < end && !ctx.cancelled()) {
          for (int i = 0; i < 256; ++i) {  // xorshift: real CPU work
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
          }
        }
        return Response::Text(200, absl::StrCat("burned ", us, " us ",
                                                x % 10, "\n"));
      },
      {});
  add("POST", "/echo",
      [](RequestContext& ctx) {
        Response r;
        r.status = 200;
        r.body = std::move(ctx.mutable_request().mutable_body());
        r.AddHeader("Content-Type", "application/octet-stream");
        return r;
      },
      {});
  add("GET", "/healthz",
      [&server](RequestContext&) {
        return server.draining() ? Response::Text(503, "draining\n")
                                 : Response::Text(200, "ok\n");
      },
      kInline);
  add("GET", "/metrics",
      [&server](RequestContext&) {
        Response r;
        r.status = 200;
        server.metrics().AppendPrometheus(&r.body);
        r.AddHeader("Content-Type", "text/plain; version=0.0.4");
        return r;
      },
      kInline);
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

  // Signals first, before any thread exists, so every thread inherits the
  // blocked mask and SIGTERM/SIGINT reach only the signalfd.
  absl::StatusOr<std::unique_ptr<brisk::net::EventLoop>> main_loop =
      brisk::net::CreateEpollLoop();
  if (!main_loop.ok()) {
    std::fprintf(stderr, "event loop: %s\n", main_loop.status().ToString().c_str());
    return 1;
  }
  brisk::net::EventLoop& loop = **main_loop;
  brisk::HttpServer server(o);
  int signals_seen = 0;
  absl::StatusOr<std::unique_ptr<brisk::net::SignalWatcher>> signals =
      brisk::net::SignalWatcher::Create(
          &loop, {SIGTERM, SIGINT}, [&](int signo) {
            if (++signals_seen > 1) {
              std::fflush(stdout);
              _exit(128 + signo);  // second signal: exit at once
            }
            std::fprintf(stderr, "signal %d: draining (up to %s)\n", signo,
                         absl::FormatDuration(
                             absl::GetFlag(FLAGS_drain_timeout)).c_str());
            server.BeginDrain();
            loop.RunAfter(o.drain_timeout, [&loop] { loop.Stop(); });
          });
  if (!signals.ok()) {
    std::fprintf(stderr, "signals: %s\n", signals.status().ToString().c_str());
    return 1;
  }
  server.SetOnDrained([&loop] { loop.Post([&loop] { loop.Stop(); }); });

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

  loop.Run();  // until drained, or the drain timeout

  // Stop: cancels what is left and joins every thread. A handler that
  // ignores its cancellation flag cannot hold the process past the drain.
  auto stopped = std::async(std::launch::async, [&server] { server.Stop(); });
  if (stopped.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
    std::fprintf(stderr, "handlers still running after drain; exiting\n");
    std::fflush(stdout);
    _exit(0);
  }
  return 0;
}
