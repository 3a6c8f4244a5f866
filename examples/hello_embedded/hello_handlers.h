// The handlers of the hello_embedded example, in a library of their own so
// that they can be unit-tested without a server (see hello_handlers_test.cc,
// which uses brisk::testing::FakeRequest).
#ifndef BRISK_EXAMPLES_HELLO_EMBEDDED_HELLO_HANDLERS_H_
#define BRISK_EXAMPLES_HELLO_EMBEDDED_HELLO_HANDLERS_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "http/response.h"
#include "server/handler.h"

namespace hello {

// GET /greet/{name}?punctuation=...: synchronous, runs on a worker.
brisk::http::Response Greet(brisk::RequestContext& ctx);

// A pretend remote service that answers on its own thread, as an RPC
// client would: the caller's callback runs there.
class SlowUppercaseService {
 public:
  explicit SlowUppercaseService(std::chrono::milliseconds latency)
      : latency_(latency) {}
  void Call(std::string text, std::function<void(std::string)> done) const;

 private:
  std::chrono::milliseconds latency_;
};

// GET /shout?text=...: asynchronous. It only starts the call (so it runs
// inline on the reactor) and answers from the service's thread.
void Shout(const SlowUppercaseService& service, brisk::RequestContext& ctx,
           brisk::Responder responder);

// GET /count?to=N: a streamed answer, one line per number, written as fast
// as the client reads (it waits when the connection's buffer is full).
void Count(brisk::RequestContext& ctx, brisk::Responder responder);

// GET /numbers?to=N: the same stream without a worker. Registered inline
// (RouteOptions::run_inline): it writes what the connection's buffer takes
// and goes on from OnWritable() on the reactor each time the client has
// read, so a thousand slow readers hold no threads.
void Numbers(brisk::RequestContext& ctx, brisk::Responder responder);

}  // namespace hello

#endif  // BRISK_EXAMPLES_HELLO_EMBEDDED_HELLO_HANDLERS_H_
