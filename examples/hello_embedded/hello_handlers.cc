#include "examples/hello_embedded/hello_handlers.h"

#include <cctype>
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

void Count(brisk::RequestContext& ctx, brisk::Responder responder) {
  int to = 10;
  if (std::optional<std::string> v = ctx.Query("to")) {
    to = 0;
    for (char c : *v) {
      // Checked after each digit, so `to` never exceeds 10,000,009.
      if (c >= '0' && c <= '9') to = to * 10 + (c - '0');
      if (c < '0' || c > '9' || to > 1000000) {
        responder.Send(Response::Text(400, "to must be a number <= 1000000\n"));
        return;
      }
    }
  }
  responder.BeginStream(Response::Text(200, ""));
  for (int i = 1; i <= to && !responder.closed(); ++i) {
    if (!responder.Write(std::to_string(i) + "\n")) {
      // The client reads slower than we write: wait instead of buffering.
      responder.WaitWritable(std::chrono::seconds(10));
    }
  }
  responder.Finish();
}

}  // namespace hello
