#include "net/proxy_protocol.h"

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "net/event_loop.h"
#include "net/socket.h"
#include "net/testing/loop_factory.h"
#include "net/testing/socket_pair.h"

namespace brisk::net {
namespace {

using std::string_literals::operator""s;

const std::string kV2Sig("\r\n\r\n\0\r\nQUIT\n", 12);

// A v2 header: signature, version/command, family/protocol, then `block`.
std::string V2(uint8_t version_command, uint8_t family_protocol, const std::string& block) {
  std::string h = kV2Sig;
  h.push_back(static_cast<char>(version_command));
  h.push_back(static_cast<char>(family_protocol));
  h.push_back(static_cast<char>(block.size() >> 8));
  h.push_back(static_cast<char>(block.size() & 0xff));
  return h + block;
}

// TCP over IPv4: 10.1.2.3:54321 -> 192.168.0.11:443.
const std::string kV4Block = "\x0a\x01\x02\x03\xc0\xa8\x00\x0b\xd4\x31\x01\xbb"s;

TEST(ParseProxyHeaderTest, V1Tcp4) {
  const std::string line = "PROXY TCP4 10.1.2.3 192.168.0.11 54321 443\r\n";
  const ProxyHeaderParse p = ParseProxyHeader(line + "GET / HTTP/1.1\r\n");
  ASSERT_EQ(p.outcome, ProxyHeaderParse::kComplete) << p.error;
  EXPECT_EQ(p.length, line.size());
  EXPECT_EQ(p.header.version, 1);
  ASSERT_TRUE(p.header.source.has_value());
  EXPECT_EQ(p.header.source->ToString(), "10.1.2.3:54321");
  EXPECT_EQ(p.header.destination->ToString(), "192.168.0.11:443");
}

TEST(ParseProxyHeaderTest, V1Tcp6AndLongestLines) {
  const std::string line =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 65535 65535\r\n";
  EXPECT_EQ(line.size(), 104u);
  const ProxyHeaderParse p = ParseProxyHeader(line);
  ASSERT_EQ(p.outcome, ProxyHeaderParse::kComplete) << p.error;
  EXPECT_EQ(p.header.source->ToString(), "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
  EXPECT_EQ(p.header.destination->port(), 65535);
  EXPECT_EQ(ParseProxyHeader("PROXY TCP4 1.2.3.4 5.6.7.8 0 0\r\n").header.source->port(), 0);
  EXPECT_EQ(ParseProxyHeader("PROXY TCP6 2001:DB8::1 ::1 1 2\r\n").header.source->ToString(),
            "[2001:db8::1]:1");
  // An IPv4 client of a dual-stack balancer, IPv4-mapped: one client, one
  // form (the IPv4 one).
  const ProxyHeaderParse mapped = ParseProxyHeader("PROXY TCP6 ::ffff:1.2.3.4 ::FFFF:0102:0305 7 8\r\n");
  ASSERT_EQ(mapped.outcome, ProxyHeaderParse::kComplete) << mapped.error;
  EXPECT_EQ(mapped.header.source->family(), AF_INET);
  EXPECT_EQ(mapped.header.source->ToString(), "1.2.3.4:7");
  EXPECT_EQ(mapped.header.destination->ToString(), "1.2.3.5:8");
  // UNKNOWN, short or with anything before the CRLF (107 bytes at most).
  const std::string unknown =
      "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
  EXPECT_EQ(unknown.size(), 107u);
  for (const std::string& l : {"PROXY UNKNOWN\r\n"s, unknown}) {
    const ProxyHeaderParse u = ParseProxyHeader(l);
    ASSERT_EQ(u.outcome, ProxyHeaderParse::kComplete) << l;
    EXPECT_EQ(u.length, l.size());
    EXPECT_FALSE(u.header.source.has_value());  // the connection's own stands
  }
}

TEST(ParseProxyHeaderTest, V1RejectsWhatDoesNotExactlyMatch) {
  for (const char* bad : {
           "PROXY TCP4 10.1.2.3 192.168.0.11 54321 443\n",      // LF alone
           "PROXY TCP4 10.1.2.3 192.168.0.11 54321 443\r\r\n",  // CR alone
           "PROXY  TCP4 10.1.2.3 192.168.0.11 54321 443\r\n",   // two spaces
           "PROXY TCP4 10.1.2.3  192.168.0.11 54321 443\r\n",
           "PROXY TCP4 10.1.2.3 192.168.0.11 54321 443 \r\n",   // trailing space
           "PROXY TCP4 10.1.2.3 192.168.0.11 54321\r\n",        // a port missing
           "PROXY TCP4 10.1.2.3 192.168.0.11 54321 443 1\r\n",  // one too many
           "PROXY TCP4 010.1.2.3 192.168.0.11 54321 443\r\n",   // leading zero
           "PROXY TCP4 10.1.2.3 192.168.0.11 054321 443\r\n",
           "PROXY TCP4 10.1.2.3 192.168.0.11 65536 443\r\n",    // port range
           "PROXY TCP4 10.1.2.3 192.168.0.11 -1 443\r\n",
           "PROXY TCP4 10.1.2 192.168.0.11 1 443\r\n",          // three parts
           "PROXY TCP4 ::1 ::1 1 2\r\n",                        // family mismatch
           "PROXY TCP6 10.1.2.3 192.168.0.11 1 2\r\n",
           "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",               // a zone
           "PROXY UDP4 10.1.2.3 192.168.0.11 1 2\r\n",
           "PROXY UNKNOWNX\r\n",
           "PROXY tcp4 10.1.2.3 192.168.0.11 1 2\r\n",
           "GET / HTTP/1.1\r\n",                                // no header at all
           "\x16\x03\x01\x02\x00\x01",                          // a ClientHello
           "proxy TCP4 10.1.2.3 192.168.0.11 1 2\r\n",
       }) {
    const ProxyHeaderParse p = ParseProxyHeader(bad);
    EXPECT_EQ(p.outcome, ProxyHeaderParse::kInvalid) << bad;
    EXPECT_FALSE(p.error.empty());
  }
  // A NUL inside an address (inet_pton would stop at it and accept).
  EXPECT_EQ(ParseProxyHeader("PROXY TCP4 10.1.2.3\0x 192.168.0.11 1 2\r\n"s).outcome,
            ProxyHeaderParse::kInvalid);
  EXPECT_EQ(ParseProxyHeader("PROXY TCP6 ::1\0x ::1 1 2\r\n"s).outcome,
            ProxyHeaderParse::kInvalid);
  // No CRLF in the first 107 bytes.
  EXPECT_EQ(ParseProxyHeader("PROXY UNKNOWN " + std::string(93, 'x')).outcome,
            ProxyHeaderParse::kInvalid);
  EXPECT_EQ(ParseProxyHeader("PROXY UNKNOWN " + std::string(92, 'x')).outcome,
            ProxyHeaderParse::kIncomplete);
  EXPECT_EQ(ParseProxyHeader("PROXY UNKNOWN " + std::string(92, 'x') + "\r").outcome,
            ProxyHeaderParse::kInvalid);  // its LF would be byte 108
}

TEST(ParseProxyHeaderTest, V2Tcp4Tcp6AndTlvsSkipped) {
  const ProxyHeaderParse p = ParseProxyHeader(V2(0x21, 0x11, kV4Block) + "GET");
  ASSERT_EQ(p.outcome, ProxyHeaderParse::kComplete) << p.error;
  EXPECT_EQ(p.length, 28u);
  EXPECT_EQ(p.header.version, 2);
  EXPECT_EQ(p.header.source->ToString(), "10.1.2.3:54321");
  EXPECT_EQ(p.header.destination->ToString(), "192.168.0.11:443");

  std::string v6(36, '\0');
  v6[0] = '\x20', v6[1] = '\x01', v6[2] = '\x0d', v6[3] = '\xb8', v6[15] = '\x01';
  v6[31] = '\x01';
  v6[32] = '\x00', v6[33] = '\x50', v6[34] = '\x01', v6[35] = '\xbb';
  const std::string tlvs = "\x03\x00\x04\x12\x34\x56\x78\x20\x00\x00"s;  // CRC32C, empty SSL
  const ProxyHeaderParse q = ParseProxyHeader(V2(0x21, 0x21, v6 + tlvs));
  ASSERT_EQ(q.outcome, ProxyHeaderParse::kComplete) << q.error;
  EXPECT_EQ(q.length, 16 + 36 + tlvs.size());
  EXPECT_EQ(q.header.source->ToString(), "[2001:db8::1]:80");
  EXPECT_EQ(q.header.destination->ToString(), "[::1]:443");

  std::string mapped = v6.substr(0, 36);
  std::fill(mapped.begin(), mapped.begin() + 16, '\0');
  mapped[10] = mapped[11] = '\xff', mapped[12] = '\x0a', mapped[15] = '\x07';
  const ProxyHeaderParse m = ParseProxyHeader(V2(0x21, 0x21, mapped));
  ASSERT_EQ(m.outcome, ProxyHeaderParse::kComplete) << m.error;
  EXPECT_EQ(m.header.source->ToString(), "10.0.0.7:80");
}

TEST(ParseProxyHeaderTest, V2LocalUnspecUnixAndUdpKeepTheConnectionsAddresses) {
  for (const std::string& h : {
           V2(0x20, 0x00, ""),                  // LOCAL, as HAProxy's checks
           V2(0x20, 0x11, kV4Block),            // LOCAL with addresses: ignored
           V2(0x20, 0x41, "x"),                 // LOCAL: even the family is ignored
           V2(0x21, 0x00, "abc"),               // PROXY, UNSPEC
           V2(0x21, 0x12, kV4Block),            // UDP over IPv4
           V2(0x21, 0x31, std::string(216, 'p')),  // UNIX stream
       }) {
    const ProxyHeaderParse p = ParseProxyHeader(h);
    ASSERT_EQ(p.outcome, ProxyHeaderParse::kComplete) << p.error;
    EXPECT_EQ(p.length, h.size());
    EXPECT_FALSE(p.header.source.has_value());
  }
}

TEST(ParseProxyHeaderTest, V2RejectsBadVersionCommandFamilyAndLength) {
  for (const std::string& bad : {
           V2(0x11, 0x11, kV4Block),                  // version 1 in binary
           V2(0x31, 0x11, kV4Block),                  // version 3
           V2(0x22, 0x11, kV4Block),                  // command 2
           V2(0x21, 0x41, kV4Block),                  // family 4
           V2(0x21, 0x13, kV4Block),                  // protocol 3
           V2(0x21, 0x11, kV4Block.substr(0, 11)),    // IPv4 block too short
           V2(0x21, 0x21, std::string(35, '\0')),     // IPv6 block too short
           V2(0x21, 0x00, std::string(kMaxProxyHeaderBytes - 15, 'x')),  // too long
       }) {
    EXPECT_EQ(ParseProxyHeader(bad).outcome, ProxyHeaderParse::kInvalid);
  }
  // The longest allowed.
  EXPECT_EQ(ParseProxyHeader(V2(0x21, 0x00, std::string(kMaxProxyHeaderBytes - 16, 'x')))
                .outcome,
            ProxyHeaderParse::kComplete);
}

TEST(ParseProxyHeaderTest, EveryPrefixOfAValidHeaderIsIncomplete) {
  for (const std::string& h : {
           "PROXY TCP4 10.1.2.3 192.168.0.11 54321 443\r\n"s,
           "PROXY UNKNOWN\r\n"s,
           V2(0x21, 0x11, kV4Block),
           V2(0x20, 0x00, ""),
       }) {
    for (size_t k = 0; k < h.size(); ++k) {
      EXPECT_EQ(ParseProxyHeader(h.substr(0, k)).outcome, ProxyHeaderParse::kIncomplete)
          << k << " of " << h.size();
    }
    EXPECT_EQ(ParseProxyHeader(h).outcome, ProxyHeaderParse::kComplete);
  }
  // A byte that cannot begin either version is refused at once.
  EXPECT_EQ(ParseProxyHeader("G").outcome, ProxyHeaderParse::kInvalid);
  EXPECT_EQ(ParseProxyHeader("\r\n\r\n\x01").outcome, ProxyHeaderParse::kInvalid);
}

// The stream: a loop, a socketpair; the owner records what it is given.
class Owner : public StreamCallbacks {
 public:
  void OnStreamData(std::string_view data) override { data_.append(data); }
  void OnStreamEof() override { ++eofs; }
  void OnStreamDrained() override {}
  void OnStreamError(int error) override { errors.push_back(error); }
  void OnStreamInputTaken() override { ++taken; }
  std::string data_;
  int eofs = 0;
  int taken = 0;
  std::vector<int> errors;
};

class ProxyProtocolStreamTest : public ::testing::TestWithParam<LoopKind> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<EventLoop>> l = CreateLoop(GetParam());
    ASSERT_TRUE(l.ok()) << l.status();
    loop = *std::move(l);
    ProxyProtocolStream::Hooks hooks;
    hooks.on_header = [this](const ProxyHeader& h) {
      headers.push_back(h);
      header_before_data = owner.data_.empty();
    };
    hooks.on_invalid = [this](std::string_view e) { invalid.emplace_back(e); };
    stream = ProxyProtocolStream::Create(&owner, std::move(hooks), [&](StreamCallbacks* cb) {
      return loop->CreateStream(std::move(p.a), cb, {});
    });
    ASSERT_NE(stream, nullptr);
    stream->Start();
  }
  void Send(std::string_view bytes) {
    ASSERT_EQ(write(p.b.get(), bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
    for (int i = 0; i < 3; ++i) loop->RunOnce(Duration{0});
  }

  SocketPair p;
  std::unique_ptr<EventLoop> loop;
  Owner owner;
  std::unique_ptr<ProxyProtocolStream> stream;
  std::vector<ProxyHeader> headers;
  std::vector<std::string> invalid;
  bool header_before_data = false;
};

TEST_P(ProxyProtocolStreamTest, TakesTheHeaderAndPassesTheRest) {
  Send("PROXY TCP4 10.1.2.3 192.168.0.11 54321 443\r\nGET / HTTP/1.1\r\n");
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_TRUE(header_before_data);
  EXPECT_EQ(headers[0].source->ToString(), "10.1.2.3:54321");
  EXPECT_EQ(owner.data_, "GET / HTTP/1.1\r\n");
  Send("Host: x\r\n\r\n");
  EXPECT_EQ(owner.data_, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  // Output goes straight to the transport.
  stream->output().append("HTTP/1.1 200 OK\r\n");
  EXPECT_TRUE(stream->Flush());
  for (int i = 0; i < 3; ++i) loop->RunOnce(Duration{0});
  char buf[64];
  EXPECT_EQ(read(p.b.get(), buf, sizeof(buf)), 17);
  EXPECT_TRUE(invalid.empty());
}

TEST_P(ProxyProtocolStreamTest, AHeaderInPiecesIsWaitedFor) {
  const std::string all = V2(0x21, 0x11, kV4Block) + "GET";
  for (char c : all) {
    Send(std::string(1, c));
    if (headers.empty()) {
      EXPECT_EQ(owner.data_, "");
    }
  }
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_EQ(headers[0].source->ToString(), "10.1.2.3:54321");
  EXPECT_EQ(owner.data_, "GET");
}

// A header with nothing after it: the owner gets no bytes but learns that
// its unread input was taken (a drain waiting for it closes the connection).
// Not for a header still in pieces, which stays unread input.
TEST_P(ProxyProtocolStreamTest, AHeaderAloneTellsTheOwnerItsInputWasTaken) {
  const std::string header = "PROXY TCP4 10.1.2.3 192.168.0.11 54321 443\r\n";
  Send(header.substr(0, 10));
  EXPECT_EQ(owner.taken, 0);
  EXPECT_TRUE(stream->HasUnreadInput());
  EXPECT_TRUE(stream->HoldsInputBack());  // counted if closed now
  Send(header.substr(10));
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_EQ(owner.taken, 1);
  EXPECT_EQ(owner.data_, "");
  EXPECT_FALSE(stream->HasUnreadInput());
  EXPECT_FALSE(stream->HoldsInputBack());
  // In one piece too; and bytes after the header are data, not a taking.
  SocketPair q;
  Owner other;
  auto whole = ProxyProtocolStream::Create(
      &other, {}, [&](StreamCallbacks* cb) { return loop->CreateStream(std::move(q.a), cb, {}); });
  whole->Start();
  ASSERT_EQ(write(q.b.get(), header.data(), header.size()), static_cast<ssize_t>(header.size()));
  for (int i = 0; i < 3; ++i) loop->RunOnce(Duration{0});
  EXPECT_EQ(other.taken, 1);
  Send("GET");
  EXPECT_EQ(owner.taken, 1);
  EXPECT_EQ(owner.data_, "GET");
}

TEST_P(ProxyProtocolStreamTest, AnInvalidHeaderClosesAndTheOwnerSeesTheEnd) {
  Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(invalid.size(), 1u);
  EXPECT_EQ(invalid[0], "no PROXY protocol header");
  EXPECT_TRUE(headers.empty());
  EXPECT_EQ(owner.data_, "");  // nothing of it reached the owner
  EXPECT_EQ(owner.errors, std::vector<int>{kTransportRefused});
  EXPECT_EQ(owner.eofs, 0);
  EXPECT_TRUE(stream->closed());
  char buf[8];
  EXPECT_EQ(read(p.b.get(), buf, sizeof(buf)), 0);  // the peer sees the close
}

TEST_P(ProxyProtocolStreamTest, AnEndInsideTheHeaderIsInvalid) {
  Send("PROXY TCP4 10.1.2.3");
  EXPECT_TRUE(invalid.empty());
  p.b.reset();
  for (int i = 0; i < 3; ++i) loop->RunOnce(Duration{0});
  ASSERT_EQ(invalid.size(), 1u);
  EXPECT_EQ(owner.errors, std::vector<int>{kTransportRefused});
  EXPECT_EQ(owner.data_, "");
}

TEST_P(ProxyProtocolStreamTest, AHeaderLeftUnfinishedAtCloseIsInvalid) {
  EXPECT_FALSE(stream->HasUnreadInput());
  Send("PROXY TCP4 10.1.2.3");
  EXPECT_TRUE(invalid.empty());
  // Held here, not seen by the owner: an owner closing idle connections (a
  // drain) must not take this one for idle.
  EXPECT_TRUE(stream->HasUnreadInput());
  stream->Close();  // the owner's header timeout, or a drain
  ASSERT_EQ(invalid.size(), 1u);
  EXPECT_EQ(invalid[0], "closed with the header unfinished");
  stream->Close();  // idempotent, counted once
  EXPECT_EQ(invalid.size(), 1u);
  // A stream closed before any byte, or after its header, is no error.
  SocketPair q;
  std::vector<std::string> errors;
  ProxyProtocolStream::Hooks hooks;
  hooks.on_invalid = [&](std::string_view e) { errors.emplace_back(e); };
  auto quiet = ProxyProtocolStream::Create(&owner, std::move(hooks), [&](StreamCallbacks* cb) {
    return loop->CreateStream(std::move(q.a), cb, {});
  });
  quiet->Start();
  quiet->Close();
  EXPECT_TRUE(errors.empty());
}

TEST_P(ProxyProtocolStreamTest, AnEndBeforeAnyByteIsNoError) {
  p.b.reset();  // a balancer's TCP health check: connect, close
  for (int i = 0; i < 3; ++i) loop->RunOnce(Duration{0});
  EXPECT_TRUE(invalid.empty());
  EXPECT_EQ(owner.eofs, 1);
}

INSTANTIATE_TEST_SUITE_P(Loops, ProxyProtocolStreamTest, ::testing::ValuesIn(AllLoopKinds()),
                         LoopKindParamName<::testing::TestParamInfo<LoopKind>>);

}  // namespace
}  // namespace brisk::net
