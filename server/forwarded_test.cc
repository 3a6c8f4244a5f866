#include "server/forwarded.h"

#include <string>

#include "gtest/gtest.h"
#include "http/request_parser.h"

namespace brisk::internal {
namespace {

std::string ClientOf(const std::string& fields, const std::string& trusted = "10.0.0.0/8",
                     bool recursive = true) {
  http::RequestParser parser;
  const http::ParseResult r =
      parser.Feed("GET / HTTP/1.1\r\nHost: t\r\n" + fields + "\r\n");
  EXPECT_EQ(r.kind, http::ParseResult::kComplete);
  const http::Request request = parser.TakeRequest();
  return ForwardedClient(request, TrustedProxies{*net::IpPrefixSet::Parse(trusted), recursive},
                         "10.0.0.1");
}

TEST(ForwardedClientTest, TheRightmostUntrustedEntryIsTheClient) {
  EXPECT_EQ(ClientOf("X-Forwarded-For: 203.0.113.7\r\n"), "203.0.113.7");
  EXPECT_EQ(ClientOf("X-Forwarded-For: 1.1.1.1,203.0.113.7\r\n"), "203.0.113.7");
  EXPECT_EQ(ClientOf("X-Forwarded-For: 1.1.1.1, 203.0.113.7, 10.2.2.2\r\n"), "203.0.113.7");
  EXPECT_EQ(ClientOf("X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 10.2.2.2\r\n"), "1.1.1.1");
  EXPECT_EQ(ClientOf("X-FORWARDED-FOR: \t2001:db8::1 \r\n"), "2001:db8::1");
}

TEST(ForwardedClientTest, AllTrustedGivesTheLeftmost) {
  EXPECT_EQ(ClientOf("X-Forwarded-For: 10.3.3.3, 10.2.2.2\r\n"), "10.3.3.3");
}

// Not recursive (the default): the entry the trusted peer appended, even
// when it is a trusted address itself; what the client wrote is not read.
TEST(ForwardedClientTest, TheRightmostEntryUnlessRecursive) {
  EXPECT_EQ(ClientOf("X-Forwarded-For: 6.6.6.6, 10.2.2.2\r\n", "10.0.0.0/8", false),
            "10.2.2.2");
  EXPECT_EQ(ClientOf("X-Forwarded-For: 6.6.6.6, 203.0.113.7\r\n", "10.0.0.0/8", false),
            "203.0.113.7");
  EXPECT_EQ(ClientOf("X-Forwarded-For: 6.6.6.6, 10.2.2.2\r\n", "10.0.0.0/8", true),
            "6.6.6.6");
}

// One client, one string: what a fraud service keys on.
TEST(ForwardedClientTest, AddressesAreCanonical) {
  EXPECT_EQ(ClientOf("X-Forwarded-For: ::ffff:1.2.3.4\r\n"), "1.2.3.4");
  EXPECT_EQ(ClientOf("X-Forwarded-For: 2001:DB8:0:0::1\r\n"), "2001:db8::1");
  EXPECT_EQ(ClientOf("X-Forwarded-For: [2001:DB8::1]:80\r\n"), "2001:db8::1");
}

TEST(ForwardedClientTest, PortsAreDropped) {
  EXPECT_EQ(ClientOf("X-Forwarded-For: 203.0.113.7:51234\r\n"), "203.0.113.7");
  EXPECT_EQ(ClientOf("X-Forwarded-For: [2001:db8::1]:443\r\n"), "2001:db8::1");
  EXPECT_EQ(ClientOf("X-Forwarded-For: [2001:db8::1]\r\n"), "2001:db8::1");
}

TEST(ForwardedClientTest, AnythingButAddressesOnTheWayLeavesThePeer) {
  for (const char* value :
       {"unknown", "_hidden", "example.com", "1.1.1.1,", "1.1.1.1,,10.2.2.2",
        "[1.2.3.4]", "[2001:db8::1", "[2001:db8::1]x", "1.2.3.4:80:90", "", "999.1.1.1",
        "2001:db8::1:80x", "1.2.3.4:junk", "1.2.3.4:", "1.2.3.4:65536", "[::1]:x\"y",
        "[::1]:"}) {
    EXPECT_EQ(ClientOf(std::string("X-Forwarded-For: ") + value + "\r\n"), "10.0.0.1")
        << value;
  }
  EXPECT_EQ(ClientOf(""), "10.0.0.1");
  // Garbage left of the client is never reached.
  EXPECT_EQ(ClientOf("X-Forwarded-For: nonsense, 203.0.113.7\r\n"), "203.0.113.7");
  EXPECT_EQ(ClientOf("X-Forwarded-For: ,203.0.113.7\r\n"), "203.0.113.7");
}

}  // namespace
}  // namespace brisk::internal
