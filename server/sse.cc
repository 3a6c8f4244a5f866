#include "server/sse.h"

#include <utility>

namespace brisk {
namespace {

// A field value must not break the line structure.
void AppendLine(std::string_view field, std::string_view value,
                std::string* out) {
  out->append(field);
  out->append(": ");
  for (char c : value) {
    if (c != '\n' && c != '\r') out->push_back(c);
  }
  out->push_back('\n');
}

}  // namespace

SseStream::SseStream(Responder responder) : responder_(std::move(responder)) {
  http::Response head;
  head.status = 200;
  head.AddHeader("Content-Type", "text/event-stream");
  head.AddHeader("Cache-Control", "no-store");
  responder_.BeginStream(std::move(head));
}

SseStream::SseStream(SseStream&& other) noexcept : responder_(std::move(other.responder_)) {}

SseStream::~SseStream() {
  // Unwound by an exception: the handler failed, and the stream must not
  // look complete (the Responder's destructor cuts it off).
  if (std::uncaught_exceptions() > uncaught_at_creation_) return;
  Finish();
}

SseStream& SseStream::operator=(SseStream&& other) noexcept {
  if (this != &other) {
    Finish();  // not the Responder's move-assignment's cut-off
    responder_ = std::move(other.responder_);
  }
  return *this;
}

std::string SseStream::Format(std::string_view data, std::string_view event,
                              std::string_view id) {
  std::string out;
  out.reserve(data.size() + event.size() + id.size() + 32);
  if (!event.empty()) AppendLine("event", event, &out);
  if (!id.empty()) AppendLine("id", id, &out);
  // Every line of `data` (split at CRLF, LF or CR) is a data line.
  size_t start = 0;
  while (true) {
    const size_t end = data.find_first_of("\r\n", start);
    AppendLine("data", data.substr(start, end - start), &out);
    if (end == std::string_view::npos) break;
    start = end + 1;
    if (data[end] == '\r' && start < data.size() && data[start] == '\n') ++start;
  }
  out.push_back('\n');
  return out;
}

bool SseStream::Send(std::string_view data, std::string_view event,
                     std::string_view id) {
  return responder_.Write(Format(data, event, id));
}

bool SseStream::Comment(std::string_view text) {
  std::string out = ":";
  for (char c : text) {
    if (c != '\n' && c != '\r') out.push_back(c);
  }
  out += "\n\n";
  return responder_.Write(out);
}

bool SseStream::Retry(std::chrono::milliseconds delay) {
  return responder_.Write("retry: " + std::to_string(delay.count()) + "\n\n");
}

void SseStream::Finish() {
  if (responder_.valid()) responder_.Finish();
}

}  // namespace brisk
