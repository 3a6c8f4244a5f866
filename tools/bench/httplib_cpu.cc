// The thread-pool peer for tools/bench/overload.sh: cpp-httplib's default
// server (its default thread pool, its default unbounded task queue; only
// TCP_NODELAY turned on, see below) with
// the same handlers as brisk's demo routes /cpu?us=N and /hello.
// Built by the script with g++ against Debian's libcpp-httplib-dev; not part
// of the Bazel build.
#include <httplib.h>

#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>

static int64_t ThreadCpuNanos() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 18083;
  httplib::Server server;
  // The one change from the defaults: without TCP_NODELAY, cpp-httplib's
  // separate header and body writes meet the client's delayed ACK and every
  // keep-alive response waits ~40 ms, which would measure the kernel's
  // Nagle interplay rather than the server's queueing.
  server.set_tcp_nodelay(true);
  server.Get("/hello", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("Hello, World!\n", "text/plain");
  });
  // /cpu (default 1 ms) and /report (default 20 ms): the same work.
  auto burn = [](int64_t default_us) {
    return [default_us](const httplib::Request& req, httplib::Response& res) {
    int64_t us = default_us;
    if (req.has_param("us")) us = std::atoll(req.get_param_value("us").c_str());
    // Thread CPU time, as brisk's /cpu: time-sliced threads must not
    // overlap their "work".
    const int64_t end = ThreadCpuNanos() + us * 1000;
    uint64_t x = 88172645463325252ull;
    while (ThreadCpuNanos() < end) {
      for (int i = 0; i < 256; ++i) {  // the same xorshift work as brisk's
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
      }
    }
    res.set_content("burned " + std::to_string(us) + " us " +
                        std::to_string(x % 10) + "\n",
                    "text/plain");
    };
  };
  server.Get("/cpu", burn(1000));
  server.Get("/report", burn(20000));
  server.listen("127.0.0.1", port);
  return 0;
}
