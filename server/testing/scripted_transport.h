// Test helper: ScriptedTransport, a net::Stream with no socket under it, for
// testing what sits on top of a transport (TlsStream). The test delivers the
// peer's bytes, EOF or an error, and decides how much of the queued output
// the "kernel" takes (window, Release()), which is what a slow client does.
//
//   std::unique_ptr<ScriptedTransport> t = ...;  // made with the stream's callbacks
//   t->window = 0;            // the socket is full
//   ... the stream under test queues output ...
//   t->Release(100);          // 100 bytes go; OnStreamDrained() if all went
//   std::string wire = t->TakeSent();
//
// Follows net/stream.h's contract as far as a test needs: callbacks only from
// the Deliver*/Release calls, never from the owner's calls. One thread.
#ifndef BRISK_SERVER_TESTING_SCRIPTED_TRANSPORT_H_
#define BRISK_SERVER_TESTING_SCRIPTED_TRANSPORT_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "net/stream.h"

namespace brisk::testing {

class ScriptedTransport final : public net::Stream {
 public:
  explicit ScriptedTransport(net::StreamCallbacks* callbacks)
      : callbacks_(callbacks) {}

  void Start() override { started = true; }
  std::string& output() override { return out_; }
  bool Flush() override {
    if (closed_ || broken) return false;
    Take();
    return true;
  }
  size_t pending_output() const override { return out_.size(); }
  void SetReading(bool reading) override { reading_ = reading; }
  bool reading() const override { return reading_; }
  void ShutdownWrite() override {
    if (out_.empty()) {
      fin_sent = true;
    } else {
      fin_after_output_ = true;
    }
  }
  void Close() override {
    closed_ = true;
    out_.clear();
  }
  bool closed() const override { return closed_; }
  int fd() const override { return closed_ ? -1 : 7; }
  // Bytes the client sent that the test has not delivered yet.
  bool HasUnreadInput() const override { return unread_input || held_back; }
  bool HoldsInputBack() const override { return held_back; }
  net::TimePoint receive_time() const override { return received_at; }

  // ShutdownWrite() was called (the FIN went, or goes after the output).
  bool write_shut() const { return fin_sent || fin_after_output_; }

  // What arrives from the client (as the readiness stream would deliver).
  void Deliver(std::string_view bytes) { callbacks_->OnStreamData(bytes); }
  void DeliverEof() { callbacks_->OnStreamEof(); }
  void DeliverError(int error) { callbacks_->OnStreamError(error); }
  void DeliverInputTaken() { callbacks_->OnStreamInputTaken(); }
  // The kernel takes `n` more bytes now, as a writable event would.
  void Release(size_t n) {
    window += n;
    const bool had = !out_.empty();
    Take();
    if (had && out_.empty()) callbacks_->OnStreamDrained();
  }
  // What the kernel took so far, handed to the client.
  std::string TakeSent() { return std::move(sent); }

  size_t window = SIZE_MAX;  // bytes the kernel still takes
  net::TimePoint received_at{};  // what receive_time() reports
  bool unread_input = false;     // bytes in the kernel (HasUnreadInput())
  bool held_back = false;        // bytes held here (HoldsInputBack())
  std::string sent;
  bool started = false;
  bool broken = false;
  bool fin_sent = false;
  uint64_t drains = 0;  // times the kernel took all the queued output

 private:
  void Take() {
    const size_t n = std::min(window, out_.size());
    if (n > 0 && n == out_.size()) ++drains;
    sent.append(out_, 0, n);
    out_.erase(0, n);
    if (window != SIZE_MAX) window -= n;
    if (out_.empty() && fin_after_output_) fin_sent = true;
  }

  net::StreamCallbacks* const callbacks_;
  std::string out_;
  bool reading_ = true;
  bool closed_ = false;
  bool fin_after_output_ = false;
};

}  // namespace brisk::testing

#endif  // BRISK_SERVER_TESTING_SCRIPTED_TRANSPORT_H_
