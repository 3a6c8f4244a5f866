#include "http/router.h"

#include <string>
#include <string_view>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/url.h"

namespace brisk::http {
namespace {

enum Route : size_t { kIndex, kUsers, kUser, kUserPost, kCreate, kMe, kFile, kHeadOnly };

Router MakeRouter() {
  Router r;
  EXPECT_TRUE(r.Add("GET", "/", kIndex).ok());
  EXPECT_TRUE(r.Add("GET", "/users", kUsers).ok());
  EXPECT_TRUE(r.Add("POST", "/users", kCreate).ok());
  EXPECT_TRUE(r.Add("GET", "/users/{id}", kUser).ok());
  EXPECT_TRUE(r.Add("GET", "/users/me", kMe).ok());
  EXPECT_TRUE(r.Add("GET", "/users/{id}/posts/{post}", kUserPost).ok());
  EXPECT_TRUE(r.Add("GET", "/files/{name}/", kFile).ok());
  EXPECT_TRUE(r.Add("HEAD", "/probe", kHeadOnly).ok());
  return r;
}

TEST(RouterTest, LiteralAndParams) {
  Router r = MakeRouter();
  EXPECT_EQ(r.size(), 8u);
  RouteMatch m = r.Match("GET", "/");
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  EXPECT_EQ(m.route_id, kIndex);
  m = r.Match("GET", "/users/42");
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  EXPECT_EQ(m.route_id, kUser);
  EXPECT_EQ(m.Param("id"), "42");
  EXPECT_FALSE(m.Param("nope").has_value());
  m = r.Match("GET", "/users/7/posts/abc");
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  EXPECT_EQ(m.route_id, kUserPost);
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.Param("id"), "7");
  EXPECT_EQ(m.Param("post"), "abc");
}

TEST(RouterTest, LiteralBeatsParam) {
  Router r = MakeRouter();
  RouteMatch m = r.Match("GET", "/users/me");
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  EXPECT_EQ(m.route_id, kMe);
  EXPECT_TRUE(m.params.empty());
  // Backtracking: "/users/me/posts/1" only matches through the parameter.
  m = r.Match("GET", "/users/me/posts/1");
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  EXPECT_EQ(m.route_id, kUserPost);
  EXPECT_EQ(m.Param("id"), "me");
}

TEST(RouterTest, NotFound) {
  Router r = MakeRouter();
  EXPECT_EQ(r.Match("GET", "/nope").kind, RouteMatch::kNotFound);
  EXPECT_EQ(r.Match("GET", "/users/").kind, RouteMatch::kNotFound);  // empty param
  EXPECT_EQ(r.Match("GET", "/users/1/posts").kind, RouteMatch::kNotFound);
  EXPECT_EQ(r.Match("GET", "/files/a").kind, RouteMatch::kNotFound);  // slash matters
  EXPECT_EQ(r.Match("GET", "/files/a/").kind, RouteMatch::kFound);
  EXPECT_EQ(r.Match("GET", "").kind, RouteMatch::kNotFound);
  EXPECT_EQ(r.Match("GET", "*").kind, RouteMatch::kNotFound);
  EXPECT_EQ(Router().Match("GET", "/").kind, RouteMatch::kNotFound);
}

TEST(RouterTest, MethodNotAllowedWithAllow) {
  Router r = MakeRouter();
  RouteMatch m = r.Match("DELETE", "/users");
  ASSERT_EQ(m.kind, RouteMatch::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET, HEAD, POST");
  m = r.Match("POST", "/users/5");
  ASSERT_EQ(m.kind, RouteMatch::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET, HEAD");
  EXPECT_TRUE(m.params.empty());
  m = r.Match("GET", "/probe");
  ASSERT_EQ(m.kind, RouteMatch::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "HEAD");
}

// A literal and a parameter pattern can both match a path: Allow names
// the methods of both, since each of them is served there (RFC 9110
// §15.5.6), whichever of the two is tried first.
TEST(RouterTest, AllowNamesTheMethodsOfEveryPatternMatchingThePath) {
  Router r;
  ASSERT_TRUE(r.Add("GET", "/files/index", 1).ok());
  ASSERT_TRUE(r.Add("PUT", "/files/{name}", 2).ok());
  ASSERT_TRUE(r.Add("POST", "/only/literal", 3).ok());
  ASSERT_TRUE(r.Add("GET", "/only/{p}", 4).ok());
  RouteMatch m = r.Match("DELETE", "/files/index");
  ASSERT_EQ(m.kind, RouteMatch::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET, HEAD, PUT");
  EXPECT_EQ(r.Match("PUT", "/files/index").kind, RouteMatch::kFound);  // as Allow says
  m = r.Match("DELETE", "/files/other");  // the parameter pattern alone
  ASSERT_EQ(m.kind, RouteMatch::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "PUT");
  m = r.Match("DELETE", "/only/literal");
  ASSERT_EQ(m.kind, RouteMatch::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET, HEAD, POST");
  EXPECT_TRUE(m.params.empty());
}

// OPTIONS *'s Allow: every method some route accepts, HEAD with GET, plus
// what the caller also answers; sorted, each once.
TEST(RouterTest, AllowAnywhereListsEveryRegisteredMethod) {
  Router r = MakeRouter();
  EXPECT_EQ(r.AllowAnywhere(), "GET, HEAD, POST");
  EXPECT_EQ(r.AllowAnywhere({"OPTIONS"}), "GET, HEAD, OPTIONS, POST");
  EXPECT_EQ(Router().AllowAnywhere({"OPTIONS"}), "OPTIONS");
}

// Methods the caller answers itself on every routed path (the server's
// OPTIONS) are named in a 405's Allow with the routes' own: sorted, each
// once, HEAD with GET; they find no route and make no path routed.
TEST(RouterTest, MatchNamesTheCallersOwnMethodsInAllow) {
  Router r = MakeRouter();
  EXPECT_EQ(r.Match("DELETE", "/", {"OPTIONS"}).allow, "GET, HEAD, OPTIONS");
  EXPECT_EQ(r.Match("DELETE", "/users", {"OPTIONS"}).allow, "GET, HEAD, OPTIONS, POST");
  EXPECT_EQ(r.Match("DELETE", "/users").allow, "GET, HEAD, POST");
  EXPECT_EQ(r.Match("GET", "/users", {"OPTIONS"}).kind, RouteMatch::kFound);
  EXPECT_EQ(r.Match("OPTIONS", "/users", {"OPTIONS"}).kind, RouteMatch::kMethodNotAllowed);
  EXPECT_EQ(r.Match("OPTIONS", "/nope", {"OPTIONS"}).kind, RouteMatch::kNotFound);
  ASSERT_TRUE(r.Add("OPTIONS", "/cors", 100).ok());
  ASSERT_TRUE(r.Add("PUT", "/cors", 101).ok());
  ASSERT_TRUE(r.Add("PURGE", "/cache", 102).ok());
  EXPECT_EQ(r.Match("DELETE", "/cors", {"OPTIONS"}).allow, "OPTIONS, PUT");  // once
  EXPECT_EQ(r.Match("DELETE", "/cache", {"GET"}).allow, "GET, HEAD, PURGE");
}

TEST(RouterTest, HeadServedByGet) {
  Router r = MakeRouter();
  RouteMatch m = r.Match("HEAD", "/users/9");
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  EXPECT_EQ(m.route_id, kUser);
  EXPECT_EQ(m.Param("id"), "9");
  m = r.Match("HEAD", "/probe");
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  EXPECT_EQ(m.route_id, kHeadOnly);
  // An explicit HEAD route wins over GET.
  Router r2;
  ASSERT_TRUE(r2.Add("GET", "/x", 1).ok());
  ASSERT_TRUE(r2.Add("HEAD", "/x", 2).ok());
  EXPECT_EQ(r2.Match("HEAD", "/x").route_id, 2u);
  EXPECT_EQ(r2.Match("GET", "/x").route_id, 1u);
}

TEST(RouterTest, MethodsAreCaseSensitive) {
  Router r = MakeRouter();
  // "get" is not GET: an unknown method (RFC 9110 §9.1).
  EXPECT_EQ(r.Match("get", "/users").kind, RouteMatch::kNotImplemented);
  EXPECT_FALSE(r.IsKnownMethod("get"));
}

// A route for a standard method spelled in other letters could never be
// matched (a GET to its path got 405 with "Allow: get"): refused, saying
// why. Other methods are taken as written, case and all.
TEST(RouterTest, AStandardMethodInOtherLettersIsRefused) {
  Router r;
  for (std::string_view m : {"get", "Post", "heAD", "options", "patch"}) {
    absl::Status s = r.Add(m, "/x", 1);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << m;
    EXPECT_THAT(s.message(), ::testing::HasSubstr("case-sensitive")) << m;
  }
  EXPECT_EQ(r.size(), 0u);
  EXPECT_TRUE(r.Add("purge", "/x", 1).ok());  // not a standard method
  EXPECT_TRUE(r.Add("PURGE", "/x", 2).ok());  // another one
  EXPECT_EQ(r.Match("purge", "/x").route_id, 1u);
  EXPECT_EQ(r.Match("PURGE", "/x").route_id, 2u);
}

TEST(RouterTest, ADuplicateRouteNamesItself) {
  Router r;
  ASSERT_TRUE(r.Add("GET", "/metrics", 1).ok());
  absl::Status s = r.Add("GET", "/metrics", 2);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(s.message(), "route already registered: GET /metrics");
}

// Which of 404 / 405 / 501, one row per case (RFC 9110 §15.5.5, §15.5.6,
// §15.6.2).
TEST(RouterTest, NotFoundMethodNotAllowedOrNotImplemented) {
  Router r = MakeRouter();  // GET/POST/HEAD routes only
  struct Row {
    const char* method;
    const char* path;
    RouteMatch::Kind kind;
    const char* allow = "";
  };
  const Row rows[] = {
      // A standard method the path has no route for: 405 + Allow.
      {"DELETE", "/users", RouteMatch::kMethodNotAllowed, "GET, HEAD, POST"},
      {"PUT", "/users/1", RouteMatch::kMethodNotAllowed, "GET, HEAD"},
      {"OPTIONS", "/", RouteMatch::kMethodNotAllowed, "GET, HEAD"},
      {"TRACE", "/", RouteMatch::kMethodNotAllowed, "GET, HEAD"},
      {"CONNECT", "/", RouteMatch::kMethodNotAllowed, "GET, HEAD"},
      {"PATCH", "/users/1", RouteMatch::kMethodNotAllowed, "GET, HEAD"},
      // A standard method on an unknown path: 404.
      {"DELETE", "/nope", RouteMatch::kNotFound},
      {"PATCH", "/nope", RouteMatch::kNotFound},
      // An unknown method, on a routed path or not: 501.
      {"PURGE", "/users", RouteMatch::kNotImplemented},
      {"PURGE", "/nope", RouteMatch::kNotImplemented},
      {"BREW", "/", RouteMatch::kNotImplemented},
      {"Get", "/", RouteMatch::kNotImplemented},
      {"GETS", "/", RouteMatch::kNotImplemented},
      {"", "/", RouteMatch::kNotImplemented},
      // CONNECT's authority-form: no route serves a tunnel, 501.
      {"CONNECT", "example.com:443", RouteMatch::kNotImplemented},
      // Any other method with a target that is not a path: 404.
      {"GET", "example.com:443", RouteMatch::kNotFound},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(std::string(row.method) + " " + row.path);
    RouteMatch m = r.Match(row.method, row.path);
    EXPECT_EQ(m.kind, row.kind);
    EXPECT_EQ(m.allow, row.allow);
    EXPECT_TRUE(m.params.empty());
  }
  for (const char* standard : {"GET", "HEAD", "POST", "PUT", "DELETE",
                               "CONNECT", "OPTIONS", "TRACE", "PATCH"}) {
    EXPECT_TRUE(r.IsKnownMethod(standard)) << standard;
    EXPECT_TRUE(Router().IsKnownMethod(standard)) << standard;
  }
}

TEST(RouterTest, CustomMethodIsKnownOnceRegistered) {
  Router r = MakeRouter();
  EXPECT_FALSE(r.IsKnownMethod("PURGE"));
  EXPECT_EQ(r.Match("PURGE", "/cache/a").kind, RouteMatch::kNotImplemented);
  ASSERT_TRUE(r.Add("PURGE", "/cache/{key}", 100).ok());
  EXPECT_TRUE(r.IsKnownMethod("PURGE"));
  EXPECT_FALSE(r.IsKnownMethod("purge"));
  RouteMatch m = r.Match("PURGE", "/cache/a");
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  EXPECT_EQ(m.route_id, 100u);
  EXPECT_EQ(m.Param("key"), "a");
  // Known now: another path with routes answers 405, an unknown path 404.
  m = r.Match("PURGE", "/users");
  ASSERT_EQ(m.kind, RouteMatch::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET, HEAD, POST");
  EXPECT_EQ(r.Match("PURGE", "/nope").kind, RouteMatch::kNotFound);
  // And a standard method on the PURGE-only path is 405 listing PURGE.
  m = r.Match("GET", "/cache/a");
  ASSERT_EQ(m.kind, RouteMatch::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "PURGE");
  // Other custom methods stay unknown; a second PURGE route adds nothing.
  EXPECT_EQ(r.Match("BAN", "/cache/a").kind, RouteMatch::kNotImplemented);
  ASSERT_TRUE(r.Add("PURGE", "/other", 101).ok());
  EXPECT_EQ(r.Match("PURGE", "/other").route_id, 101u);
  // A moved router keeps what it knows.
  Router moved = std::move(r);
  EXPECT_TRUE(moved.IsKnownMethod("PURGE"));
  EXPECT_EQ(moved.Match("PURGE", "/cache/b").kind, RouteMatch::kFound);
}

TEST(RouterTest, AddRejectsBadInput) {
  Router r;
  EXPECT_EQ(r.Add("GET", "users", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("", "/", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("G T", "/", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", "/{}", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", "/{a", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", "/a{b}", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", "/{a-b}", 1).code(), absl::StatusCode::kInvalidArgument);
  // A decoded path: no query, fragment or escape could ever match.
  EXPECT_EQ(r.Add("GET", "/q?x=1", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", "/a#b", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", "/%41", 1).code(), absl::StatusCode::kInvalidArgument);
  // Nor a control byte, or a dot segment (removed from request paths).
  EXPECT_EQ(r.Add("GET", "/a\rb", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", std::string("/a\0b", 4), 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", "/a\x7f", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", "/./x", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", "/x/..", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(r.Add("GET", "/x/.well-known/..a", 1).ok());  // not dot segments
  // Characters in UTF-8 only: a Latin-1 byte once gave the route the same
  // metrics label as its UTF-8 twin.
  EXPECT_EQ(r.Add("GET", "/caf\xe9", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", "/a\xc3", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Router().Add("GET", "/caf\xc3\xa9", 1).ok());
  // CONNECT is answered 501 before routing.
  EXPECT_EQ(r.Add("CONNECT", "/", 1).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(r.Add("GET", "/u/{id}", 1).ok());
  EXPECT_EQ(r.Add("GET", "/u/{id}", 2).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(r.Add("POST", "/u/{name}", 2).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(r.Add("POST", "/u/{id}", 2).ok());
  EXPECT_EQ(r.size(), 3u);
}

// A name bound twice was accepted, and Param() could only give the first
// value.
TEST(RouterTest, AddRejectsAParameterNamedTwice) {
  Router r;
  EXPECT_EQ(r.Add("GET", "/x/{id}/{id}", 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", "/x/{id}/y/{id}", 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(r.Add("GET", "/x/{a}/{b}", 1).ok());
}

// A refused pattern once left its first segments in the trie: its
// parameter name then refused later patterns as "renamed".
TEST(RouterTest, ARefusedPatternLeavesNothingBehind) {
  Router r;
  EXPECT_EQ(r.Add("GET", "/v/{a}/{", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", "/w/{a}/{a}", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(r.Add("GET", "/v/{b}", 1).ok());
  EXPECT_TRUE(r.Add("GET", "/w/{b}", 2).ok());
  EXPECT_EQ(r.Match("GET", "/v/1/x").kind, RouteMatch::kNotFound);
  EXPECT_EQ(r.size(), 2u);
}

TEST(RouterTest, DecodedPathParams) {
  Router r;
  ASSERT_TRUE(r.Add("GET", "/greet/{name}", 1).ok());
  const std::string path = PercentDecode("/greet/J%C3%B6rg%20M").value();
  RouteMatch m = r.Match("GET", path);
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  EXPECT_EQ(m.Param("name"), "J\xC3\xB6rg M");
}

}  // namespace
}  // namespace brisk::http
