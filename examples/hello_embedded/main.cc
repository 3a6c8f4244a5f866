// hello_embedded: brisk embedded in a program of its own, using only the
// public API (//server:http_server, //server:handler). Sync, async and
// streamed routes, built-in health/readiness/metrics, and Run(), which
// handles SIGTERM/SIGINT with a graceful drain.
//
//   tools/bazel run //examples/hello_embedded -- 8080
//   curl localhost:8080/greet/Ada?punctuation=%3F
//   curl localhost:8080/shout?text=hi
//   curl localhost:8080/count?to=5
//   curl localhost:8080/numbers?to=5
#include <cstdio>

#include "absl/strings/numbers.h"
#include "examples/hello_embedded/hello_handlers.h"
#include "server/http_server.h"

int main(int argc, char** argv) {
  brisk::PrepareServerProcess();  // a SIGHUP while starting waits; SIGPIPE off
  brisk::ServerOptions options;
  options.address = "127.0.0.1";
  options.port = 8080;
  if (argc > 1) {
    int port = -1;
    if (!absl::SimpleAtoi(argv[1], &port) || port < 0 || port > 65535) {
      std::fprintf(stderr, "hello_embedded: port '%s' is not 0..65535\n", argv[1]);
      return 2;
    }
    options.port = static_cast<uint16_t>(port);
  }
  options.health_path = "/healthz";
  options.ready_path = "/readyz";
  options.metrics_path = "/metrics";
  brisk::HttpServer server(options);

  static const hello::SlowUppercaseService service(std::chrono::milliseconds(20));
  absl::Status s = server.AddRoute("GET", "/greet/{name}", hello::Greet);
  if (s.ok()) {
    s = server.AddAsyncRoute(
        "GET", "/shout",
        [](brisk::RequestContext& ctx, brisk::Responder r) {
          hello::Shout(service, ctx, std::move(r));
        },
        {.run_inline = true, .deadline = std::chrono::milliseconds(500)});
  }
  if (s.ok()) s = server.AddAsyncRoute("GET", "/count", hello::Count);
  if (s.ok()) {
    s = server.AddAsyncRoute("GET", "/numbers", hello::Numbers, {.run_inline = true});
  }
  if (s.ok()) s = server.Start();
  if (!s.ok()) {
    std::fprintf(stderr, "hello_embedded: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("listening on http://127.0.0.1:%u\n", server.port());
  std::fflush(stdout);
  s = server.Run();  // until SIGTERM/SIGINT
  return s.ok() ? 0 : 1;
}
