#include "http/response_writer.h"

#include <string>

#include "gtest/gtest.h"
#include "http/response.h"

namespace brisk::http {
namespace {

constexpr int64_t kNov1994 = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT

TEST(HttpDateTest, FormatsImfFixdate) {
  EXPECT_EQ(HttpDate::Format(kNov1994), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(HttpDate::Format(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(HttpDate::Format(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
  EXPECT_EQ(HttpDate::Format(1798761599), "Thu, 31 Dec 2026 23:59:59 GMT");
  EXPECT_EQ(HttpDate::Format(4102444800), "Fri, 01 Jan 2100 00:00:00 GMT");
  EXPECT_EQ(HttpDate::Format(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
}

TEST(HttpDateTest, CachesPerSecond) {
  HttpDate date;
  std::string_view a = date.Get(kNov1994);
  EXPECT_EQ(a, "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(date.Get(kNov1994).data(), a.data());
  EXPECT_EQ(date.Get(kNov1994 + 1), "Sun, 06 Nov 1994 08:49:38 GMT");
  EXPECT_EQ(date.Get(kNov1994 + 86400), "Mon, 07 Nov 1994 08:49:37 GMT");
}

ResponseOptions Opts(bool keep_alive = true) {
  ResponseOptions o;
  o.date = "Sun, 06 Nov 1994 08:49:37 GMT";
  o.keep_alive = keep_alive;
  return o;
}

TEST(ResponseWriterTest, TextResponse) {
  std::string out = "prefix|";
  AppendResponse(Response::Text(200, "hi\n"), Opts(), &out);
  EXPECT_EQ(out,
            "prefix|HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Server: brisk\r\n"
            "Content-Length: 3\r\n"
            "Connection: keep-alive\r\n\r\n"
            "hi\n");
}

TEST(ResponseWriterTest, ConnectionClose) {
  std::string out;
  AppendResponse(Response::Status(404), Opts(/*keep_alive=*/false), &out);
  EXPECT_NE(out.find("HTTP/1.1 404 Not Found\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nConnection: close\r\n\r\nNot Found\n"),
            std::string::npos);
  EXPECT_EQ(out.find("keep-alive"), std::string::npos);
}

TEST(ResponseWriterTest, HeadHasGetHeadersAndNoBody) {
  std::string get, head;
  ResponseOptions o = Opts();
  AppendResponse(Response::Text(200, "hello"), o, &get);
  o.head = true;
  AppendResponse(Response::Text(200, "hello"), o, &head);
  ASSERT_GT(get.size(), 5u);
  EXPECT_EQ(head, get.substr(0, get.size() - 5));
  EXPECT_NE(head.find("Content-Length: 5\r\n"), std::string::npos);
}

// A HEAD route of its own that leaves its body empty: Content-Length must
// be its GET's (RFC 9110 §8.6, §9.3.2), so the handler's one is sent, and
// without one none is, not a wrong 0.
TEST(ResponseWriterTest, AHeadAnswersLengthIsTheHandlersOrNone) {
  ResponseOptions o = Opts();
  o.head = true;
  Response said = Response::Status(200);
  said.body.clear();
  said.AddHeader("Content-Length", "5000");
  std::string out;
  AppendResponse(said, o, &out);
  EXPECT_NE(out.find("\r\nContent-Length: 5000\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("Content-Length: 0"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
  Response silent = Response::Status(200);
  silent.body.clear();
  out.clear();
  AppendResponse(silent, o, &out);
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;
  // Two lengths, or not a number: none.
  Response two = said;
  two.AddHeader("Content-Length", "7");
  out.clear();
  AppendResponse(two, o, &out);
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;
  // A GET-derived HEAD (a body) keeps the body's length, whatever was said.
  out.clear();
  AppendResponse(Response::Text(200, "hello").AddHeader("Content-Length", "99"), o, &out);
  EXPECT_NE(out.find("\r\nContent-Length: 5\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Content-Length: 99"), std::string::npos);
  // Not HEAD: the body's length, as always.
  o.head = false;
  out.clear();
  AppendResponse(said, o, &out);
  EXPECT_NE(out.find("\r\nContent-Length: 0\r\n"), std::string::npos);
}

// An Upgrade field comes with its "upgrade" connection option (RFC 9110
// §7.8), and the head still ends with the keep-alive/close line.
TEST(ResponseWriterTest, UpgradeIsAnnouncedInConnection) {
  std::string out;
  AppendResponse(Response::Text(426, "use TLS\n").AddHeader("Upgrade", "TLS/1.2, HTTP/1.1"), Opts(),
                 &out);
  EXPECT_NE(out.find("\r\nUpgrade: TLS/1.2, HTTP/1.1\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nConnection: upgrade\r\nConnection: keep-alive\r\n\r\n"),
            std::string::npos)
      << out;
  out.clear();
  AppendResponse(Response::Text(200, "x"), Opts(), &out);
  EXPECT_EQ(out.find("upgrade"), std::string::npos);
}

// Hop-by-hop fields describe the connection the serializer manages: a
// handler's Keep-Alive, TE or Trailer is dropped; an empty Date does not
// stand in for the server's.
TEST(ResponseWriterTest, HopByHopFieldsAndAnEmptyDateAreDropped) {
  Response r = Response::Text(200, "x");
  r.AddHeader("Keep-Alive", "timeout=5").AddHeader("TE", "trailers");
  r.AddHeader("Trailer", "Expires").AddHeader("Date", "  ");
  std::string out;
  ResponseOptions o = Opts();
  o.keep_alive = false;
  AppendResponse(r, o, &out);
  EXPECT_EQ(out.find("Keep-Alive"), std::string::npos) << out;
  EXPECT_EQ(out.find("TE:"), std::string::npos);
  EXPECT_EQ(out.find("Trailer"), std::string::npos);
  EXPECT_NE(out.find("\r\nDate: " + std::string(o.date) + "\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("Date:  "), std::string::npos);
}

// SetHeader replaces: one Content-Type, not Text()'s and the handler's.
TEST(ResponseWriterTest, SetHeaderReplacesAField) {
  Response r = Response::Json(404, "{}");
  r.SetHeader("content-type", "application/problem+json");
  std::string out;
  AppendResponse(r, Opts(), &out);
  EXPECT_NE(out.find("\r\ncontent-type: application/problem+json\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("application/json"), std::string::npos);
  EXPECT_EQ(r.headers.size(), 1u);
}

TEST(ResponseWriterTest, Chunked) {
  std::string out;
  ResponseOptions o = Opts();
  o.chunked = true;
  AppendResponse(Response::Text(200, std::string(26, 'x')), o, &out);
  EXPECT_NE(out.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Content-Length"), std::string::npos);
  EXPECT_NE(out.find("\r\n\r\n1a\r\n" + std::string(26, 'x') + "\r\n0\r\n\r\n"),
            std::string::npos);
  // HEAD: chunked headers, no body at all.
  std::string head;
  o.head = true;
  AppendResponse(Response::Text(200, "abc"), o, &head);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");
  EXPECT_NE(head.find("Transfer-Encoding: chunked"), std::string::npos);
}

TEST(ResponseWriterTest, ChunkedFallsBackToLengthForHttp10) {
  std::string out;
  ResponseOptions o = Opts();
  o.chunked = true;
  o.request_version_minor = 0;
  AppendResponse(Response::Text(200, "abc"), o, &out);
  EXPECT_EQ(out.find("Transfer-Encoding"), std::string::npos);
  EXPECT_NE(out.find("Content-Length: 3\r\n"), std::string::npos);
}

// RFC 9110 section 5.5: no control character but HTAB in a field value, and
// no whitespace around it.
TEST(ResponseWriterTest, ControlCharactersDropAFieldAndWhitespaceIsTrimmed) {
  Response r = Response::Text(200, "abc");
  r.AddHeader("X-Soh", std::string("a\x01b"))
      .AddHeader("X-Del", "a\x7f" "b")
      .AddHeader("X-Nul", std::string("a\0b", 3))
      .AddHeader("X-Tab", "a\tb")
      .AddHeader("X-Padded", " \t spaced value \t ");
  std::string out;
  AppendResponse(r, Opts(), &out);
  EXPECT_EQ(out.find("X-Soh"), std::string::npos);
  EXPECT_EQ(out.find("X-Del"), std::string::npos);
  EXPECT_EQ(out.find("X-Nul"), std::string::npos);
  EXPECT_NE(out.find("X-Tab: a\tb\r\n"), std::string::npos);
  EXPECT_NE(out.find("X-Padded: spaced value\r\n"), std::string::npos);
}

// A handler that sets its own traceparent (a span of its own) sends one
// traceparent, its own, not the request's beside it.
TEST(ResponseWriterTest, AHandlersOwnTraceParentReplacesTheEcho) {
  Response r = Response::Text(200, "abc");
  r.AddHeader("traceparent", "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01");
  ResponseOptions o = Opts();
  o.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  std::string out;
  AppendResponse(r, o, &out);
  EXPECT_NE(out.find("00f067aa0ba902b7"), std::string::npos);
  EXPECT_EQ(out.find("b7ad6b7169203331"), std::string::npos);
}

TEST(ResponseWriterTest, NoBodyStatuses) {
  for (int status : {204, 304}) {
    std::string out;
    AppendResponse(Response::Text(status, "ignored"), Opts(), &out);
    EXPECT_EQ(out.find("Content-Length"), std::string::npos) << status;
    EXPECT_EQ(out.find("ignored"), std::string::npos) << status;
    EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
  }
}

// 205 Reset Content: no content, and a head that says so (RFC 9110
// §15.3.6), whatever the handler put in the body; chunked or not.
TEST(ResponseWriterTest, ResetContentHasAZeroLengthAndNoContent) {
  for (bool chunked : {false, true}) {
    std::string out;
    ResponseOptions o = Opts();
    o.chunked = chunked;
    AppendResponse(Response::Text(205, "ignored"), o, &out);
    EXPECT_NE(out.find("Content-Length: 0\r\n"), std::string::npos) << out;
    EXPECT_EQ(out.find("Transfer-Encoding"), std::string::npos) << out;
    EXPECT_EQ(out.find("ignored"), std::string::npos) << out;
    EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
  }
}

TEST(ResponseWriterTest, CallerFramingHeadersIgnoredAndUnsafeDropped) {
  Response r = Response::Text(200, "abc");
  r.AddHeader("Content-Length", "999")
      .AddHeader("transfer-encoding", "chunked")
      .AddHeader("Connection", "upgrade")
      .AddHeader("X-Evil", "a\r\nSet-Cookie: x")
      .AddHeader("Bad Name", "v")
      .AddHeader("X(Paren)", "v")  // not a token
      .AddHeader("X\"Quote", "v")  // not a token
      .AddHeader("", "v")
      .AddHeader("X-Ok", "fine")
      .AddHeader("Server", "custom");
  std::string out;
  AppendResponse(r, Opts(), &out);
  EXPECT_EQ(out.find("999"), std::string::npos);
  EXPECT_EQ(out.find("chunked"), std::string::npos);
  EXPECT_EQ(out.find("upgrade"), std::string::npos);
  EXPECT_EQ(out.find("Set-Cookie"), std::string::npos);
  EXPECT_EQ(out.find("Bad Name"), std::string::npos);
  EXPECT_EQ(out.find("X(Paren)"), std::string::npos);
  EXPECT_EQ(out.find("X\"Quote"), std::string::npos);
  EXPECT_EQ(out.find("\r\n: v"), std::string::npos);
  EXPECT_NE(out.find("X-Ok: fine\r\n"), std::string::npos);
  EXPECT_NE(out.find("Server: custom\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Server: brisk"), std::string::npos);
  EXPECT_NE(out.find("Content-Length: 3\r\n"), std::string::npos);
}

TEST(ResponseWriterTest, EmptyDateOmitted) {
  std::string out;
  ResponseOptions o;
  AppendResponse(Response::Text(200, ""), o, &out);
  EXPECT_EQ(out.find("Date:"), std::string::npos);
  EXPECT_NE(out.find("Content-Length: 0\r\n"), std::string::npos);
}

TEST(ResponseWriterTest, ErrorResponse) {
  std::string out;
  AppendErrorResponse(431, "D", &out);
  EXPECT_EQ(out,
            "HTTP/1.1 431 Request Header Fields Too Large\r\n"
            "Date: D\r\n"
            "Server: brisk\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 32\r\n"
            "Connection: close\r\n\r\n"
            "Request Header Fields Too Large\n");
}

TEST(ResponseWriterTest, ContinueAndChunks) {
  std::string out;
  AppendContinue(&out);
  EXPECT_EQ(out, "HTTP/1.1 100 Continue\r\n\r\n");
  out.clear();
  AppendChunk("hello", &out);
  AppendChunk("", &out);
  AppendChunk(std::string(255, 'z'), &out);
  AppendLastChunk(&out);
  EXPECT_EQ(out, "5\r\nhello\r\nff\r\n" + std::string(255, 'z') + "\r\n0\r\n\r\n");
}

TEST(ResponseTest, AsksToCloseFindsTheCloseOptionInAnyConnectionField) {
  Response r = Response::Text(200, "x");
  EXPECT_FALSE(r.AsksToClose());
  r.AddHeader("Connection", "keep-alive, closed, x-close");
  EXPECT_FALSE(r.AsksToClose());
  r.AddHeader("Close", "close");  // another field's name
  EXPECT_FALSE(r.AsksToClose());
  r.AddHeader("CONNECTION", "Keep-Alive,  CLOSE ");
  EXPECT_TRUE(r.AsksToClose());
  // The serializer writes its own Connection field: one, as it is told.
  std::string out;
  ResponseOptions opt;
  opt.keep_alive = false;
  AppendResponse(r, opt, &out);
  const size_t first = out.find("Connection:");
  EXPECT_NE(first, std::string::npos) << out;
  EXPECT_EQ(out.find("Connection:", first + 1), std::string::npos) << out;
  EXPECT_EQ(out.substr(first, 19), "Connection: close\r\n") << out;
}

TEST(ResponseTest, HelpersAndReasonPhrases) {
  EXPECT_EQ(Response::Json(201, "{}").Header("content-type"), "application/json");
  EXPECT_EQ(Response::Html(200, "").Header("Content-Type"),
            "text/html; charset=utf-8");
  EXPECT_FALSE(Response::Text(200, "").Header("X").has_value());
  EXPECT_EQ(ReasonPhrase(503), "Service Unavailable");
  EXPECT_EQ(ReasonPhrase(799), "Unknown");
  std::string out;
  AppendResponse(Response::Text(799, ""), Opts(), &out);
  EXPECT_EQ(out.substr(0, 21), "HTTP/1.1 799 Unknown\r");
}

// A status that fits no status line is written as a 500 and framed as one:
// a 42 framed as a 1xx (no Content-Length, no body) would leave its body
// to be read as the next answer.
TEST(ResponseTest, AStatusThatFitsNoStatusLineIsFramedAsA500) {
  std::string out;
  AppendResponse(Response::Text(42, "oops"), Opts(), &out);
  EXPECT_EQ(out.substr(0, 34), "HTTP/1.1 500 Internal Server Error");
  EXPECT_NE(out.find("Content-Length: 4\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 8), "\r\n\r\noops");
  out.clear();
  AppendStreamHead(Response::Text(-3, ""), Opts(), &out);
  EXPECT_NE(out.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace brisk::http
