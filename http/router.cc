#include "http/router.h"

#include <algorithm>
#include <string>
#include <utility>

#include "http/ascii.h"
#include "http/utf8.h"

namespace brisk::http {
namespace {

// An Allow header value for `names` (RFC 9110 §10.2.1): HEAD wherever GET
// is (the router answers HEAD with the GET route), sorted, each once.
std::string AllowValue(std::vector<std::string_view> names) {
  if (std::find(names.begin(), names.end(), "GET") != names.end()) {
    names.push_back("HEAD");
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::string allow;
  for (std::string_view n : names) {
    if (!allow.empty()) allow.append(", ");
    allow.append(n);
  }
  return allow;
}

}  // namespace

struct Router::Node {
  std::string segment;  // literal segment (empty for the root/param nodes)
  std::vector<std::unique_ptr<Node>> literals;
  std::unique_ptr<Node> param;
  std::string param_name;  // for `param`
  std::vector<std::pair<std::string, size_t>> methods;  // method -> route id

  const Node* Literal(std::string_view seg) const {
    for (const auto& child : literals) {
      if (child->segment.size() == seg.size() && child->segment == seg) {
        return child.get();
      }
    }
    return nullptr;
  }

  // Route id for `method`; HEAD falls back to GET.
  const size_t* Route(std::string_view method) const {
    const size_t* get = nullptr;
    for (const auto& [m, id] : methods) {
      if (m == method) return &id;
      if (m == "GET") get = &id;
    }
    return method == "HEAD" ? get : nullptr;
  }
};

namespace {

// RFC 9110 §9.1's table plus PATCH (RFC 5789), by length.
bool IsStandardMethod(std::string_view m) {
  switch (m.size()) {
    case 3:
      return m == "GET" || m == "PUT";
    case 4:
      return m == "HEAD" || m == "POST";
    case 5:
      return m == "TRACE" || m == "PATCH";
    case 6:
      return m == "DELETE";
    case 7:
      return m == "CONNECT" || m == "OPTIONS";
    default:
      return false;
  }
}

bool IsParamName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z') || c == '_')) {
      return false;
    }
  }
  return true;
}

}  // namespace

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

