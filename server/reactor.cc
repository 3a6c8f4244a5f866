#include "server/reactor.h"

#include <ctime>
#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/connection.h"

namespace brisk {

Reactor::Reactor(ServerCore* core, int index) : core_(core), index_(index) {}

Reactor::~Reactor() {
  if (thread_.joinable()) StopAndJoin();
  connections_.clear();
}

absl::Status Reactor::Init(net::Listener listener) {
  absl::StatusOr<std::unique_ptr<net::EventLoop>> loop = net::CreateEpollLoop();
  if (!loop.ok()) return loop.status();
  loop_ = *std::move(loop);
  ServerMetrics* metrics = core_->metrics.get();
  loop_->SetLagObserver(
      [metrics](net::Duration lag) { metrics->loop_lag.Observe(lag); });
  absl::StatusOr<std::unique_ptr<net::Acceptor>> acceptor =
      net::Acceptor::Create(
          loop_.get(), std::move(listener),
          [this](net::UniqueFd fd, const net::SocketAddress& peer) {
            OnAccept(std::move(fd), peer);
          });
  if (!acceptor.ok()) return acceptor.status();
  acceptor_ = *std::move(acceptor);
  if (core_->access_log != nullptr) ScheduleLogFlush();
  return absl::OkStatus();
}

void Reactor::ScheduleLogFlush() {
  loop_->RunAfter(std::chrono::milliseconds(100), [this] {
    core_->access_log->Flush();
    ScheduleLogFlush();
  });
}

void Reactor::StartThread() {
  thread_ = std::thread([this] { loop_->Run(); });
}

void Reactor::StopAndJoin() {
  if (!thread_.joinable()) return;
  loop_->Stop();
  thread_.join();
}

std::string_view Reactor::Date() {
  return date_.Get(static_cast<int64_t>(std::time(nullptr)));
}

void Reactor::OnAccept(net::UniqueFd fd, const net::SocketAddress& peer) {
  ServerMetrics& m = *core_->metrics;
  if (draining_ ||
      core_->connections.load(std::memory_order_relaxed) >=
          core_->options.max_connections) {
    m.rejected_connections.fetch_add(1, std::memory_order_relaxed);
    return;  // `fd` closes here: the client sees the connection closed at once
  }
  core_->connections.fetch_add(1, std::memory_order_relaxed);
  m.accepted_connections.fetch_add(1, std::memory_order_relaxed);
  m.open_connections.fetch_add(1, std::memory_order_relaxed);
  const uint64_t id = next_id_++;
  // The peer's text form is only needed for the access log.
  auto conn = std::make_unique<Connection>(
      this, core_, id, std::move(fd),
      core_->access_log != nullptr ? peer.HostString() : std::string());
  Connection* raw = conn.get();
  connections_.emplace(id, std::move(conn));
  if (!raw->Start().ok()) raw->Close();
}

Connection* Reactor::Find(uint64_t id) {
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : it->second.get();
}

void Reactor::RemoveConnection(uint64_t id) {
  // Deferred: the connection may be deep in its own call stack.
  loop_->Post([this, id] { connections_.erase(id); });
}

void Reactor::PostCallDone(std::shared_ptr<Call> call,
                           http::Response response) {
  loop_->Post([this, call = std::move(call),
               response = std::move(response)]() mutable {
    Connection* conn = Find(call->connection_id);
    if (conn == nullptr) {
      core_->metrics->late_results_dropped.fetch_add(1,
                                                     std::memory_order_relaxed);
      return;
    }
    conn->OnCallDone(call->sequence, std::move(response));
  });
}

void Reactor::PostCallShed(std::shared_ptr<Call> call) {
  loop_->Post([this, call = std::move(call)] {
    if (Connection* conn = Find(call->connection_id)) {
      conn->OnCallShed(call->sequence);
    }
  });
}

void Reactor::PostBeginDrain() {
  loop_->Post([this] {
    draining_ = true;
    acceptor_.reset();  // closes the listener: new connections are refused
    std::vector<Connection*> conns;
    for (auto& [id, conn] : connections_) conns.push_back(conn.get());
    for (Connection* c : conns) c->BeginDrain();
    core_->NotifyIfDrained();
  });
}

void Reactor::CloseAllAndWait() {
  if (!thread_.joinable()) return;
  std::promise<void> done;
  loop_->Post([this, &done] {
    draining_ = true;
    acceptor_.reset();
    std::vector<Connection*> conns;
    for (auto& [id, conn] : connections_) conns.push_back(conn.get());
    for (Connection* c : conns) c->Close();
    done.set_value();
  });
  done.get_future().wait();
}

}  // namespace brisk
