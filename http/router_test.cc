#include "http/router.h"

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
  EXPECT_EQ(r.Match("get", "/users").kind, RouteMatch::kMethodNotAllowed);
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
  ASSERT_TRUE(r.Add("GET", "/u/{id}", 1).ok());
  EXPECT_EQ(r.Add("GET", "/u/{id}", 2).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(r.Add("POST", "/u/{name}", 2).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(r.Add("POST", "/u/{id}", 2).ok());
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

TEST(UrlTest, PercentDecode) {
  EXPECT_EQ(PercentDecode("/a%20b%2Fc%2f"), "/a b/c/");
  EXPECT_EQ(PercentDecode("a+b"), "a+b");
  EXPECT_EQ(PercentDecode("a+b", /*plus_as_space=*/true), "a b");
  EXPECT_EQ(PercentDecode(""), "");
  EXPECT_FALSE(PercentDecode("%").has_value());
  EXPECT_FALSE(PercentDecode("%4").has_value());
  EXPECT_FALSE(PercentDecode("%zz").has_value());
  EXPECT_FALSE(PercentDecode("ok%g1").has_value());
}

TEST(UrlTest, ParseQuery) {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(ParseQuery(""), Pairs{});
  EXPECT_EQ(ParseQuery("a=1&b=two&a=3"),
            (Pairs{{"a", "1"}, {"b", "two"}, {"a", "3"}}));
  EXPECT_EQ(ParseQuery("flag&&x=&=v"),
            (Pairs{{"flag", ""}, {"x", ""}, {"", "v"}}));
  EXPECT_EQ(ParseQuery("name=J%C3%B6rg+M&q=a%2Bb%3D"),
            (Pairs{{"name", "J\xC3\xB6rg M"}, {"q", "a+b="}}));
  EXPECT_EQ(ParseQuery("bad=%zz&ok=1"), (Pairs{{"bad", "%zz"}, {"ok", "1"}}));
  EXPECT_EQ(ParseQuery("k=a=b"), (Pairs{{"k", "a=b"}}));
}

}  // namespace
}  // namespace brisk::http
