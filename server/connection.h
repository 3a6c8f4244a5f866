// Internal: one client connection, owned by its Reactor and used only on the
// reactor's loop thread. An explicit state machine over these facts:
//
//  - input: bytes read into `in_` are fed to the incremental parser; each
//    complete request becomes a Slot at the back of `pipeline_` (up to
//    max_pipeline_depth) and is dispatched: inline handlers run at once,
//    offloaded ones go through admission control to the worker pool.
//  - output: responses leave strictly in request order. A slot completed at
//    the front of the pipeline is serialized straight into `out_`; a later
//    one waits in its own buffer until the slots before it are done. All
//    responses produced by one read go out in one send().
//  - one timer at a time, whose meaning follows the state: header (whole
//    head within header_timeout), body (no stall longer than idle_timeout),
//    idle keep-alive, write (pending output flushed within write_timeout),
//    lingering close. A timer that fires early (the state moved on) re-arms
//    itself instead of being cancelled on every request.
//  - close: after a response that ends the connection (Connection: close,
//    an error, draining), the socket is shut down for writing and, only if
//    the client may still be sending, drained for a short while before the
//    close (nginx's lingering close) so the client reads the response
//    instead of a reset.
#ifndef BRISK_SERVER_CONNECTION_H_
#define BRISK_SERVER_CONNECTION_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "http/request.h"
#include "http/request_parser.h"
#include "http/response.h"
#include "net/event_loop.h"
#include "net/io_buffer.h"
#include "net/socket.h"
#include "server/server_core.h"

namespace brisk {

class Reactor;

class Connection {
 public:
  Connection(Reactor* reactor, ServerCore* core, uint64_t id, net::UniqueFd fd,
             std::string peer_host);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  absl::Status Start();

  // Loop thread only.
  void OnCallDone(uint64_t sequence, http::Response response);
  void OnCallShed(uint64_t sequence);
  void OnDeadline(uint64_t sequence);
  void BeginDrain();
  // Closes at once, cancelling pending calls.
  void Close();
  bool closed() const { return closed_; }
  uint64_t id() const { return id_; }

 private:
  struct Slot {
    uint64_t sequence = 0;
    bool ready = false;
    bool close_after = false;
    bool head = false;
    int version_minor = 1;
    size_t metrics_route = 0;  // index into ServerMetrics; num_routes()=unmatched
    SteadyTime parsed{};
    std::string bytes;             // serialized, waiting for earlier slots
    std::shared_ptr<Call> call;    // offloaded and unanswered
    net::TimerId deadline_timer = net::kInvalidTimerId;
  };

  void OnEvents(uint32_t events);
  void OnTimer();
  void ReadAndProcess();
  void ProcessInput();
  void Dispatch(http::Request request);
  void DispatchOffloaded(Slot& slot, http::Request request,
                         const RouteEntry& route, size_t route_id,
                         const http::RouteMatch& match);
  void OnParseError(int status);
  // Queues an answer without a request (parse error, timeout 408).
  void AnswerWithoutRequest(int status);
  // Records, logs and serializes `response` for `slot`, then flushes.
  void Complete(Slot& slot, const http::Response& response,
                const http::Request* request);
  Slot* FindSlot(uint64_t sequence);
  void FlushReady();
  void MaybeSendContinue();
  void Write();
  void StartClosing();
  void AfterEvent();
  void UpdateInterestAndTimer();
  SteadyTime NextTimeout() const;
  bool WantRead() const;
  bool output_pending() const { return out_pos_ < out_.size(); }
  RouteMetrics& MetricsFor(size_t route);

  Reactor* const reactor_;
  ServerCore* const core_;
  const uint64_t id_;
  net::UniqueFd fd_;
  const std::string peer_host_;
  net::EventLoop& loop_;

  net::IoBuffer in_;
  http::RequestParser parser_;
  std::deque<Slot> pipeline_;
  uint64_t next_sequence_ = 1;
  std::string out_;
  size_t out_pos_ = 0;

  uint32_t interest_ = 0;
  bool closed_ = false;
  bool stop_parsing_ = false;       // a response will end the connection
  bool close_after_flush_ = false;  // ...and it is in out_
  bool lingering_ = false;
  bool linger_on_close_ = false;
  bool draining_ = false;
  bool continue_sent_ = false;
  size_t lingered_bytes_ = 0;

  net::TimerId timer_ = net::kInvalidTimerId;
  SteadyTime timer_due_{};
  SteadyTime last_activity_{};
  SteadyTime header_start_{};       // first byte of the current head
  bool in_head_ = false;
  SteadyTime write_blocked_since_{};
  bool write_blocked_ = false;
  SteadyTime linger_start_{};
};

}  // namespace brisk

#endif  // BRISK_SERVER_CONNECTION_H_
