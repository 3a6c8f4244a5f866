// RunLoad: an open-loop, constant-rate HTTP/1.1 load generator on brisk's
// net/ event loop. Requests are scheduled at start + i / rate (Schedule);
// a fixed pool of keep-alive connections, one outstanding request each,
// takes due requests in FIFO order; latency runs from the scheduled time to
// the last byte of the response, so waiting for a free connection behind a
// slow server counts (no coordinated omission).
//
//   LoadOptions options;
//   options.port = 8080;
//   options.request = BuildRequest({.method = "GET", .host = "127.0.0.1",
//                                   .port = 8080, .path = "/hello"});
//   options.rate = 1000;
//   options.duration = std::chrono::seconds(10);
//   absl::StatusOr<RunStats> stats = RunLoad(options);
//   if (!stats.ok()) ...;  // bad options, or the server cannot be reached
//
// A mix: several request classes in one run, each with its own request
// bytes, its own constant rate (its own Schedule, class k offset by
// k x 0.618... of its own period, so classes of one rate do not send at the
// same instants) and its own pool of connections, so a class is offered at its
// rate whatever the others do, and its requests never wait for a connection
// held by another class's slow request. Results come back per class:
//
//   options.classes = {{.name = "fast", .request = fast, .rate = 450},
//                      {.name = "slow", .request = slow, .rate = 200,
//                       .connections = 256}};
//   absl::StatusOr<std::vector<RunStats>> per_class = RunLoadByClass(options);
//
// A run stops by itself: every request is either answered, or counted as a
// timeout: unsent when it waited `timeout` for a connection, or `timeout`
// after its send (its connection is then closed and reopened); so the run
// lasts at most warmup + duration + 2 x timeout (plus the initial
// connects). Connections the server closes (`Connection: close`, a reset,
// the end of the stream read with the answer) are reopened, never reused; a
// request in flight on them counts as an error, except that an idempotent
// one closed with no byte of answer on a connection that had carried earlier
// requests is sent once more (RunStats::retried).
//
// Threading: RunLoad blocks. With `threads` = N it runs N event loops, each
// on its own thread with rate/N and connections/N of every class
// (remainders spread over the first loops), and merges their results.
// Options are copied.
#ifndef BRISK_TOOLS_LOADGEN_LOAD_GENERATOR_H_
#define BRISK_TOOLS_LOADGEN_LOAD_GENERATOR_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "net/clock.h"
#include "tools/loadgen/run_stats.h"

namespace brisk::loadgen {

struct RequestSpec {
  std::string method = "GET";
  std::string host = "127.0.0.1";
  uint16_t port = 80;
  std::string path = "/hello";
  std::vector<std::string> headers;  // "Name: value", no CR/LF
  std::string body;                  // sent with Content-Length when set
};

// Serialises one HTTP/1.1 request (Host, User-Agent, the extra headers,
// Content-Length for a body or a POST/PUT/PATCH). A Host among the extra
// headers replaces the default `host:port` one, in its place. InvalidArgument
// for a method or path with spaces or control characters, a malformed
// header, or more than one Host header.
absl::StatusOr<std::string> BuildRequest(const RequestSpec& spec);

// Splits header flag values at the commas that start a new "Name:" (commas
// inside a value stay): {"A: 1, B: x,y", "C: 2"} -> {"A: 1", "B: x,y", "C: 2"}.
std::vector<std::string> SplitHeaders(const std::vector<std::string>& values);

// One class of a mix: the same request sent at a constant rate over the
// class's own connections.
struct RequestClass {
  std::string name;           // for reports; any text
  std::string request;        // the bytes of one request, sent as they are
  bool head_request = false;  // responses carry no body
  uint64_t rate = 0;          // requests per second, > 0
  int connections = 0;        // its own pool; 0: LoadOptions::connections
};

struct LoadOptions {
  std::string host = "127.0.0.1";  // numeric address or "localhost"
  uint16_t port = 0;
  // The request classes. When empty, the run has one class made of
  // `request`, `head_request`, `rate` and `connections` below; when set,
  // those three are ignored.
  std::vector<RequestClass> classes;
  std::string request;        // the bytes of one request, sent as they are
  bool head_request = false;  // responses carry no body
  uint64_t rate = 0;          // requests per second, > 0
  net::Duration duration = std::chrono::seconds(10);  // measured part
  net::Duration warmup{0};    // before `duration`, excluded from the stats
  int connections = 64;  // per class
  net::Duration timeout = std::chrono::seconds(10);
  int threads = 1;
  // Each loop polls without sleeping (epoll_wait with a zero timeout) instead
  // of waiting for its next event: it takes its core whole, and what a
  // sleeping generator adds to every latency (its own wake-up, which on a
  // VM is the host's) is not measured. For latency floors, not for sharing
  // a core.
  bool busy_poll = false;
  // Pause before reopening a connection whose connect failed or that the
  // server closed while idle.
  net::Duration reconnect_delay = std::chrono::milliseconds(20);
  // How long to wait for the initial connections before the schedule starts.
  net::Duration initial_connect_timeout = std::chrono::seconds(2);
};

// Runs the load and returns the statistics of each class, in the order of
// `options.classes` (one entry when it is empty). InvalidArgument for bad
// options; Unavailable when a probe connection to host:port fails (the run
// does not start). Errors during the run are counted, not returned.
absl::StatusOr<std::vector<RunStats>> RunLoadByClass(const LoadOptions& options);

// RunLoadByClass with the classes merged into one RunStats.
absl::StatusOr<RunStats> RunLoad(const LoadOptions& options);

}  // namespace brisk::loadgen

#endif  // BRISK_TOOLS_LOADGEN_LOAD_GENERATOR_H_
