// Internal: one reactor thread. It owns an EventLoop, its own listener
// (through an Acceptor) and every connection it accepts, for their whole
// life. Other threads reach it only through Post*() methods and the
// LoopHandle its exchanges carry home.
#ifndef BRISK_SERVER_REACTOR_H_
#define BRISK_SERVER_REACTOR_H_

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "http/request_parser.h"
#include "http/response_writer.h"
#include "net/acceptor.h"
#include "net/event_loop.h"
#include "net/proxy_protocol.h"
#include "net/socket.h"
#include "net/stream.h"
#include "server/connection.h"
#include "server/exchange.h"
#include "server/lifecycle.h"
#include "server/log_limiter.h"
#include "server/tls_endpoint.h"

namespace brisk::internal {

class Reactor final : public ConnectionOwner {
 public:
  // `tls` (not owned; null: plain HTTP) wraps every accepted connection.
  Reactor(const ConnectionContext& context, Lifecycle* lifecycle,
          int max_connections, net::StreamOptions stream_options,
          TlsEndpoint* tls = nullptr);
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // Creates the loop (io_uring's or epoll's) and starts accepting from
  // each of `listeners` once running (one, except after a takeover from a
  // process that had more listeners than this one has reactors: every
  // listener taken over keeps being accepted from, or the connections in
  // its backlog would be reset when it closed).
  absl::Status Init(std::vector<net::Listener> listeners, bool io_uring);
  // Starts the loop's thread; ResourceExhausted if the system has none to
  // give (nothing started then).
  absl::Status StartThread();
  // Stops the loop and joins the thread (any thread but this reactor's).
  void StopAndJoin();

  // Any thread: stop accepting (the listener is closed; connections still
  // in its backlog are refused, unless another process shares it).
  // A connection io_uring's accept took just before the stop took effect
  // is served (told to go: Connection: close), not closed, and the drain
  // waits for it (Lifecycle::AcceptStopBegan); after a handover the new
  // process serves the backlog. Idempotent.
  void PostStopAccepting();
  // Any thread: drain every connection (Connection::BeginDrain).
  void PostDrainConnections(bool close_idle);
  // Any thread: closes the listener and every connection (what still waits
  // for a handler is answered 503 first), on the loop; the future is ready
  // when done (at once without a thread). The server posts to every
  // reactor before it waits for any: one held by a handler stuck inline
  // must not keep the others' clients from their answers.
  std::future<void> CloseAll();

  // ConnectionOwner (loop thread).
  std::string_view Date() override;
  void OnConnectionClosed(Connection* connection) override;
  std::unique_ptr<http::RequestParser> TakeParser() override;
  void GiveBackParser(std::unique_ptr<http::RequestParser> parser) override;
  void ScheduleTimeout(Connection* connection, SteadyTime due) override;
  void CancelTimeout(Connection* connection) override;

 private:
  // The open connections, copied: acting on one may close it (and remove
  // it from connections_) while the caller walks the list.
  std::vector<Connection*> ConnectionsNow() const;
  void OnAccept(net::UniqueFd fd, const net::SocketAddress& peer);
  // The connection's stream, from the socket up: the loop's stream, or one
  // that first takes a PROXY protocol header off it (ServerOptions::
  // proxy_protocol) and updates `info`; TLS goes on top.
  std::unique_ptr<net::Stream> MakeStream(net::UniqueFd fd, Connection* connection,
                                          ConnectionInfo* info);
  // `info`'s peer is a trusted proxy: it may name the client in
  // X-Forwarded-For.
  void TrustIfProxy(ConnectionInfo* info) const;
  // A connection closed for its PROXY protocol header: counted, and said on
  // stderr at most once every 10 s.
  void OnProxyRefused(const net::SocketAddress& peer, std::string_view why,
                      bool untrusted);
  // An accept found no descriptor: counted, and said on stderr at most
  // once every 10 s (with how many were not said).
  void OnFdLimit(int error);
  void OnWatchError(const absl::Status& error);
  void OnAcceptError(int error);

  // The loop, the server's context and the LoopHandle, shared by every
  // connection (made with the loop).
  ConnectionEnv env_;
  Lifecycle* const lifecycle_;
  const int max_connections_;
  const net::StreamOptions stream_options_;
  TlsEndpoint* const tls_;
  std::unique_ptr<net::EventLoop> loop_;
  // Every connection's timeouts on one loop timer (made with the loop).
  std::unique_ptr<Connection::Timers> timers_;
  std::vector<std::unique_ptr<net::Acceptor>> acceptors_;
  // Parsers of connections with no request in progress, for reuse.
  std::vector<std::unique_ptr<http::RequestParser>> parsers_;
  // Found by raw pointer (8 bytes a slot).
  absl::flat_hash_set<std::unique_ptr<Connection>> connections_;
  bool accepting_ = true;
  bool serve_late_accepts_ = false;  // after PostStopAccepting, not Stop
  LogLimiter fd_limit_log_;
  LogLimiter watch_error_log_;
  LogLimiter accept_error_log_;
  http::HttpDate date_;
  std::thread thread_;
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_REACTOR_H_
