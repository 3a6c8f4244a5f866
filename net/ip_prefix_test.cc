#include "net/ip_prefix.h"

#include <string>

#include "gtest/gtest.h"

namespace brisk::net {
namespace {

IpPrefixSet Set(std::string_view list) {
  absl::StatusOr<IpPrefixSet> s = IpPrefixSet::Parse(list);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : IpPrefixSet();
}

TEST(IpPrefixSetTest, MatchesIpv4AndIpv6Prefixes) {
  const IpPrefixSet s = Set(" 10.0.0.0/8, 192.168.1.7 ,fd00::/8, ::1");
  EXPECT_EQ(s.ToString(), "10.0.0.0/8,192.168.1.7/32,fd00::/8,::1/128");
  EXPECT_TRUE(s.ContainsText("10.0.0.0"));
  EXPECT_TRUE(s.ContainsText("10.255.255.255"));
  EXPECT_FALSE(s.ContainsText("11.0.0.0"));
  EXPECT_FALSE(s.ContainsText("9.255.255.255"));
  EXPECT_TRUE(s.ContainsText("192.168.1.7"));
  EXPECT_FALSE(s.ContainsText("192.168.1.8"));
  EXPECT_TRUE(s.ContainsText("fd12:3456::1"));
  EXPECT_FALSE(s.ContainsText("fe80::1"));
  EXPECT_TRUE(s.ContainsText("::1"));
  EXPECT_FALSE(s.ContainsText("::2"));
  // How a dual-stack listener sees an IPv4 peer.
  EXPECT_TRUE(s.ContainsText("::ffff:10.1.2.3"));
  EXPECT_FALSE(s.ContainsText("::ffff:11.1.2.3"));
}

TEST(IpPrefixSetTest, PrefixLengthsOffTheByteBoundary) {
  const IpPrefixSet s = Set("172.16.0.0/12,2001:db8:8000::/33");
  EXPECT_TRUE(s.ContainsText("172.16.0.1"));
  EXPECT_TRUE(s.ContainsText("172.31.255.255"));
  EXPECT_FALSE(s.ContainsText("172.32.0.0"));
  EXPECT_FALSE(s.ContainsText("172.15.255.255"));
  EXPECT_TRUE(s.ContainsText("2001:db8:ffff::1"));
  EXPECT_FALSE(s.ContainsText("2001:db8:7fff::1"));
  EXPECT_TRUE(Set("0.0.0.0/0").ContainsText("203.0.113.9"));
  EXPECT_FALSE(Set("0.0.0.0/0").ContainsText("2001:db8::1"));
  EXPECT_TRUE(Set("::/0").ContainsText("2001:db8::1"));
  // IPv4 is held as ::ffff:a.b.c.d, but a short IPv6 prefix ("all IPv6")
  // does not take it in (nginx's set_real_ip_from ::/0 does not either);
  // the mapped range itself does.
  EXPECT_FALSE(Set("::/0").ContainsText("203.0.113.9"));
  EXPECT_FALSE(Set("::/0").Contains(*SocketAddress::Parse("127.0.0.1", 80)));
  EXPECT_FALSE(Set("::/95").ContainsText("203.0.113.9"));
  EXPECT_TRUE(Set("::ffff:0:0/96").ContainsText("203.0.113.9"));
  EXPECT_TRUE(Set("::ffff:0:0/96").ContainsText("::ffff:203.0.113.9"));
}

TEST(IpPrefixSetTest, MatchesSocketAddresses) {
  const IpPrefixSet s = Set("127.0.0.0/8");
  EXPECT_TRUE(s.Contains(*SocketAddress::Parse("127.0.0.1", 80)));
  EXPECT_FALSE(s.Contains(*SocketAddress::Parse("::1", 80)));
  EXPECT_FALSE(s.Contains(SocketAddress()));
}

TEST(IpPrefixSetTest, RefusesWhatIsNotAPrefix) {
  for (const char* bad :
       {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x",
        "10.0.0.0/ 8", "localhost", "10.0.0", "1.2.3.4:80", "[::1]", "fe80::1%eth0",
        "10.0.0.0/8,,::1", "10.0.0.1/8", "fd00::1/8", "10.0.0.0/+8"}) {
    EXPECT_FALSE(IpPrefixSet::Parse(bad).ok()) << bad;
  }
  EXPECT_TRUE(Set("").empty());
  EXPECT_TRUE(Set("  ").empty());
}

TEST(IpPrefixSetTest, TextThatIsNoAddressIsNeverContained) {
  const IpPrefixSet s = Set("0.0.0.0/0,::/0");
  for (const char* bad : {"", "unknown", "_hidden", "1.2.3.4:5", "[::1]",
                          "1.2.3.4 ", "01.2.3.4"}) {
    EXPECT_FALSE(s.ContainsText(bad)) << bad;
  }
}

}  // namespace
}  // namespace brisk::net
