#include "examples/hello_embedded/hello_handlers.h"

#include <cctype>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

namespace hello {

using brisk::http::Response;

Response Greet(brisk::RequestContext& ctx) {
  const std::string name(ctx.Param("name").value_or("world"));
  if (name.size() > 64) return Response::Text(400, "name too long\n");
  const std::string punctuation = ctx.Query("punctuation").value_or("!");
  return Response::Text(200, "Hello, " + name + punctuation + "\n");
}

void SlowUppercaseService::Call(std::string text,
                                std::function<void(std::string)> done) const {
  std::thread([text = std::move(text), done = std::move(done),
               latency = latency_]() mutable {
    std::this_thread::sleep_for(latency);
    for (char& c : text) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    done(std::move(text));
  }).detach();
}

void Shout(const SlowUppercaseService& service, brisk::RequestContext& ctx,
           brisk::Responder responder) {
  std::optional<std::string> text = ctx.Query("text");
  if (!text.has_value()) {
    responder.Send(Response::Text(400, "missing ?text=\n"));
    return;
  }
  // The Responder moves into the callback: the answer goes out whenever
  // the service replies, from its thread. If the request's deadline passed
  // first, the client already has a 503 and Send() just returns false.
  service.Call(*std::move(text),
               [r = std::make_shared<brisk::Responder>(std::move(responder))](
                   std::string upper) { r->Send(Response::Text(200, upper + "\n")); });
}

namespace {

// The ?to= of /count and /numbers (10 by default); nullopt after answering
// 400 for a bad one.
std::optional<int> CountTo(brisk::RequestContext& ctx, brisk::Responder& responder) {
  int to = 10;
  if (std::optional<std::string> v = ctx.Query("to")) {
    to = 0;
    for (char c : *v) {
      // Checked after each digit, so `to` never exceeds 10,000,009.
      if (c >= '0' && c <= '9') to = to * 10 + (c - '0');
      if (c < '0' || c > '9' || to > 1000000) {
        responder.Send(Response::Text(400, "to must be a number <= 1000000\n"));
        return std::nullopt;
      }
    }
  }
  return to;
}

// Writes the numbers 1..to as the connection takes them: as many as its
// buffer holds now, then more each time the client has read. Kept alive by
// the OnWritable() callback that waits for room (and by nothing else): the
// callback runs when there is room or when the stream is gone, and the
// pump, with its Responder, goes when the last callback has run.
class NumberPump : public std::enable_shared_from_this<NumberPump> {
 public:
  NumberPump(brisk::Responder responder, int to) : responder_(std::move(responder)), to_(to) {}

  void Pump() {
    while (next_ <= to_) {
      // False once the buffer is at its limit (the line was queued).
      const bool room = responder_.Write(std::to_string(next_++) + "\n");
      if (responder_.closed()) return;  // the client left, or the deadline
      if (!room) {
        responder_.OnWritable([self = shared_from_this()] { self->Pump(); });
        return;
      }
    }
    responder_.Finish();
  }

 private:
  brisk::Responder responder_;
  const int to_;
  int next_ = 1;
};

}  // namespace

void Count(brisk::RequestContext& ctx, brisk::Responder responder) {
  const std::optional<int> to = CountTo(ctx, responder);
  if (!to.has_value()) return;
  responder.BeginStream(Response::Text(200, ""));
  for (int i = 1; i <= *to && !responder.closed(); ++i) {
    if (!responder.Write(std::to_string(i) + "\n")) {
      // The client reads slower than we write: wait instead of buffering.
      responder.WaitWritable(std::chrono::seconds(10));
    }
  }
  responder.Finish();
}

void Numbers(brisk::RequestContext& ctx, brisk::Responder responder) {
  const std::optional<int> to = CountTo(ctx, responder);
  if (!to.has_value()) return;
  if (!responder.BeginStream(Response::Text(200, ""))) return;
  std::make_shared<NumberPump>(std::move(responder), *to)->Pump();
}

}  // namespace hello
