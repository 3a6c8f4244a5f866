#include "http/url.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace brisk::http {
namespace {

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

struct HostRow {
  const char* authority;
  bool valid;
  const char* host = "";
  const char* port = nullptr;  // nullptr: no ':' at all
};

TEST(UrlTest, ParseHostPort) {
  const std::vector<HostRow> rows = {
      {"example.com", true, "example.com"},
      {"example.com:8080", true, "example.com", "8080"},
      {"example.com:", true, "example.com", ""},
      {"EXAMPLE.com:0", true, "EXAMPLE.com", "0"},
      {"192.0.2.1:80", true, "192.0.2.1", "80"},
      {"ex%41mple", true, "ex%41mple"},
      {"a-b_c~d!$&'()*+,;=", true, "a-b_c~d!$&'()*+,;="},
      {"[::1]", true, "[::1]"},
      {"[::1]:443", true, "[::1]", "443"},
      {"[::1]:", true, "[::1]", ""},
      {"[v1.a:b]:1", true, "[v1.a:b]", "1"},
      {"[V1F.x]", true, "[V1F.x]"},
      {"h:123456789", true, "h", "123456789"},  // port = *DIGIT
      {"", false},
      {":80", false},
      {"u@h", false},
      {"u:p@h:1", false},
      {"h:8a", false},
      {"h:1:2", false},
      {"h :1", false},
      {"h	", false},
      {"h/x", false},
      {"h%4", false},
      {"h%zz", false},
      {"::1", false},
      {"[::1", false},
      {"[::1]x", false},
      {"[::1]:x", false},
      {"[]", false},
      {"[fe80::1%25eth0]", false},
      {"[1.2.3.4]", false},
      {"[v1.]", false},
      {"[v.1]", false},
      {"[vg.1]", false},
      {"[v1.a/b]", false},
  };
  for (const HostRow& row : rows) {
    SCOPED_TRACE(row.authority);
    std::optional<HostPort> hp = ParseHostPort(row.authority);
    ASSERT_EQ(hp.has_value(), row.valid);
    if (!row.valid) continue;
    EXPECT_EQ(hp->host, row.host);
    if (row.port == nullptr) {
      EXPECT_FALSE(hp->port.has_value());
    } else {
      ASSERT_TRUE(hp->port.has_value());
      EXPECT_EQ(*hp->port, row.port);
    }
  }
}

TEST(UrlTest, IsValidHostField) {
  // The inline fast path and ParseHostPort agree; empty is the one addition.
  EXPECT_TRUE(IsValidHostField(""));
  for (std::string_view v :
       {"example.com", "example.com:80", "example.com:", "h", "[::1]:8080",
        "ex%41mple", "a%2Fb:1", "[v1.x]", "xn--caf-dma.example"}) {
    EXPECT_TRUE(IsValidHostField(v)) << v;
    EXPECT_TRUE(ParseHostPort(v).has_value()) << v;
  }
  for (std::string_view v : std::vector<std::string_view>{
           ":80", ":", "u@h", "h:8a", "h:1:2", "h h", "h\t", "h%", "h%4g",
           "::1", "[::1", "h/", "h\x7f", "caf\xC3\xA9",
           std::string_view("a\0", 2)}) {
    EXPECT_FALSE(IsValidHostField(v)) << v;
    EXPECT_FALSE(ParseHostPort(v).has_value()) << v;
  }
}

TEST(UrlTest, Ipv6Address) {
  for (std::string_view ok :
       {"::", "::1", "1::", "1::2", "2001:db8::1",
        "2001:DB8:0:0:8:800:200C:417A", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::",
        "::2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4", "::ffff:192.0.2.1",
        "::1.2.3.4", "1:2:3:4:5::1.2.3.4", "ffff::ffff", "0:0:0:0:0:0:0:0"}) {
    EXPECT_TRUE(IsIpv6Address(ok)) << ok;
  }
  for (std::string_view bad : {"",
                               ":",
                               ":::",
                               "1",
                               "1:2",
                               ":1",
                               "1:",
                               "1:::2",
                               "1::2::3",
                               "1:2:3:4:5:6:7:8:9",
                               "1:2:3:4:5:6:7",
                               "1:2:3:4::5:6:7:8",
                               "::1:2:3:4:5:6:7:8",
                               "12345::",
                               "g::",
                               "1.2.3.4",
                               "::1.2.3.4:1",
                               "1:2:3:4:5:6:7:1.2.3.4",
                               "::256.0.0.1",
                               "::1.2.3",
                               "fe80::1%eth0",
                               " ::1",
                               "::1 "}) {
    EXPECT_FALSE(IsIpv6Address(bad)) << bad;
  }
}

TEST(UrlTest, Ipv4Address) {
  for (std::string_view ok :
       {"0.0.0.0", "192.0.2.1", "255.255.255.255", "10.0.0.99"}) {
    EXPECT_TRUE(IsIpv4Address(ok)) << ok;
  }
  for (std::string_view bad :
       {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.1.1.1", "1..2.3", "1.2.3.",
        ".1.2.3", "a.b.c.d", "1.2.3.4 ", "1000.1.1.1", "+1.2.3.4"}) {
    EXPECT_FALSE(IsIpv4Address(bad)) << bad;
  }
}

}  // namespace
}  // namespace brisk::http
