#include "server/handler.h"

#include <thread>

#include "http/url.h"
#include "server/cancel_state.h"
#include "server/exchange.h"

namespace brisk {

std::optional<std::string_view> RequestContext::Param(
    std::string_view name) const {
  for (const auto& [k, v] : *params_) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::optional<std::string> RequestContext::Query(std::string_view name) const {
  for (auto& [k, v] : http::ParseQuery(request_->query())) {
    if (k == name) return std::move(v);
  }
  return std::nullopt;
}

std::chrono::nanoseconds RequestContext::remaining() const {
  if (deadline_ == SteadyTime::max()) return std::chrono::nanoseconds::max();
  return deadline_ - std::chrono::steady_clock::now();
}

bool RequestContext::cancelled() const {
  return cancel_ != nullptr && cancel_->cancelled();
}

bool RequestContext::SleepFor(std::chrono::nanoseconds d) const {
  if (cancel_ == nullptr) {
    std::this_thread::sleep_for(d);
    return true;
  }
  return cancel_->SleepFor(d);
}

std::string RequestContext::peer_address() const {
  return connection_ != nullptr ? connection_->peer.HostString() : std::string();
}

std::string RequestContext::client_address() const {
  return connection_ != nullptr ? connection_->ClientAddress(*request_) : std::string();
}

bool RequestContext::secure() const {
  return connection_ != nullptr && connection_->secure;
}

const tls::PeerIdentity* RequestContext::client_certificate() const {
  return connection_ != nullptr ? connection_->client_certificate() : nullptr;
}

std::optional<http::TraceParent> RequestContext::trace() const {
  std::optional<std::string_view> v = http::RequestTraceParent(*request_);
  if (!v.has_value()) return std::nullopt;
  return http::ParseTraceParent(*v);
}

}  // namespace brisk
