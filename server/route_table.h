// Internal: the routes of one HttpServer — what to run for a method and
// path. Filled before Start(), read-only afterwards (Match() may then be
// called from any thread).
#ifndef BRISK_SERVER_ROUTE_TABLE_H_
#define BRISK_SERVER_ROUTE_TABLE_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "http/router.h"
#include "server/handler.h"

namespace brisk::internal {

struct Route {
  std::string method;
  std::string pattern;
  // Exactly one of the three is set.
  Handler handler;     // synchronous: returns the answer
  AsyncHandler async;  // answers through a Responder
  BatchHandler batch;  // a batch of requests at a time
  RouteOptions options;
  BatchOptions batch_options;  // batch routes
};

class RouteTable {
 public:
  // InvalidArgument for a malformed method/pattern or a handler missing;
  // AlreadyExists for a duplicate (see http::Router::Add).
  absl::Status Add(Route route);
  // A 405's Allow names OPTIONS too: the server answers it on every path a
  // route serves that has no OPTIONS route of its own (dispatcher.cc).
  http::RouteMatch Match(std::string_view method, std::string_view path) const {
    return router_.Match(method, path, {"OPTIONS"});
  }
  // The Allow header of OPTIONS *: every method some route accepts, and
  // OPTIONS (answered for "*" and on every routed path).
  std::string ServerWideAllow() const { return router_.AllowAnywhere({"OPTIONS"}); }
  const Route& route(size_t id) const { return routes_[id]; }
  size_t size() const { return routes_.size(); }
  // Metrics are kept per pattern (GET and POST on "/x" share one series):
  // the distinct patterns in registration order, and each route's index
  // among them.
  const std::vector<std::string>& metric_names() const { return names_; }
  size_t metrics_index(size_t id) const { return metrics_index_[id]; }
  // Sets RouteOptions::access_log = false on every route whose pattern is
  // `pattern` (ServerOptions::access_log_quiet_paths); InvalidArgument if
  // no route has it.
  absl::Status QuietAccessLog(std::string_view pattern);
  // Some route has a body limit of its own (RouteOptions::max_body_bytes).
  bool any_body_limit() const { return any_body_limit_; }

 private:
  http::Router router_;
  std::vector<Route> routes_;
  std::vector<std::string> names_;
  std::vector<size_t> metrics_index_;
  bool any_body_limit_ = false;
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_ROUTE_TABLE_H_
