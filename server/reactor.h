// Internal: one reactor thread. It owns an epoll EventLoop, its own
// SO_REUSEPORT listener (through an Acceptor) and every connection it
// accepts, for their whole life. Other threads talk to it only through
// Post*() methods, which hand work to the loop.
#ifndef BRISK_SERVER_REACTOR_H_
#define BRISK_SERVER_REACTOR_H_

#include <cstdint>
#include <memory>
#include <string_view>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "http/response.h"
#include "http/response_writer.h"
#include "net/acceptor.h"
#include "net/event_loop.h"
#include "net/socket.h"
#include "server/server_core.h"

namespace brisk {

class Connection;

class Reactor {
 public:
  Reactor(ServerCore* core, int index);
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // Creates the loop and starts accepting from `listener` once running.
  absl::Status Init(net::Listener listener);
  void StartThread();
  // Stops the loop and joins the thread (any thread but this reactor's).
  void StopAndJoin();

  // Any thread.
  void PostCallDone(std::shared_ptr<Call> call, http::Response response);
  void PostCallShed(std::shared_ptr<Call> call);
  void PostBeginDrain();
  // Closes the listener and every connection; returns when done.
  void CloseAllAndWait();

  // Loop thread only.
  net::EventLoop& loop() { return *loop_; }
  std::string_view Date();
  void RemoveConnection(uint64_t id);

 private:
  void OnAccept(net::UniqueFd fd, const net::SocketAddress& peer);
  Connection* Find(uint64_t id);
  void ScheduleLogFlush();

  ServerCore* const core_;
  const int index_;
  std::unique_ptr<net::EventLoop> loop_;
  std::unique_ptr<net::Acceptor> acceptor_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Connection>> connections_;
  uint64_t next_id_ = 1;
  bool draining_ = false;
  http::HttpDate date_;
  std::thread thread_;
};

}  // namespace brisk

#endif  // BRISK_SERVER_REACTOR_H_
