#include "server/dispatcher.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "http/ascii.h"
#include "http/router.h"
#include "server/stderr_writer.h"

namespace brisk::internal {
namespace {

// The client's budget: "X-Request-Budget-Ms: 250" shortens the deadline.
constexpr std::string_view kBudgetHeader = "X-Request-Budget-Ms";

// A whole number of milliseconds; 0 and a negative one of any length
// ("-5": the caller's own budget already ran out, as a client passing on
// what is left of its deadline may send) are 0, no time left: refused at
// once. Leading zeros do not count; more than 9 digits after them (over 11
// days: no shorter than any deadline) and anything else ("1.5", "abc")
// are nullopt, ignored. (A negative one of 10 digits or more, or one with
// leading zeros past 9 digits, used to be ignored: the request got the
// whole deadline; outside review.)
std::optional<int64_t> ParseBudgetMs(std::string_view v) {
  const bool negative = v.starts_with('-');
  if (negative) v.remove_prefix(1);
  if (v.empty() || v.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  const size_t significant = v.find_first_not_of('0');
  if (negative || significant == std::string_view::npos) return 0;
  std::optional<uint64_t> n = http::ParseDecimal(v.substr(significant), /*max_digits=*/9);
  if (!n.has_value()) return std::nullopt;
  return static_cast<int64_t>(*n);
}

std::string_view RefusalText(ShedReason reason) {
  switch (reason) {
    case ShedReason::kQueueFull: return "overloaded: queue full\n";
    case ShedReason::kPredictedLate:
      // Not always overload: a budget below the route's own time, or
      // already spent (0 or negative), is refused so on an idle server.
      return "cannot finish before the deadline\n";
    case ShedReason::kExpiredInQueue:
      return "overloaded: too little time left to run\n";
    case ShedReason::kCodel: return "overloaded: queue timeout\n";
    case ShedReason::kStandingQueue:
      return "overloaded: the queue is not draining\n";
    case ShedReason::kBodyMemory:
      return "overloaded: too many request bodies arriving at once\n";
  }
  return "overloaded\n";
}

}  // namespace

Dispatcher::Dispatcher(const RouteTable* routes,
                       std::shared_ptr<ServerMetrics> metrics,
                       DispatchOptions options)
    : routes_(routes), metrics_(std::move(metrics)), options_(options) {}

SteadyTime Dispatcher::DeadlineOf(const http::Request& request,
                                  const Route& route, SteadyTime arrival) const {
  std::chrono::nanoseconds budget = route.options.deadline.count() > 0
                                        ? route.options.deadline
                                        : options_.request_deadline;
  // Every member of every X-Request-Budget-Ms line: repeated lines are one
  // comma-separated list (RFC 9110 section 5.3), and the tightest budget
  // wins (a proxy that appends a shorter one is heard, whatever the order);
  // members that are no budget are ignored.
  for (const http::HeaderField field : request.headers()) {
    if (!http::EqualsIgnoreCase(field.name, kBudgetHeader)) continue;
    http::ForEachListElement(field.value, [&](std::string_view member) {
      if (std::optional<int64_t> ms = ParseBudgetMs(member)) {
        budget = std::min<std::chrono::nanoseconds>(budget,
                                                    std::chrono::milliseconds(*ms));
      }
      return true;
    });
  }
  return arrival + budget;
}

namespace {

// OPTIONS to a path some route serves, when no route takes OPTIONS there:
// the server answers it (RFC 9110 §9.3.7), as it does OPTIONS *.
bool IsImplicitOptions(std::string_view method, const http::RouteMatch& match) {
  return match.kind == http::RouteMatch::kMethodNotAllowed && method == "OPTIONS";
}

// The answer to a request no route takes.
// The server's own 200 to OPTIONS: Content-Length: 0 (RFC 9110 9.3.7) and
// no Content-Type, there being no content to describe.
http::Response NoContent200() {
  http::Response r;
  r.status = 200;
  return r;
}

http::Response RoutingFailure(std::string_view method, const http::RouteMatch& match) {
  if (match.kind == http::RouteMatch::kNotImplemented) {
    // A method this server does not know for any resource (RFC 9110
    // 15.6.2); a known one the path does not allow is 405.
    return http::Response::Status(501);
  }
  if (match.kind == http::RouteMatch::kMethodNotAllowed) {
    // What the path's routes take, and OPTIONS, answered here: 200 with no
    // content (Content-Length: 0), as OPTIONS *; any other method is 405.
    http::Response r =
        IsImplicitOptions(method, match) ? NoContent200() : http::Response::Status(405);
    r.AddHeader("Allow", match.allow);  // with OPTIONS (RouteTable::Match)
    return r;
  }
  return http::Response::Status(404);
}

bool IsHttpsOnPlainConnection(const http::Request& request, const ConnectionInfo* c) {
  const std::string_view target = request.target();
  if (target.starts_with('/') ||  // origin-form, nearly every request
      target.size() < 8 || !http::EqualsIgnoreCase(target.substr(0, 8), "https://")) {
    return false;
  }
  return c == nullptr || (!c->secure && !c->proxied && c->trusted_proxies == nullptr);
}

// An https URI asked over plain TCP: an origin must refuse it unless it
// came secured, or through a trusted gateway (RFC 9110 §7.4); 421 tells
// the client to ask again over a connection that fits.
http::Response Misdirected() {
  return http::Response::Text(421,
                              "An https URI was requested over a connection without TLS\n");
}

}  // namespace

std::optional<http::Response> Dispatcher::RoutingAnswer(
    const http::Request& head, const ConnectionInfo* connection) const {
  if (IsHttpsOnPlainConnection(head, connection)) return Misdirected();
  if (head.target() == "*") return std::nullopt;  // OPTIONS *: answered 200
  http::RouteMatch match = routes_->Match(head.method(), head.path());
  // OPTIONS, to a path or to "*", is answered after its body, if any.
  if (match.kind == http::RouteMatch::kFound || IsImplicitOptions(head.method(), match)) {
    return std::nullopt;
  }
  return RoutingFailure(head.method(), match);
}

size_t Dispatcher::MetricsRouteOf(const http::Request& head) const {
  const http::RouteMatch match = routes_->Match(head.method(), head.path());
  return match.kind == http::RouteMatch::kFound
             ? routes_->metrics_index(match.route_id)
             : metrics_->num_routes();
}

uint64_t Dispatcher::BodyLimitOf(const http::Request& head, uint64_t server_limit) const {
  const http::RouteMatch match = routes_->Match(head.method(), head.path());
  if (match.kind != http::RouteMatch::kFound) return server_limit;
  const size_t limit = routes_->route(match.route_id).options.max_body_bytes;
  return limit > 0 ? limit : server_limit;
}

Dispatcher::Outcome Dispatcher::Dispatch(http::Request& request,
                                         SteadyTime arrival, SteadyTime now,
                                         const DispatchHome& home) {
  Outcome out;
  out.metrics_route = metrics_->num_routes();
  if (IsHttpsOnPlainConnection(request, home.connection.get())) {
    out.response = Misdirected();
    return out;
  }
  if (request.target() == "*") {
    // OPTIONS * (the parser admits the asterisk-form for OPTIONS only): a
    // question about the server in general (RFC 9110 9.3.7). The answer
    // lists the methods some route here accepts.
    out.response = NoContent200();
    out.response->AddHeader("Allow", routes_->ServerWideAllow());
    return out;
  }
  http::RouteMatch match = routes_->Match(request.method(), request.path());
  if (match.kind != http::RouteMatch::kFound) {
    out.response = RoutingFailure(request.method(), match);
    return out;
  }
  const Route& route = routes_->route(match.route_id);
  out.metrics_route = routes_->metrics_index(match.route_id);
  out.quiet = !route.options.access_log;

  if (route.options.run_inline && route.handler) {
    // The hot path: answered on the reactor, nothing allocated for it.
    PathParams params(match.params.begin(), match.params.end());
    RequestContext ctx(&request, &params, SteadyTime::max(), nullptr,
                       home.connection.get());
    try {
      out.response = route.handler(ctx);
    } catch (...) {
      NoteHandlerException(route, "handler");
      out.response = http::Response::Status(500);
    }
    return out;
  }

  // The match's values point into the request's path: copy them before the
  // request moves.
  std::vector<std::pair<std::string, std::string>> params;
  params.reserve(match.params.size());
  for (const auto& [k, v] : match.params) params.emplace_back(k, v);
  const SteadyTime deadline = DeadlineOf(request, route, arrival);
  auto exchange = std::make_shared<Exchange>(
      std::move(request), std::move(params), now, deadline, match.route_id,
      home.loop, home.connection, metrics_, options_.exchange);
  exchange->Bind(home.sink);

  if (route.options.run_inline) {  // async, started on the reactor
    // A request whose deadline has passed already (X-Request-Budget-Ms: 0,
    // or a budget spent before its last byte came) starts no work: the
    // deadline timer answers it 503 at once, as a request that never ran
    // (expired_in_queue), as it does an offloaded one.
    if (deadline <= now) {
      out.exchange = std::move(exchange);
      return out;
    }
    // Its handler runs now: a 503 at its deadline is a handler too slow,
    // not a request that never ran (expired_in_queue).
    exchange->MarkStarted();
    try {
      route.async(exchange->context(), exchange->MakeResponder());
    } catch (...) {
      NoteHandlerException(route, "handler");
      exchange->Answer(http::Response::Status(500));
    }
    out.exchange = std::move(exchange);
    return out;
  }

  Job job{.route = match.route_id,
          .metrics_route = out.metrics_route,
          .arrival = arrival,
          .deadline = deadline,
          .exchange = exchange,
          .client = reinterpret_cast<uintptr_t>(home.connection.get())};
  if (route.options.service_time_hint) {
    try {
      job.cost_hint = route.options.service_time_hint(exchange->context());
      if (job.cost_hint.has_value() && job.cost_hint->count() < 0) {
        job.cost_hint = std::chrono::nanoseconds(0);
      }
    } catch (...) {  // a hint is advice: without it, the route's estimate
      NoteHandlerException(route, "service_time_hint");
    }
  }
  WorkerPool* pool =
      route.options.background && background_pool_ != nullptr ? background_pool_ : pool_;
  if (std::optional<ShedReason> refused = pool->Submit(std::move(job), now)) {
    CountShed(out.metrics_route, *refused);
    exchange->Bind(nullptr);
    request = std::move(exchange->context().mutable_request());
    out.response = Refusal(*refused);
    return out;
  }
  out.exchange = std::move(exchange);
  return out;
}

http::Response Dispatcher::Refusal(ShedReason reason) const {
  http::Response r =
      http::Response::Text(options_.shed_status, std::string(RefusalText(reason)));
  r.AddHeader("Retry-After", "1");
  return r;
}

void Dispatcher::CountShed(size_t metrics_route, ShedReason reason) {
  metrics_->RecordShed(metrics_route, static_cast<size_t>(reason));
}

bool Dispatcher::Run(Exchange& exchange) {
  const Route& route = routes_->route(exchange.route_id());
  try {
    if (route.handler) {
      exchange.Answer(route.handler(exchange.context()));
    } else {
      route.async(exchange.context(), exchange.MakeResponder());
    }
    return true;
  } catch (...) {
    NoteHandlerException(route, "handler");
    exchange.Answer(http::Response::Status(500));
    return false;
  }
}

bool Dispatcher::RunBatch(const std::vector<Exchange*>& batch) {
  const Route& route = routes_->route(batch.front()->route_id());
  std::vector<RequestContext*> contexts;
  contexts.reserve(batch.size());
  for (Exchange* e : batch) contexts.push_back(&e->context());
  std::vector<http::Response> responses;
  bool failed = false;
  try {
    responses = route.batch(contexts);
    // A broken handler: which answer is whose cannot be known.
    failed = responses.size() != batch.size();
    if (failed) {
      throw std::length_error(
          absl::StrCat("it gave ", responses.size(), " answers for ", batch.size(), " requests"));
    }
  } catch (...) {
    failed = true;
    NoteHandlerException(route, "batch handler");
  }
  // One bad batch answers its own members 500, and nothing else.
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i]->Answer(failed ? http::Response::Status(500) : std::move(responses[i]));
  }
  return !failed;
}

void Dispatcher::NoteHandlerException(const Route& route, const char* part) {
  // Said, then counted: a count seen means its line was said.
  const uint64_t n = exception_log_.Count();
  if (n == 0) {
    metrics_->handler_exceptions.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::string what = "an exception that is no std::exception";
  try {
    throw;  // the one being handled
  } catch (const std::exception& e) {
    what = absl::CEscape(std::string(e.what()).substr(0, 300));
  } catch (...) {
  }
  internal::SayOnStderr(
      "brisk: the %s of %s %s threw: %s (answered 500; %llu such since the last line)", part,
      absl::CEscape(route.method), absl::CEscape(route.pattern), what,
      static_cast<unsigned long long>(n));
  metrics_->handler_exceptions.fetch_add(1, std::memory_order_relaxed);
}

void Dispatcher::Refuse(Exchange& exchange, ShedReason reason) {
  if (exchange.Refuse(Refusal(reason))) {
    CountShed(routes_->metrics_index(exchange.route_id()), reason);
  }
}

}  // namespace brisk::internal
