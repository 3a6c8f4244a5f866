// brisk::http::Router: maps (method, path) to a route id, with path
// parameters.
//
//   Router router;
//   router.Add("GET", "/users/{id}", kGetUser);        // absl::Status
//   router.Add("POST", "/users", kCreateUser);
//   RouteMatch m = router.Match("GET", "/users/42");
//   switch (m.kind) {
//     case RouteMatch::kFound: /* m.route_id, m.Param("id") == "42" */ break;
//     case RouteMatch::kNotFound: /* 404 */ break;
//     case RouteMatch::kMethodNotAllowed: /* 405, Allow: m.allow */ break;
//     case RouteMatch::kNotImplemented: /* 501 */ break;
//   }
//
// Patterns are '/'-separated segments; a segment "{name}" matches any one
// non-empty segment and binds it. Literal segments win over parameters
// (with backtracking). A trailing '/' is significant. HEAD is served by GET
// routes unless a HEAD route exists. Paths are matched as given (pass the
// decoded Request::path()), so a pattern is a decoded path too: '?', '#'
// and '%' are refused (no query, no fragment, no escapes). There are no
// wildcards: ":id" and "*" are literal segments. Methods are case-sensitive
// (RFC 9110 §9.1).
//
// Which status, for a request the router does not serve:
//   * the method is unknown, i.e. neither a standard method (GET, HEAD,
//     POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH) nor registered on
//     any route: kNotImplemented (501, RFC 9110 §15.6.2), whatever the path;
//   * the method is known and the path has routes, but not for it:
//     kMethodNotAllowed (405 with Allow, RFC 9110 §15.5.6);
//   * the method is known and no route matches the path: kNotFound (404);
//   * CONNECT with its authority-form target ("host:port", not a path): no
//     route can serve a tunnel, kNotImplemented (501).
// So "PURGE /x" is 501 until some route registers PURGE, then 405 or 404.
// Ownership: Match() results hold views into the router (parameter names)
// and into the `path` argument (values). Thread-safety: Add() only during
// setup; then Match() may be called concurrently from any thread.
#ifndef BRISK_HTTP_ROUTER_H_
#define BRISK_HTTP_ROUTER_H_

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"

namespace brisk::http {

struct RouteMatch {
  enum Kind { kFound, kNotFound, kMethodNotAllowed, kNotImplemented };
  Kind kind = kNotFound;
  size_t route_id = 0;
  // kFound: bound parameters, in pattern order.
  absl::InlinedVector<std::pair<std::string_view, std::string_view>, 4> params;
  // kMethodNotAllowed: value for the Allow header ("GET, HEAD, POST").
  std::string allow;

  std::optional<std::string_view> Param(std::string_view name) const;
};

class Router {
 public:
  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;

  // Registers `route_id` for `method` (a token, e.g. "GET") and `pattern`
  // (must start with '/'). InvalidArgument on a malformed pattern or method
  // (a parameter named twice in it, or named unlike the one registered at
  // the same position), AlreadyExists when the same method and pattern
  // shape are registered. A refused pattern changes nothing.
  absl::Status Add(std::string_view method, std::string_view pattern,
                   size_t route_id);

  // The route for (method, path), or why there is none (see the top of this
  // file). `also`: methods the caller answers itself on every path a route
  // serves (as the server does OPTIONS), named in a 405's Allow with the
  // routes' own.
  RouteMatch Match(std::string_view method, std::string_view path,
                   std::initializer_list<std::string_view> also = {}) const;

  // True for the standard methods and for any method registered with Add().
  // Match() answers kNotImplemented exactly when this is false (and no route
  // matched, which implies it).
  bool IsKnownMethod(std::string_view method) const;

  // Every method some route accepts (HEAD wherever GET is), and `also`, as
  // an Allow header value (sorted, each once): what OPTIONS * answers
  // (RFC 9110 §9.3.7).
  std::string AllowAnywhere(std::initializer_list<std::string_view> also = {}) const;

  size_t size() const { return size_; }

  struct Node;  // a path segment; defined in router.cc

 private:
  std::unique_ptr<Node> root_;
  size_t size_ = 0;
  // Methods registered by Add() that are not standard ones, without repeats.
  std::vector<std::string> extra_methods_;
  // Every method registered by Add(), without repeats.
  std::vector<std::string> methods_;
};

}  // namespace brisk::http

#endif  // BRISK_HTTP_ROUTER_H_
