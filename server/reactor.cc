#include "server/reactor.h"

#include <pthread.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <future>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "concurrency/start_thread.h"
#include "net/io_uring_loop.h"
#include "server/server_thread.h"
#include "server/stderr_writer.h"

namespace brisk::internal {

Reactor::Reactor(const ConnectionContext& context, Lifecycle* lifecycle,
                 int max_connections, net::StreamOptions stream_options,
                 TlsEndpoint* tls)
    : env_{.context = context},
      lifecycle_(lifecycle),
      max_connections_(max_connections),
      stream_options_(stream_options),
      tls_(tls) {}

Reactor::~Reactor() {
  if (thread_.joinable()) StopAndJoin();
  connections_.clear();
  if (env_.home != nullptr) env_.home->Shut();
}

absl::Status Reactor::Init(std::vector<net::Listener> listeners, bool io_uring) {
  absl::StatusOr<std::unique_ptr<net::EventLoop>> loop =
      io_uring ? net::CreateIoUringLoop() : net::CreateEpollLoop();
  if (!loop.ok()) {
    return absl::Status(loop.status().code(),
                        absl::StrCat(io_uring ? "--io=io_uring: " : "--io=epoll: ",
                                     loop.status().message()));
  }
  loop_ = *std::move(loop);
  timers_ = std::make_unique<Connection::Timers>(loop_.get());
  env_.loop = loop_.get();
  env_.home = std::make_shared<LoopHandle>(loop_.get());
  ServerMetrics* metrics = env_.context.metrics;
  loop_->SetLagObserver(
      [metrics](net::Duration lag) { metrics->loop_lag.Observe(lag); });
  for (net::Listener& listener : listeners) {
    absl::StatusOr<std::unique_ptr<net::Acceptor>> acceptor =
        net::Acceptor::Create(
            loop_.get(), std::move(listener),
            [this](net::UniqueFd fd, const net::SocketAddress& peer) {
              OnAccept(std::move(fd), peer);
            },
            net::AcceptorOptions{
                // TLS: one accept per wake-up, as nginx (multi_accept off).
                // A new connection's first handshake step runs at once
                // (its ClientHello is usually there: defer-accept), up to
                // ~1.5 ms with RSA-2048; 64 of them in one pass held the
                // established connections for up to 138 ms under a
                // handshake flood (an outside review: keep-alive p99
                // 32-44 ms vs nginx's 7-9 ms). Plain connections cost
                // microseconds and keep the batch.
                .max_accepts_per_event = tls_ != nullptr ? 1 : 64,
                .on_fd_limit = [this](int error) { OnFdLimit(error); },
                .on_watch_error =
                    [this](const absl::Status& error) { OnWatchError(error); },
                .on_accept_error = [this](int error) { OnAcceptError(error); }});
    if (!acceptor.ok()) return acceptor.status();
    acceptors_.push_back(*std::move(acceptor));
  }
  return absl::OkStatus();
}

void Reactor::OnFdLimit(int error) {
  env_.context.metrics->accept_fd_limit.fetch_add(1, std::memory_order_relaxed);
  const uint64_t n = fd_limit_log_.Count();
  if (n == 0) return;
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  const int64_t open_now = env_.context.metrics->open_connections.load(std::memory_order_relaxed);
  SayOnStderr(
      "accept: %s (open-file limit %llu, %lld connection%s open): new "
      "connections wait in the listen backlog until a descriptor is "
      "free (%llu such accepts since the last line like this; "
      "brisk_accept_fd_limit_total counts them all)",
      std::strerror(error), static_cast<unsigned long long>(files.rlim_cur),
      static_cast<long long>(open_now), open_now == 1 ? "" : "s",
      static_cast<unsigned long long>(n));
}

void Reactor::OnWatchError(const absl::Status& error) {
  // Rare (the kernel out of memory or epoll watches); the acceptor retries.
  if (watch_error_log_.Count() == 0) return;
  SayOnStderr(
      "accept: cannot watch the listener again (%s): new connections "
      "wait in the listen backlog; retrying every 100 ms",
      error.ToString().c_str());
}

void Reactor::OnAcceptError(int error) {
  env_.context.metrics->accept_errors.fetch_add(1, std::memory_order_relaxed);
  const uint64_t n = accept_error_log_.Count();
  if (n == 0) return;
  SayOnStderr(
      "accept: %s: the listener is left alone 100 ms, new connections "
      "wait in its backlog (%llu such errors since the last line like "
      "this; brisk_accept_errors_total counts them all)",
      std::strerror(error), static_cast<unsigned long long>(n));
}

absl::Status Reactor::StartThread() {
  absl::StatusOr<std::thread> t = StartServerThread("a reactor thread", [this] {
    pthread_setname_np(pthread_self(), "brisk-reactor");
    current_server_thread = env_.context.metrics;
    loop_->Run();
  });
  if (!t.ok()) return t.status();
  thread_ = *std::move(t);
  return absl::OkStatus();
}

void Reactor::StopAndJoin() {
  if (!thread_.joinable()) return;
  loop_->Stop();
  thread_.join();
  env_.home->Shut();  // exchanges still held elsewhere post into the void
}

std::string_view Reactor::Date() {
  return date_.Get(static_cast<int64_t>(std::time(nullptr)));
}

void Reactor::OnAccept(net::UniqueFd fd, const net::SocketAddress& peer) {
  ServerMetrics& m = *env_.context.metrics;
  const ConnectionConfig& config = *env_.context.config;
  // The PROXY protocol lets a peer name any client: only trusted ones may.
  if (config.proxy_protocol && config.trusted_proxies != nullptr &&
      !config.trusted_proxies->set.Contains(peer)) {
    OnProxyRefused(peer, "not in --trusted_proxies", /*untrusted=*/true);
    return;  // `fd` closes here
  }
  if ((!accepting_ && !serve_late_accepts_) ||
      !lifecycle_->TryOpenConnection(max_connections_)) {
    m.rejected_connections.fetch_add(1, std::memory_order_relaxed);
    return;  // `fd` closes here: the client sees the connection closed at once
  }
  m.accepted_connections.fetch_add(1, std::memory_order_relaxed);
  m.open_connections.fetch_add(1, std::memory_order_relaxed);
  auto info = std::make_shared<ConnectionInfo>(ConnectionInfo{peer});
  // Behind the PROXY protocol the peer is known once the header is read.
  if (!config.proxy_protocol) TrustIfProxy(info.get());
  ConnectionInfo* const raw_info = info.get();  // filled by the handshake
  auto conn = std::make_unique<Connection>(this, env_, std::move(info));
  Connection* raw = conn.get();
  connections_.insert(std::move(conn));
  raw->Start(MakeStream(std::move(fd), raw, raw_info));
  // Late (io_uring's accept took it before the stop): told to go, and
  // closed while idle if the drain closes idle connections by now (it was
  // left open: a silent one then held the drain until its header timeout).
  if (!accepting_) raw->BeginDrain(/*close_idle=*/lifecycle_->draining());
}

std::unique_ptr<net::Stream> Reactor::MakeStream(net::UniqueFd fd, Connection* connection,
                                                 ConnectionInfo* info) {
  auto socket_stream = [&](net::StreamCallbacks* callbacks) {
    return loop_->CreateStream(std::move(fd), callbacks, stream_options_);
  };
  auto make_transport = [&](net::StreamCallbacks* callbacks) -> std::unique_ptr<net::Stream> {
    if (!env_.context.config->proxy_protocol) return socket_stream(callbacks);
    net::ProxyProtocolStream::Hooks hooks;
    // Both run on this loop, before any byte reaches the connection (or
    // its TLS session), and while the connection lives.
    hooks.on_header = [this, info](const net::ProxyHeader& header) {
      ServerMetrics& m = *env_.context.metrics;
      (header.version == 1 ? m.proxy_headers_v1 : m.proxy_headers_v2)
          .fetch_add(1, std::memory_order_relaxed);
      info->proxied = true;
      // A header that names no client (v2 LOCAL, v1 UNKNOWN, ...) leaves
      // the balancer as the peer, but the balancer did not vouch for any
      // X-Forwarded-For on such a connection (in TCP mode it writes none):
      // whatever is there came from the client, so it is not believed.
      if (!header.source.has_value()) return;
      info->peer = *header.source;
      TrustIfProxy(info);
    };
    hooks.on_invalid = [this, info](std::string_view why) {
      OnProxyRefused(info->peer, why, /*untrusted=*/false);
    };
    return net::ProxyProtocolStream::Create(callbacks, std::move(hooks), socket_stream);
  };
  if (tls_ == nullptr) return make_transport(connection);
  return tls_->CreateStream(
      loop_.get(), make_transport, connection, info,
      [connection] { connection->OnHandshakeDone(); },
      [this, info](std::string_view request_line, size_t body_bytes) {
        // Logged and counted as the plain port logs TLS sent to it (a
        // request refused before its head was read): an operator counting
        // 400s sees both (outside review).
        RouteMetrics& m = env_.context.metrics->unmatched();
        env_.context.metrics->bad_requests.fetch_add(1, std::memory_order_relaxed);
        m.RecordStatus(400);
        m.total.Observe(std::chrono::nanoseconds(0));
        if (env_.context.access_log != nullptr) {
          env_.context.access_log->LogUnparsed(info->peer.HostString(), "-", request_line,
                                               400, body_bytes, std::chrono::nanoseconds(0));
        }
      });
}

void Reactor::TrustIfProxy(ConnectionInfo* info) const {
  const auto& trusted = env_.context.config->trusted_proxies;
  if (trusted != nullptr && trusted->set.Contains(info->peer)) {
    info->trusted_proxies =
        std::make_unique<const std::shared_ptr<const TrustedProxies>>(trusted);
  }
}

void Reactor::OnProxyRefused(const net::SocketAddress& peer, std::string_view why,
                             bool untrusted) {
  ServerMetrics& m = *env_.context.metrics;
  (untrusted ? m.proxy_refused_untrusted : m.proxy_refused_invalid)
      .fetch_add(1, std::memory_order_relaxed);
  static LogLimiter log;
  if (const uint64_t n = log.Count(); n != 0) {
    SayOnStderr(
        "proxy protocol: connection from %s closed: %.*s (%llu such since the "
        "last line like this; brisk_proxy_protocol_refused_total counts them)",
        peer.ToString().c_str(), static_cast<int>(why.size()), why.data(),
        static_cast<unsigned long long>(n));
  }
}

std::unique_ptr<http::RequestParser> Reactor::TakeParser() {
  if (parsers_.empty()) {
    auto parser = std::make_unique<http::RequestParser>(env_.context.config->parser_limits);
    // Routes with a body limit of their own: each request with a body
    // asks its route's, as soon as its head is whole (413 before the body
    // comes, or a 100 Continue goes).
    if (const Dispatcher* dispatcher = env_.context.dispatcher;
        dispatcher != nullptr && dispatcher->any_route_body_limit()) {
      parser->set_body_limit(
          [dispatcher, server_limit = env_.context.config->parser_limits.max_body_bytes](
              const http::Request& head) { return dispatcher->BodyLimitOf(head, server_limit); });
    }
    return parser;
  }
  std::unique_ptr<http::RequestParser> parser = std::move(parsers_.back());
  parsers_.pop_back();
  return parser;
}

void Reactor::ScheduleTimeout(Connection* connection, SteadyTime due) {
  timers_->Schedule(connection, due);
}

void Reactor::CancelTimeout(Connection* connection) {
  timers_->Cancel(connection);
}

void Reactor::GiveBackParser(std::unique_ptr<http::RequestParser> parser) {
  // A few spare parsers serve every connection's next request (the busy
  // ones take and give back one per request); beyond, memory goes back.
  constexpr size_t kSpareParsers = 64;
  if (parsers_.size() >= kSpareParsers) return;
  parser->Reset();
  parsers_.push_back(std::move(parser));
}

void Reactor::OnConnectionClosed(Connection* connection) {
  env_.context.metrics->open_connections.fetch_sub(1, std::memory_order_relaxed);
  lifecycle_->ConnectionClosed();
  // Deferred: the connection may be deep in its own call stack.
  loop_->Post([this, connection] { connections_.erase(connection); });
}

void Reactor::PostStopAccepting() {
  // Held from now (the caller's thread) until each acceptor holds its own:
  // another reactor's drain must not complete in between.
  lifecycle_->AcceptStopBegan();
  loop_->Post([this] {
    if (accepting_) {  // else stopped already (or closing: Stop)
      accepting_ = false;
      serve_late_accepts_ = true;
      for (const std::unique_ptr<net::Acceptor>& acceptor : acceptors_) {
        lifecycle_->AcceptStopBegan();
        acceptor->SetOnStopped(
            [lifecycle = lifecycle_] { lifecycle->AcceptStopEnded(); });
      }
      acceptors_.clear();
    }
    lifecycle_->AcceptStopEnded();
  });
}

std::vector<Connection*> Reactor::ConnectionsNow() const {
  std::vector<Connection*> conns;
  conns.reserve(connections_.size());
  for (const auto& conn : connections_) conns.push_back(conn.get());
  return conns;
}

void Reactor::PostDrainConnections(bool close_idle) {
  loop_->Post([this, close_idle] {
    for (Connection* c : ConnectionsNow()) c->BeginDrain(close_idle);
    lifecycle_->CheckDrained();
  });
}

std::future<void> Reactor::CloseAll() {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> future = done->get_future();
  if (!thread_.joinable()) {
    done->set_value();
    return future;
  }
  loop_->Post([this, done] {
    accepting_ = false;
    serve_late_accepts_ = false;
    acceptors_.clear();
    for (Connection* c : ConnectionsNow()) c->CloseAnsweringPending();
    done->set_value();
  });
  return future;
}

}  // namespace brisk::internal