absl::Status Router::Add(std::string_view method, std::string_view pattern,
                         size_t route_id) {
  if (!IsToken(method)) {
    return absl::InvalidArgumentError("route method must be a token");
  }
  // Methods are case-sensitive (RFC 9110 §9.1): a route for "get" would
  // never see a GET, and its path would answer GET with 405 and
  // "Allow: get". A standard method in other letters is refused instead.
  if (std::string upper(method); !IsStandardMethod(method)) {
    for (char& c : upper) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    if (IsStandardMethod(upper)) {
      return absl::InvalidArgumentError("route method \"" + std::string(method) + "\" is not " +
                                        upper + ": methods are case-sensitive (RFC 9110 §9.1)");
    }
  }
  // Answered 501 before routing (no tunnels): a route for it never runs.
  if (method == "CONNECT") {
    return absl::InvalidArgumentError(
        "CONNECT is answered 501 (this server opens no tunnels): a route for it would never run");
  }
  if (pattern.empty() || pattern[0] != '/') {
    return absl::InvalidArgumentError("route pattern must start with '/'");
  }
  // Nor can a decoded path hold a control byte (the parser refuses %00-%1F
  // and %7F): such a pattern would never match, and a CR in it went raw
  // into its route's metrics label.
  for (const char c : pattern) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("route pattern must not hold control characters");
    }
  }
  // Written as characters, in UTF-8 (RFC 3986 §2.5): "/caf\xc3\xa9" matches a
  // request for /caf%C3%A9. Other bytes (a Latin-1 "/caf\xe9") were taken,
  // and read as the same name in the route's metrics label as the UTF-8
  // one: two routes, one series twice.
  for (size_t i = 0; i < pattern.size();) {
    const size_t n = Utf8SequenceLength(pattern.substr(i));
    if (n == 0) {
      return absl::InvalidArgumentError("route pattern must be UTF-8 (write characters as UTF-8)");
    }
    i += n;
  }
  // Patterns are matched against the decoded path, which holds no query or
  // fragment: a pattern with '?' or '#' could never match, and one with a
  // '%' escape would match only a path whose '%' was itself escaped.
  if (pattern.find_first_of("?#%") != std::string_view::npos) {
    return absl::InvalidArgumentError(
        "route pattern must be a decoded path: no '?', '#' or '%' (match the query "
        "with RequestContext::Query(), and write characters as they are)");
  }
  // Every segment is checked before the trie changes, so a refused
  // pattern leaves nothing behind (its parameter names would otherwise
  // bind later patterns at their positions).
  struct Segment {
    std::string_view text;  // the literal, or the parameter's name
    bool param;
  };
  absl::InlinedVector<Segment, 8> segments;
  for (std::string_view rest = pattern.substr(1);;) {
    const size_t slash = rest.find('/');
    const std::string_view seg = rest.substr(0, slash);
    if (!seg.empty() && seg.front() == '{') {
      const std::string_view name = seg.substr(1, seg.size() - 2);
      if (seg.back() != '}' || !IsParamName(name)) {
        return absl::InvalidArgumentError("bad route parameter segment");
      }
      for (const Segment& s : segments) {
        if (s.param && s.text == name) {
          // Param() could only ever give the first of the two values.
          return absl::InvalidArgumentError("route parameter named twice");
        }
      }
      segments.push_back({name, true});
    } else {
      if (seg.find_first_of("{}") != std::string_view::npos) {
        return absl::InvalidArgumentError("braces inside a literal segment");
      }
      // Request paths are matched with their dot segments removed (RFC
      // 3986 §5.2.4): "/./x" could never match.
      if (seg == "." || seg == "..") {
        return absl::InvalidArgumentError(
            "route pattern must not hold \".\" or \"..\" segments (request paths are "
            "matched with them removed)");
      }
      segments.push_back({seg, false});
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  for (const Node* node = root_.get(); const Segment& seg : segments) {
    if (seg.param && node->param != nullptr && node->param_name != seg.text) {
      return absl::InvalidArgumentError(
          "route parameter renamed at the same position");
    }
    node = seg.param ? node->param.get() : node->Literal(seg.text);
    if (node == nullptr) break;  // new from here on: nothing to clash with
  }
  Node* node = root_.get();
  for (const Segment& seg : segments) {
    if (seg.param) {
      if (node->param == nullptr) {
        node->param = std::make_unique<Node>();
        node->param_name = std::string(seg.text);
      }
      node = node->param.get();
      continue;
    }
    Node* child = const_cast<Node*>(node->Literal(seg.text));
    if (child == nullptr) {
      node->literals.push_back(std::make_unique<Node>());
      child = node->literals.back().get();
      child->segment = std::string(seg.text);
    }
    node = child;
  }
  for (const auto& [m, id] : node->methods) {
    if (m == method) {
      return absl::AlreadyExistsError("route already registered: " + std::string(method) + " " +
                                      std::string(pattern));
    }
  }
  node->methods.emplace_back(std::string(method), route_id);
  ++size_;
  if (!IsKnownMethod(method)) extra_methods_.emplace_back(method);
  if (std::find(methods_.begin(), methods_.end(), method) == methods_.end()) {
    methods_.emplace_back(method);
  }
  return absl::OkStatus();
}

std::string Router::AllowAnywhere(std::initializer_list<std::string_view> also) const {
  std::vector<std::string_view> names(methods_.begin(), methods_.end());
  names.insert(names.end(), also.begin(), also.end());
  return AllowValue(std::move(names));
}

namespace {

using Params = absl::InlinedVector<std::pair<std::string_view, std::string_view>, 4>;

}  // namespace

using PathMatches = absl::InlinedVector<const Router::Node*, 2>;

// Depth-first, literals before the parameter. Returns the node serving
// `method`, or nullptr; remembers every node matching the path (a literal
// and a parameter route may both match it, with different methods).
static const Router::Node* Walk(const Router::Node* node, std::string_view rest,
                                std::string_view method, Params* params,
                                PathMatches* path_matches) {
  const size_t slash = rest.find('/');
  const std::string_view seg = rest.substr(0, slash);
  const bool last = slash == std::string_view::npos;
  auto visit = [&](const Router::Node* child) -> const Router::Node* {
    if (!last) {
      return Walk(child, rest.substr(slash + 1), method, params, path_matches);
    }
    if (child->methods.empty()) return nullptr;
    path_matches->push_back(child);
    return child->Route(method) != nullptr ? child : nullptr;
  };
  if (const Router::Node* lit = node->Literal(seg)) {
    if (const Router::Node* found = visit(lit)) return found;
  }
  if (node->param != nullptr && !seg.empty()) {
    params->emplace_back(node->param_name, seg);
    if (const Router::Node* found = visit(node->param.get())) return found;
    params->pop_back();
  }
  return nullptr;
}

RouteMatch Router::Match(std::string_view method, std::string_view path,
                         std::initializer_list<std::string_view> also) const {
  RouteMatch match;
  if (path.empty() || path[0] != '/') {
    // The authority-form (the parser admits it for CONNECT only) names no
    // resource a route could serve: no tunnel is implemented here (RFC 9110
    // §9.3.6, §15.6.2), whatever routes exist.
    if (method == "CONNECT") match.kind = RouteMatch::kNotImplemented;
    return match;
  }
  PathMatches path_matches;
  const Node* found = Walk(root_.get(), path.substr(1), method, &match.params, &path_matches);
  if (found != nullptr) {
    match.kind = RouteMatch::kFound;
    match.route_id = *found->Route(method);
    return match;
  }
  match.params.clear();
  if (!IsKnownMethod(method)) {
    match.kind = RouteMatch::kNotImplemented;
  } else if (!path_matches.empty()) {
    // Allow names every method some route serves at this path (RFC 9110
    // §15.5.6), whichever of the matching patterns serves it.
    match.kind = RouteMatch::kMethodNotAllowed;
    std::vector<std::string_view> names(also);
    for (const Node* n : path_matches) {
      for (const auto& [m, id] : n->methods) names.push_back(m);
    }
    match.allow = AllowValue(std::move(names));
  }
  return match;
}

bool Router::IsKnownMethod(std::string_view method) const {
  return IsStandardMethod(method) ||
         std::find(extra_methods_.begin(), extra_methods_.end(), method) !=
             extra_methods_.end();
}

std::optional<std::string_view> RouteMatch::Param(std::string_view name) const {
  for (const auto& [n, v] : params) {
    if (n == name) return v;
  }
  return std::nullopt;
}

}  // namespace brisk::http
