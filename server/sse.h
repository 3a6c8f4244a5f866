// Server-Sent Events (the text/event-stream format of the HTML standard)
// over a streamed answer.
//
//   absl::Status s = server.AddAsyncRoute(
//       "GET", "/events", [](RequestContext&, Responder r) {
//     SseStream sse(std::move(r));          // sends the head
//     for (int i = 0; !sse.closed(); ++i) {
//       if (!sse.Send(absl::StrCat("tick ", i), "tick", std::to_string(i))) {
//         sse.responder().WaitWritable(std::chrono::seconds(5));
//       }
//       ...
//     }
//   });
//
// Each event is "event: NAME\nid: ID\ndata: LINE\n...\n\n"; a multi-line
// `data` becomes several data lines. Send() has Responder::Write()'s
// backpressure contract (false: wait before sending more, or the stream is
// gone). Destroying the SseStream ends the stream (cuts it off if an
// exception is unwinding).
// Thread-safety: as Responder (one thread at a time).
#ifndef BRISK_SERVER_SSE_H_
#define BRISK_SERVER_SSE_H_

#include <chrono>
#include <exception>
#include <string>
#include <string_view>

#include "server/handler.h"

namespace brisk {

class SseStream {
 public:
  // Begins the stream: 200, Content-Type: text/event-stream,
  // Cache-Control: no-store.
  explicit SseStream(Responder responder);
  // Finish(); but not while an exception unwinds the scope that made it
  // (a handler that failed mid-stream): the Responder's destructor then
  // cuts the stream off, so the client sees it incomplete, not ended.
  ~SseStream();
  SseStream(SseStream&& other) noexcept;
  // Finishes this stream (as the destructor does), then takes `other`'s.
  SseStream& operator=(SseStream&& other) noexcept;

  // One event; `event` and `id` are optional (empty: left out).
  bool Send(std::string_view data, std::string_view event = {},
            std::string_view id = {});
  // A comment line (":text", line breaks dropped), e.g. to keep
  // intermediaries from timing out.
  bool Comment(std::string_view text);
  // Tells the client how long to wait before reconnecting.
  bool Retry(std::chrono::milliseconds delay);
  // Ends the stream (idempotent).
  void Finish();
  bool closed() const { return responder_.closed(); }
  Responder& responder() { return responder_; }

  // The wire form of one event (exposed for tests).
  static std::string Format(std::string_view data, std::string_view event,
                            std::string_view id);

 private:
  Responder responder_;
  // Exceptions in flight where this object was made: more at its
  // destruction means it is being unwound.
  int uncaught_at_creation_ = std::uncaught_exceptions();
};

}  // namespace brisk

#endif  // BRISK_SERVER_SSE_H_
