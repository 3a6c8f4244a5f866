// Internal: the state shared by every reactor and worker of one HttpServer,
// and the record of one offloaded request. Not part of the public API.
#ifndef BRISK_SERVER_SERVER_CORE_H_
#define BRISK_SERVER_SERVER_CORE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "concurrency/thread_pool.h"
#include "http/request.h"
#include "http/response.h"
#include "http/router.h"
#include "server/access_log.h"
#include "server/admission_queue.h"
#include "server/handler.h"
#include "server/http_server.h"
#include "server/metrics.h"

namespace brisk {

class Reactor;

struct RouteEntry {
  std::string method;
  std::string pattern;
  Handler handler;
  RouteOptions options;
};

// One offloaded request, shared by its reactor (which owns the connection
// and answers at the deadline) and the worker that runs it.
struct Call {
  http::Request request;
  std::vector<std::pair<std::string, std::string>> param_storage;
  PathParams params;  // views into param_storage
  const RouteEntry* route = nullptr;
  size_t route_id = 0;
  SteadyTime parsed{};    // when the request was complete
  SteadyTime enqueued{};  // admitted to the queue
  SteadyTime deadline{};
  CancelState cancel;
  // Set by the worker when the handler starts (queue wait ends).
  std::atomic<bool> started{false};
  // Where the answer goes: the owning reactor, connection and pipeline slot.
  Reactor* reactor = nullptr;
  uint64_t connection_id = 0;
  uint64_t sequence = 0;
};

struct ServerCore {
  explicit ServerCore(ServerOptions opts);

  // Runs on a worker: takes the next admitted call (CoDel / adaptive LIFO),
  // answers the expired ones with 503, runs one handler and posts its
  // response back to the call's reactor.
  void RunOneCall();

  // Admits `call` (reactor thread). False when the queue is full.
  bool Admit(const std::shared_ptr<Call>& call, SteadyTime now);

  // Connection accounting for drain (any thread).
  void ConnectionClosed();
  void NotifyIfDrained();
  bool WaitDrained(std::chrono::nanoseconds timeout);

  const ServerOptions options;
  http::Router router;
  std::vector<RouteEntry> routes;
  std::unique_ptr<ServerMetrics> metrics;
  std::unique_ptr<AdmissionQueue<std::shared_ptr<Call>>> admission;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<AccessLog> access_log;

  std::atomic<bool> draining{false};
  std::atomic<int64_t> connections{0};
  absl::AnyInvocable<void()> on_drained;
  std::atomic<bool> on_drained_called{false};
  std::mutex drain_mu;
  std::condition_variable drain_cv;
};

}  // namespace brisk

#endif  // BRISK_SERVER_SERVER_CORE_H_
