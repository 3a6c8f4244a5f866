// TlsServerSession against an OpenSSL client over memory: handshakes (TLS 1.2
// and 1.3, ECDSA and RSA), application data both ways, every byte split,
// ALPN, versions, mTLS, resumption, bad input, close_notify, counters.
#include "tls/server_session.h"

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "openssl/ssl.h"
#include "tls/context.h"
#include "tls/failure.h"
#include "tls/testing/fixture.h"
#include "tls/testing/test_certs.h"
#include "tls/testing/test_client.h"

namespace brisk::tls {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::ClientOptions;
using testing::Credential;
using testing::Handshake;
using testing::HandshakeResult;
using testing::Pump;
using testing::TestClient;
using testing::TlsFixture;

size_t Failures(const TlsContext& context, TlsFailure reason) {
  return context.stats().handshake_failures[static_cast<size_t>(reason)];
}

// Sends `data` from the client, returns what the server decrypted.
std::string ClientToServer(TestClient& client, TlsServerSession& server,
                           const std::string& data, size_t piece = 0) {
  EXPECT_TRUE(client.Write(data).ok());
  absl::Status status;
  std::string got = testing::Deliver(client, server, &status, Pump{.piece = piece});
  EXPECT_TRUE(status.ok()) << status;
  return got;
}

std::string ServerToClient(TestClient& client, TlsServerSession& server,
                           const std::string& data) {
  std::string wire;
  EXPECT_TRUE(server.Encrypt(data, &wire).ok());
  client.Feed(wire);
  return client.Read();
}

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

struct VersionCase {
  const char* name;
  int version;
  bool rsa;
};

class HandshakeTest : public ::testing::TestWithParam<VersionCase> {};

TEST_P(HandshakeTest, CompletesAndCarriesDataBothWays) {
  TlsFixture f;
  const VersionCase& c = GetParam();
  auto context = f.Context(f.Config(c.rsa ? f.pki.server_rsa : f.pki.server_ecdsa));
  auto server = f.Session(*context);
  auto client = f.Client({.alpn = {"http/1.1"}, .min_version = c.version,
                          .max_version = c.version});
  EXPECT_FALSE(server->handshake_done());
  EXPECT_EQ(server->version(), "");
  HandshakeResult r = Handshake(*client, *server);
  ASSERT_TRUE(r.ok()) << r.server << " client: " << client->error();
  EXPECT_TRUE(server->handshake_done());
  EXPECT_FALSE(server->resumed());
  EXPECT_EQ(server->version(), SSL_get_version(client->ssl()));
  EXPECT_EQ(server->version(), c.version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2");
  EXPECT_EQ(server->cipher(), SSL_get_cipher_name(client->ssl()));
  EXPECT_EQ(server->alpn(), "http/1.1");
  EXPECT_TRUE(server->peer().empty());
  EXPECT_EQ(client->ServerCommonName(), "server.test");
  if (c.version == TLS1_2_VERSION) {  // ECDHE + AEAD only
    EXPECT_THAT(std::string(server->cipher()), HasSubstr("ECDHE"));
  }

  EXPECT_EQ(ClientToServer(*client, *server, "GET / HTTP/1.1\r\n\r\n"),
            "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(ServerToClient(*client, *server, "HTTP/1.1 200 OK\r\n\r\n"),
            "HTTP/1.1 200 OK\r\n\r\n");
  const TlsStats stats = context->stats();
  EXPECT_EQ(stats.full_handshakes, 1u);
  EXPECT_EQ(stats.resumed_handshakes, 0u);
  EXPECT_EQ(stats.total_handshake_failures(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Versions, HandshakeTest,
    ::testing::Values(VersionCase{"tls13_ecdsa", TLS1_3_VERSION, false},
                      VersionCase{"tls13_rsa", TLS1_3_VERSION, true},
                      VersionCase{"tls12_ecdsa", TLS1_2_VERSION, false},
                      VersionCase{"tls12_rsa", TLS1_2_VERSION, true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(TlsServerSessionTest, LargePayloadsSpanManyRecordsBothWays) {
  TlsFixture f;
  auto context = f.Context(f.Config());
  auto server = f.Session(*context);
  auto client = f.Client();
  ASSERT_TRUE(Handshake(*client, *server).ok());
  const std::string up = Pattern(1 << 20);
  EXPECT_EQ(ClientToServer(*client, *server, up), up);
  const std::string down = Pattern(3 * 16384 + 17);
  std::string wire;
  ASSERT_TRUE(server->Encrypt(down, &wire).ok());
  EXPECT_GT(wire.size(), down.size() + 3 * 5);  // at least 4 records
  client->Feed(wire);
  EXPECT_EQ(client->Read(), down);
}

TEST(TlsServerSessionTest, HandshakeAndDataSplitAtEveryByte) {
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    SCOPED_TRACE(version);
    TlsFixture f;
    auto context = f.Context(f.Config(f.pki.server_ecdsa, ClientAuth::kRequire));
    auto server = f.Session(*context);
    auto client = f.Client({.alpn = {"http/1.1"}, .certificate = &f.pki.client,
                            .min_version = version, .max_version = version});
    HandshakeResult r = Handshake(*client, *server, Pump{.piece = 1, .max_rounds = 64});
    ASSERT_TRUE(r.ok()) << r.server << " client: " << client->error();
    EXPECT_EQ(server->alpn(), "http/1.1");
    EXPECT_EQ(server->peer().dns_names, std::vector<std::string>{"client.test"});
    EXPECT_EQ(ClientToServer(*client, *server, "hello, one byte at a time", 1),
              "hello, one byte at a time");
  }
}

TEST(TlsServerSessionTest, DataInTheSameFlightAsTheClientFinishedIsDecrypted) {
  TlsFixture f;
  auto context = f.Context(f.Config());
  auto server = f.Session(*context);
  auto client = f.Client({.max_version = TLS1_3_VERSION});
  std::string plain, to_client;
  client->Step();  // ClientHello
  ASSERT_TRUE(server->OnReceived(client->TakeOutput(), &plain, &to_client).ok());
  client->Feed(to_client);
  ASSERT_TRUE(client->Step());  // client done; its Finished is in the output
  ASSERT_TRUE(client->Write("GET /early-after-finished HTTP/1.1\r\n\r\n").ok());
  to_client.clear();
  ASSERT_TRUE(server->OnReceived(client->TakeOutput(), &plain, &to_client).ok());
  EXPECT_TRUE(server->handshake_done());
  EXPECT_EQ(plain, "GET /early-after-finished HTTP/1.1\r\n\r\n");
  EXPECT_FALSE(to_client.empty());  // session tickets
}

struct AlpnCase {
  const char* name;
  std::vector<std::string> client;
  std::string selected;
  TlsFailure failure;
};

class AlpnTest : public ::testing::TestWithParam<AlpnCase> {};

TEST_P(AlpnTest, SelectsHttp11OrRefuses) {
  const AlpnCase& c = GetParam();
  TlsFixture f;
  auto context = f.Context(f.Config());
  auto server = f.Session(*context);
  auto client = f.Client({.alpn = c.client});
  HandshakeResult r = Handshake(*client, *server);
  EXPECT_EQ(server->failure(), c.failure) << r.server;
  if (c.failure == TlsFailure::kNone) {
    ASSERT_TRUE(r.ok()) << r.server;
    EXPECT_EQ(server->alpn(), c.selected);
  } else {
    EXPECT_FALSE(r.client_done);
    EXPECT_THAT(client->error(), HasSubstr("no application protocol"));
    EXPECT_EQ(Failures(*context, c.failure), 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Alpn, AlpnTest,
    ::testing::Values(
        AlpnCase{"http11_only", {"http/1.1"}, "http/1.1", TlsFailure::kNone},
        AlpnCase{"h2_then_http11", {"h2", "http/1.1"}, "http/1.1", TlsFailure::kNone},
        AlpnCase{"no_alpn", {}, "", TlsFailure::kNone},
        AlpnCase{"h2_only", {"h2"}, "", TlsFailure::kNoApplicationProtocol},
        // RFC 7301 §3.2: refused only when the server speaks none of them.
        AlpnCase{"http10_only", {"http/1.0"}, "http/1.0", TlsFailure::kNone},
        AlpnCase{"http10_then_http11", {"http/1.0", "http/1.1"}, "http/1.1", TlsFailure::kNone},
        AlpnCase{"h2_and_h3", {"h2", "h3"}, "", TlsFailure::kNoApplicationProtocol}),
    [](const auto& info) { return std::string(info.param.name); });

struct RefusalCase {
  const char* name;
  TlsVersion server_min;
  ClientOptions client;
  TlsFailure failure;
  const char* alert;  // what the client reports
};

class RefusalTest : public ::testing::TestWithParam<RefusalCase> {};

TEST_P(RefusalTest, FailsWithReasonAndAlert) {
  const RefusalCase& c = GetParam();
  TlsFixture f;
  TlsServerConfig config = f.Config();
  config.min_version = c.server_min;
  auto context = f.Context(config);
  auto server = f.Session(*context);
  auto client = f.Client(c.client);
  HandshakeResult r = Handshake(*client, *server);
  EXPECT_FALSE(r.server.ok());
  EXPECT_FALSE(r.client_done);
  EXPECT_EQ(server->failure(), c.failure)
      << TlsFailureName(server->failure()) << ": " << server->failure_detail();
  EXPECT_TRUE(server->failed());
  EXPECT_FALSE(client->error().empty());  // the client saw an alert
  EXPECT_THAT(client->error(), HasSubstr(c.alert));
  EXPECT_EQ(Failures(*context, c.failure), 1u);
  EXPECT_EQ(context->stats().total_handshake_failures(), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Refusals, RefusalTest,
    ::testing::Values(
        RefusalCase{"tls11_client",
                    TlsVersion::kTls12,
                    {.min_version = TLS1_1_VERSION, .max_version = TLS1_1_VERSION,
                     .allow_legacy = true},
                    TlsFailure::kUnsupportedVersion, "alert protocol version"},
        RefusalCase{"tls10_client",
                    TlsVersion::kTls12,
                    {.min_version = TLS1_VERSION, .max_version = TLS1_VERSION,
                     .allow_legacy = true},
                    TlsFailure::kUnsupportedVersion, "alert protocol version"},
        RefusalCase{"tls12_client_on_tls13_only_server",
                    TlsVersion::kTls13,
                    {.max_version = TLS1_2_VERSION},
                    TlsFailure::kUnsupportedVersion, "alert protocol version"},
        RefusalCase{"rsa_key_exchange_only",
                    TlsVersion::kTls12,
                    {.max_version = TLS1_2_VERSION, .tls12_ciphers = "AES128-GCM-SHA256"},
                    TlsFailure::kNoSharedCipher, "alert handshake failure"},
        RefusalCase{"cbc_only",
                    TlsVersion::kTls12,
                    {.max_version = TLS1_2_VERSION,
                     .tls12_ciphers = "ECDHE-ECDSA-AES128-SHA256"},
                    TlsFailure::kNoSharedCipher, "alert handshake failure"},
        RefusalCase{"ffdhe_only_group",
                    TlsVersion::kTls12,
                    {.groups = "ffdhe2048"},
                    TlsFailure::kNoSharedCipher, "alert handshake failure"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(TlsServerSessionTest, ClientThatDistrustsTheServerIsAPeerAlert) {
  TlsFixture f;
  auto context = f.Context(f.Config());
  auto server = f.Session(*context);
  auto client = f.Client({.trusted_ca_pem = f.pki.other_root.cert_pem});
  HandshakeResult r = Handshake(*client, *server);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(server->failure(), TlsFailure::kPeerAlert) << server->failure_detail();
  EXPECT_THAT(server->failure_detail(), HasSubstr("unknown ca"));
}

// OpenSSL cannot seal a session whose encoding passes 0xFF00 bytes into a
// ticket; a trusted client certificate of ~100 KB (1,500 SANs) makes it fail
// with ERR_R_INTERNAL_ERROR after the client's Finished. That is the
// server's own failure (internal), not an alert from the client: OpenSSL 3
// flags its common reasons with a bit that put them in the alert range.
TEST(TlsServerSessionTest, AnInternalOpenSslErrorIsNotAPeerAlert) {
  TlsFixture f;
  testing::CertSpec spec{.common_name = "huge.client.test", .extended_key_usage = "clientAuth"};
  for (int i = 0; i < 1500; ++i) {
    spec.alt_names.push_back("DNS:host-" + std::to_string(i) +
                             ".a-rather-long-subdomain.client.brisk.test");
  }
  absl::StatusOr<Credential> huge = testing::Issue(spec, &f.pki.root);
  ASSERT_TRUE(huge.ok()) << huge.status();
  ASSERT_GT(huge->cert_pem.size(), 65536u * 4 / 3);  // DER > 64 KiB
  auto context = f.Context(f.Config(f.pki.server_ecdsa, ClientAuth::kRequire));
  auto server = f.Session(*context);
  auto client = f.Client({.certificate = &*huge, .min_version = TLS1_3_VERSION});
  HandshakeResult r = Handshake(*client, *server);
  EXPECT_FALSE(r.server.ok());
  EXPECT_EQ(server->failure(), TlsFailure::kInternal)
      << TlsFailureName(server->failure()) << ": " << server->failure_detail();
  EXPECT_EQ(Failures(*context, TlsFailure::kInternal), 1u);
  EXPECT_EQ(Failures(*context, TlsFailure::kPeerAlert), 0u);
}

struct MtlsCase {
  const char* name;
  ClientAuth mode;
  const Credential* (*cert)(const testing::TestPki&);
  TlsFailure failure;
  bool identity;
  const char* alert13 = "";  // what the client reports on failure
  const char* alert12 = "";
};

const Credential* NoCert(const testing::TestPki&) { return nullptr; }
const Credential* GoodCert(const testing::TestPki& p) { return &p.client; }
const Credential* ExpiredCert(const testing::TestPki& p) { return &p.client_expired; }
const Credential* UntrustedCert(const testing::TestPki& p) { return &p.client_untrusted; }

class MtlsTest : public ::testing::TestWithParam<std::tuple<MtlsCase, int>> {};

TEST_P(MtlsTest, VerifiesClientCertificates) {
  const auto& [c, version] = GetParam();
  TlsFixture f;
  auto context = f.Context(f.Config(f.pki.server_ecdsa, c.mode));
  auto server = f.Session(*context);
  auto client = f.Client({.certificate = c.cert(f.pki), .min_version = version,
                          .max_version = version});
  HandshakeResult r = Handshake(*client, *server);
  EXPECT_EQ(server->failure(), c.failure)
      << TlsFailureName(server->failure()) << ": " << server->failure_detail();
  if (c.failure != TlsFailure::kNone) {
    EXPECT_FALSE(r.server.ok());
    EXPECT_FALSE(r.client_done);
    EXPECT_FALSE(client->error().empty());  // the client got the alert
    EXPECT_THAT(client->error(),
                HasSubstr(version == TLS1_3_VERSION ? c.alert13 : c.alert12));
    EXPECT_EQ(Failures(*context, c.failure), 1u);
    return;
  }
  ASSERT_TRUE(r.ok()) << r.server << " client: " << client->error();
  const PeerIdentity& id = server->peer();
  if (!c.identity) {
    EXPECT_TRUE(id.empty());
    return;
  }
  EXPECT_EQ(id.subject, "CN=client.test,O=brisk test");
  EXPECT_EQ(id.issuer, "CN=brisk test root CA,O=brisk test");
  EXPECT_THAT(id.dns_names, ElementsAre("client.test"));
  EXPECT_THAT(id.uris, ElementsAre("spiffe://brisk.test/client"));
  EXPECT_THAT(id.emails, ElementsAre("client@brisk.test"));
  EXPECT_THAT(id.ip_addresses, ElementsAre("192.0.2.7", "2001:db8::7"));
  EXPECT_EQ(id.sha256_fingerprint.size(), 64u);
  EXPECT_FALSE(id.serial.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Mtls, MtlsTest,
    ::testing::Combine(
        ::testing::Values(
            MtlsCase{"require_good", ClientAuth::kRequire, GoodCert, TlsFailure::kNone, true},
            MtlsCase{"require_none", ClientAuth::kRequire, NoCert, TlsFailure::kCertRequired,
                     false, "alert certificate required", "alert handshake failure"},
            MtlsCase{"require_expired", ClientAuth::kRequire, ExpiredCert,
                     TlsFailure::kCertExpired, false, "alert certificate expired",
                     "alert certificate expired"},
            MtlsCase{"require_untrusted", ClientAuth::kRequire, UntrustedCert,
                     TlsFailure::kCertUntrusted, false, "alert unknown ca", "alert unknown ca"},
            MtlsCase{"request_good", ClientAuth::kRequest, GoodCert, TlsFailure::kNone, true},
            MtlsCase{"request_none", ClientAuth::kRequest, NoCert, TlsFailure::kNone, false},
            MtlsCase{"request_untrusted", ClientAuth::kRequest, UntrustedCert,
                     TlsFailure::kCertUntrusted, false, "alert unknown ca", "alert unknown ca"},
            MtlsCase{"request_expired", ClientAuth::kRequest, ExpiredCert,
                     TlsFailure::kCertExpired, false, "alert certificate expired",
                     "alert certificate expired"},
            MtlsCase{"none_good", ClientAuth::kNone, GoodCert, TlsFailure::kNone, false}),
        ::testing::Values(TLS1_3_VERSION, TLS1_2_VERSION)),
    [](const auto& info) {
      return std::string(std::get<0>(info.param).name) +
             (std::get<1>(info.param) == TLS1_3_VERSION ? "_tls13" : "_tls12");
    });

// A full handshake, then one that offers its session: resumed() and the
// counters, for each version; the client identity survives resumption.
TEST(TlsServerSessionTest, ResumesWithTicketsInBothVersions) {
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    SCOPED_TRACE(version);
    TlsFixture f;
    auto context = f.Context(f.Config(f.pki.server_ecdsa, ClientAuth::kRequire));
    auto first = f.Session(*context);
    auto client = f.Client({.certificate = &f.pki.client, .max_version = version});
    ASSERT_TRUE(Handshake(*client, *first).ok());
    EXPECT_FALSE(first->resumed());
    SSL_SESSION* session = client->Get1Session();
    ASSERT_NE(session, nullptr);
    ASSERT_EQ(SSL_SESSION_is_resumable(session), 1);

    auto second = f.Session(*context);
    auto again = f.Client({.certificate = &f.pki.client, .max_version = version,
                           .resume = session});
    HandshakeResult r = Handshake(*again, *second);
    SSL_SESSION_free(session);
    ASSERT_TRUE(r.ok()) << r.server;
    EXPECT_TRUE(second->resumed());
    EXPECT_EQ(SSL_session_reused(again->ssl()), 1);
    EXPECT_EQ(second->peer().subject, "CN=client.test,O=brisk test");
    EXPECT_EQ(ClientToServer(*again, *second, "after resumption"), "after resumption");
    const TlsStats stats = context->stats();
    EXPECT_EQ(stats.full_handshakes, 1u);
    EXPECT_EQ(stats.resumed_handshakes, 1u);
    EXPECT_DOUBLE_EQ(stats.resumption_rate(), 0.5);
  }
}

// Clients use a ticket once (RFC 8446 §C.4; OpenSSL's client also in TLS
// 1.2): every resumption must hand out a fresh ticket, or only every other
// connection resumes.
TEST(TlsServerSessionTest, EveryResumptionIssuesAFreshTicket) {
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    SCOPED_TRACE(version);
    TlsFixture f;
    auto context = f.Context(f.Config());
    auto server = f.Session(*context);
    auto client = f.Client({.max_version = version});
    ASSERT_TRUE(Handshake(*client, *server).ok());
    for (int i = 0; i < 4; ++i) {
      // The previous client lives on (as a real client's SSL_CTX does).
      SSL_SESSION* session = client->Get1Session();
      auto next_server = f.Session(*context);
      auto next = f.Client({.max_version = version, .resume = session});
      HandshakeResult r = Handshake(*next, *next_server);
      SSL_SESSION_free(session);
      ASSERT_TRUE(r.ok()) << r.server;
      EXPECT_TRUE(next_server->resumed()) << "connection " << i + 2;
      client = std::move(next);
    }
    EXPECT_EQ(context->stats().resumed_handshakes, 4u);
  }
}

TEST(TlsServerSessionTest, SessionTicketsOffMeansFullHandshakes) {
  TlsFixture f;
  TlsServerConfig config = f.Config();
  config.session_tickets = false;
  auto context = f.Context(config);
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    auto first = f.Session(*context);
    auto client = f.Client({.max_version = version});
    ASSERT_TRUE(Handshake(*client, *first).ok());
    SSL_SESSION* session = client->Get1Session();
    auto second = f.Session(*context);
    auto again = f.Client({.max_version = version, .resume = session});
    ASSERT_TRUE(Handshake(*again, *second).ok());
    SSL_SESSION_free(session);
    EXPECT_FALSE(second->resumed());
  }
  EXPECT_EQ(context->stats().resumed_handshakes, 0u);
}

struct BadInputCase {
  const char* name;
  std::vector<std::string> pieces;
  TlsFailure failure;
  bool sends_alert;
};

class BadInputTest : public ::testing::TestWithParam<BadInputCase> {};

TEST_P(BadInputTest, FailsCleanly) {
  const BadInputCase& c = GetParam();
  TlsFixture f;
  auto context = f.Context(f.Config());
  auto server = f.Session(*context);
  std::string plain, to_peer;
  absl::Status status;
  for (const std::string& piece : c.pieces) {
    status = server->OnReceived(piece, &plain, &to_peer);
    if (!status.ok()) break;
  }
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(server->failure(), c.failure)
      << TlsFailureName(server->failure()) << ": " << server->failure_detail();
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(std::string(TlsFailureDescription(c.failure))));
  EXPECT_TRUE(plain.empty());
  if (c.sends_alert) {
    ASSERT_GE(to_peer.size(), 7u);
    EXPECT_EQ(to_peer[0], '\x15');  // an alert record
  } else {
    EXPECT_TRUE(to_peer.empty());
  }
  EXPECT_EQ(Failures(*context, c.failure), 1u);
  EXPECT_EQ(context->stats().total_handshake_failures(), 1u);

  // Dead from now on: the same failure, nothing appended, nothing counted.
  to_peer.clear();
  EXPECT_EQ(server->OnReceived("\x16\x03\x01", &plain, &to_peer).message(),
            status.message());
  EXPECT_EQ(server->OnEof().message(), status.message());
  EXPECT_EQ(server->Encrypt("x", &to_peer).message(), status.message());
  server->Shutdown(&to_peer);
  EXPECT_TRUE(to_peer.empty());
  EXPECT_EQ(context->stats().total_handshake_failures(), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, BadInputTest,
    ::testing::Values(
        BadInputCase{"plain_http", {"GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
                     TlsFailure::kPlainHttp, false},
        BadInputCase{"plain_http_one_byte", {"P"}, TlsFailure::kPlainHttp, false},
        BadInputCase{"http2_preface", {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
                     TlsFailure::kPlainHttp, false},
        BadInputCase{"binary_garbage", {std::string("\x00\x01\x02\xff", 4)},
                     TlsFailure::kNotTls, false},
        BadInputCase{"lower_case_text", {"hello\r\n"}, TlsFailure::kNotTls, false},
        BadInputCase{"ssh_banner", {"SSH-2.0-OpenSSH_9.2\r\n"}, TlsFailure::kNotTls, false},
        BadInputCase{"bad_second_byte_later", {"\x16", "X"}, TlsFailure::kNotTls, false},
        BadInputCase{"garbage_in_a_handshake_record",
                     {std::string("\x16\x03\x01\x00\x05hello", 10)},
                     TlsFailure::kProtocolError, true},
        BadInputCase{"oversized_record",
                     {std::string("\x16\x03\x01\xff\xff", 5) + std::string(70000, 'A')},
                     TlsFailure::kProtocolError, true},
        BadInputCase{"application_data_before_handshake",
                     {std::string("\x17\x03\x03\x00\x05hello", 10)},
                     TlsFailure::kNotTls, false},
        BadInputCase{"client_hello_with_zero_length",
                     {std::string("\x16\x03\x01\x00\x04\x01\x00\x00\x00", 9)},
                     TlsFailure::kProtocolError, true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(TlsServerSessionTest, TruncatedHandshakeAndSilentClients) {
  TlsFixture f;
  auto context = f.Context(f.Config());
  std::string plain, to_peer;

  auto silent = f.Session(*context);
  EXPECT_EQ(silent->OnEof().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(silent->failure(), TlsFailure::kNoClientHello);

  auto truncated = f.Session(*context);
  absl::StatusOr<std::string> hello = testing::ClientHello({});
  ASSERT_TRUE(hello.ok());
  ASSERT_TRUE(truncated->OnReceived(hello->substr(0, hello->size() / 2), &plain, &to_peer).ok());
  EXPECT_TRUE(to_peer.empty());  // nothing to say on half a ClientHello
  EXPECT_FALSE(truncated->OnEof().ok());
  EXPECT_EQ(truncated->failure(), TlsFailure::kPeerClosedInHandshake);
  EXPECT_THAT(truncated->failure_detail(), HasSubstr("handshake incomplete"));

  // A client that gets the server's flight and never answers: the caller's
  // timer fires.
  auto stalled = f.Session(*context);
  ASSERT_TRUE(stalled->OnReceived(*hello, &plain, &to_peer).ok());
  EXPECT_FALSE(to_peer.empty());
  stalled->OnHandshakeTimeout();
  EXPECT_EQ(stalled->failure(), TlsFailure::kHandshakeTimeout);
  EXPECT_EQ(stalled->OnEof().code(), absl::StatusCode::kDeadlineExceeded);

  EXPECT_EQ(Failures(*context, TlsFailure::kNoClientHello), 1u);
  EXPECT_EQ(Failures(*context, TlsFailure::kPeerClosedInHandshake), 1u);
  EXPECT_EQ(Failures(*context, TlsFailure::kHandshakeTimeout), 1u);
  EXPECT_EQ(context->stats().total_handshake_failures(), 3u);
}

// A client that says close_notify in the middle of the handshake left: a
// peer closing, not an internal error of the server (which it was counted
// as, "unexpected OpenSSL state (SSL_get_error 6)").
TEST(TlsServerSessionTest, CloseNotifyDuringTheHandshakeIsThePeerClosing) {
  TlsFixture f;
  auto context = f.Context(f.Config());
  std::string plain, to_peer;
  auto session = f.Session(*context);
  absl::StatusOr<std::string> hello = testing::ClientHello({.max_version = TLS1_2_VERSION});
  ASSERT_TRUE(hello.ok());
  ASSERT_TRUE(session->OnReceived(*hello, &plain, &to_peer).ok());
  EXPECT_FALSE(to_peer.empty());  // the server's flight
  // A warning-level close_notify alert, in the clear (no keys yet).
  EXPECT_FALSE(
      session->OnReceived(std::string("\x15\x03\x03\x00\x02\x01\x00", 7), &plain, &to_peer).ok());
  EXPECT_EQ(session->failure(), TlsFailure::kPeerClosedInHandshake);
  EXPECT_THAT(session->failure_detail(), HasSubstr("close_notify"));
  EXPECT_EQ(Failures(*context, TlsFailure::kPeerClosedInHandshake), 1u);
  EXPECT_EQ(Failures(*context, TlsFailure::kInternal), 0u);
}

TEST(TlsServerSessionTest, TimeoutAndEofAfterTheHandshakeAreNotFailures) {
  TlsFixture f;
  auto context = f.Context(f.Config());
  auto server = f.Session(*context);
  auto client = f.Client();
  ASSERT_TRUE(Handshake(*client, *server).ok());
  server->OnHandshakeTimeout();
  EXPECT_FALSE(server->failed());
  EXPECT_TRUE(server->OnEof().ok());  // HTTP framing judges truncation
  EXPECT_FALSE(server->peer_closed());
  EXPECT_EQ(context->stats().total_handshake_failures(), 0u);
}

TEST(TlsServerSessionTest, CloseNotifyBothWays) {
  TlsFixture f;
  auto context = f.Context(f.Config());
  {  // client closes first
    auto server = f.Session(*context);
    auto client = f.Client();
    ASSERT_TRUE(Handshake(*client, *server).ok());
    ASSERT_TRUE(client->Write("last words").ok());
    client->Shutdown();
    absl::Status status;
    EXPECT_EQ(testing::Deliver(*client, *server, &status), "last words");
    EXPECT_TRUE(status.ok()) << status;
    EXPECT_TRUE(server->peer_closed());
    std::string to_client;
    server->Shutdown(&to_client);
    ASSERT_FALSE(to_client.empty());
    EXPECT_EQ(to_client[0], '\x17');  // TLS 1.3 hides the alert type
    client->Feed(to_client);
    client->Read();
    EXPECT_TRUE(client->peer_closed());
  }
  {  // server closes first
    auto server = f.Session(*context);
    auto client = f.Client({.max_version = TLS1_2_VERSION});
    ASSERT_TRUE(Handshake(*client, *server).ok());
    std::string to_client;
    ASSERT_TRUE(server->Encrypt("bye", &to_client).ok());
    server->Shutdown(&to_client);
    const size_t size = to_client.size();
    server->Shutdown(&to_client);  // once only
    EXPECT_EQ(to_client.size(), size);
    EXPECT_EQ(server->Encrypt("more", &to_client).code(),
              absl::StatusCode::kFailedPrecondition);
    client->Feed(to_client);
    EXPECT_EQ(client->Read(), "bye");
    EXPECT_TRUE(client->peer_closed());
    client->Shutdown();  // the client's close_notify still reaches the server
    absl::Status status;
    testing::Deliver(*client, *server, &status);
    EXPECT_TRUE(status.ok()) << status;
    EXPECT_TRUE(server->peer_closed());
  }
}

TEST(TlsServerSessionTest, EncryptBeforeTheHandshakeIsRefused) {
  TlsFixture f;
  auto context = f.Context(f.Config());
  auto server = f.Session(*context);
  std::string to_peer;
  EXPECT_EQ(server->Encrypt("too early", &to_peer).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(to_peer.empty());
  server->Shutdown(&to_peer);  // nothing to close yet
  EXPECT_TRUE(to_peer.empty());
  EXPECT_FALSE(server->failed());
  // Still usable afterwards.
  auto client = f.Client();
  ASSERT_TRUE(Handshake(*client, *server).ok());
}

// A TLS 1.2 session with its context and client, for the record gate's
// tests: Open() does the handshake and checks the version.
struct Tls12Session {
  ::testing::AssertionResult Open() {
    if (!Handshake(*client, *server).ok()) {
      return ::testing::AssertionFailure() << "handshake: " << client->error();
    }
    if (server->version() != "TLSv1.2") {
      return ::testing::AssertionFailure() << "version " << server->version();
    }
    return ::testing::AssertionSuccess();
  }

  TlsFixture f;
  std::unique_ptr<TlsContext> context = f.Context(f.Config());
  std::unique_ptr<TlsServerSession> server = f.Session(*context);
  std::unique_ptr<TestClient> client = f.Client({.max_version = TLS1_2_VERSION});
};

// A TLS 1.2 client that tries to renegotiate is cut off, as nginx and
// Apache do, before OpenSSL reads its record: one record can pack ~4,096
// minimal ClientHellos, which OpenSSL parsed to the end (~13 ms of the
// reactor per connection) even when it was given nothing more to write.
// OpenSSL never sees the record (it used to answer each ClientHello with a
// no_renegotiation warning); the client gets a close_notify, an orderly
// end (it read the bare close as a truncation).
TEST(TlsServerSessionTest, ClientRenegotiationEndsTheConnectionUnread) {
  for (size_t piece : {size_t{0}, size_t{1}, size_t{3}}) {
    SCOPED_TRACE(piece);
    Tls12Session t;
    ASSERT_TRUE(t.Open());
    // Records before it, and in the same delivery, still arrive.
    ASSERT_TRUE(t.client->Write("before").ok());
    ASSERT_EQ(SSL_renegotiate(t.client->ssl()), 1);
    SSL_do_handshake(t.client->ssl());  // sends its ClientHello
    const std::string wire = t.client->TakeOutput();
    std::string plain, to_client;
    absl::Status status;
    const size_t step = piece == 0 ? wire.size() : piece;
    for (size_t i = 0; i < wire.size() && status.ok(); i += step) {
      status = t.server->OnReceived(std::string_view(wire).substr(i, step), &plain, &to_client);
    }
    EXPECT_FALSE(status.ok());
    EXPECT_EQ(t.server->failure(), TlsFailure::kClientRenegotiation);
    EXPECT_THAT(t.server->failure_detail(), HasSubstr("renegotiation is not supported"));
    EXPECT_EQ(plain, "before");
    // One record, an alert (type 21): the close_notify, not an answer to
    // the ClientHello, which OpenSSL never read.
    ASSERT_GE(to_client.size(), 5u);
    EXPECT_EQ(static_cast<uint8_t>(to_client[0]), 21);
    EXPECT_EQ((static_cast<uint8_t>(to_client[3]) << 8 | static_cast<uint8_t>(to_client[4])) + 5u,
              to_client.size());
    t.client->Feed(to_client);
    t.client->Read();
    EXPECT_TRUE(t.client->peer_closed());
    EXPECT_NE(SSL_get_shutdown(t.client->ssl()) & SSL_RECEIVED_SHUTDOWN, 0);
    const TlsStats stats = t.context->stats();
    EXPECT_EQ(stats.full_handshakes, 1u);
    EXPECT_EQ(stats.errors_after_handshake, 1u);
    EXPECT_EQ(stats.total_handshake_failures(), 0u);
  }
}

// The TLS 1.2 record gate follows every record boundary: many records of
// every size (a 40 KB write is three), an alert-free close, any split.
TEST(TlsServerSessionTest, Tls12RecordsOfEverySizeAnySplitPassTheGate) {
  for (size_t piece : {size_t{1}, size_t{5}, size_t{4096}}) {
    SCOPED_TRACE(piece);
    Tls12Session t;
    ASSERT_TRUE(t.Open());
    std::string sent;
    for (size_t n : {size_t{1}, size_t{255}, size_t{256}, size_t{16384}, size_t{40000}}) {
      sent += Pattern(n);
      ASSERT_TRUE(t.client->Write(Pattern(n)).ok());
    }
    t.client->Shutdown();  // close_notify: an alert record
    absl::Status status;
    EXPECT_EQ(testing::Deliver(*t.client, *t.server, &status, Pump{.piece = piece}), sent);
    EXPECT_TRUE(status.ok()) << status;
    EXPECT_TRUE(t.server->peer_closed());
    EXPECT_FALSE(t.server->failed());
  }
}

TEST(TlsServerSessionTest, CorruptedRecordAfterTheHandshakeIsCountedSeparately) {
  TlsFixture f;
  auto context = f.Context(f.Config());
  auto server = f.Session(*context);
  auto client = f.Client();
  ASSERT_TRUE(Handshake(*client, *server).ok());
  ASSERT_TRUE(client->Write("payload").ok());
  std::string wire = client->TakeOutput();
  wire.back() ^= 1;  // breaks the AEAD tag
  std::string plain, to_client;
  absl::Status status = server->OnReceived(wire, &plain, &to_client);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(server->failure(), TlsFailure::kProtocolError);
  EXPECT_THAT(server->failure_detail(), HasSubstr("bad record mac"));
  EXPECT_TRUE(plain.empty());
  EXPECT_FALSE(to_client.empty());  // bad_record_mac alert
  const TlsStats stats = context->stats();
  EXPECT_EQ(stats.errors_after_handshake, 1u);
  EXPECT_EQ(stats.total_handshake_failures(), 0u);
}

// `n` TLS 1.3 KeyUpdate(update_requested) messages from the client, as wire
// bytes.
std::string KeyUpdates(TestClient& client, int n) {
  std::string wire;
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(SSL_key_update(client.ssl(), SSL_KEY_UPDATE_REQUESTED), 1);
    SSL_do_handshake(client.ssl());  // sends it
    wire += client.TakeOutput();
  }
  return wire;
}

// A client may rekey (a burst, then one KeyUpdate per 128 bytes of
// traffic, so even one before every request); a flood beyond that fails
// the connection. An outside review's client sent
// thousands per read without reading: each cost a key derivation on the
// reactor and an answer queued without bound (one connection held the
// reactor for seconds and grew the process by ~1 MB/s).
TEST(TlsServerSessionTest, KeyUpdatesBeyondTheTrafficsBudgetFailTheConnection) {
  TlsFixture f;
  auto context = f.Context(f.Config());
  auto server = f.Session(*context);
  auto client = f.Client();
  ASSERT_TRUE(Handshake(*client, *server).ok());
  ASSERT_EQ(server->version(), "TLSv1.3");
  std::string plain, to_client;
  ASSERT_TRUE(server->OnReceived(KeyUpdates(*client, 30), &plain, &to_client).ok());
  EXPECT_FALSE(to_client.empty());  // answered (update_requested)
  EXPECT_EQ(ClientToServer(*client, *server, "still here"), "still here");
  // Traffic earns more: a KeyUpdate before each of 100 small requests and
  // answers (~200 bytes each), as a client that rekeys per request does.
  for (int i = 0; i < 100; ++i) {
    to_client.clear();
    ASSERT_TRUE(server->OnReceived(KeyUpdates(*client, 1), &plain, &to_client).ok()) << i;
    EXPECT_EQ(ClientToServer(*client, *server, Pattern(90)), Pattern(90));
    std::string answer;  // its answer (the client does not read it here)
    EXPECT_TRUE(server->Encrypt(Pattern(120), &answer).ok());
  }
  EXPECT_FALSE(server->failed());
  // A flood in one read: refused after the budget, not processed to its end.
  to_client.clear();
  const absl::Status s = server->OnReceived(KeyUpdates(*client, 1000), &plain, &to_client);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(server->failure(), TlsFailure::kTooManyKeyUpdates);
  EXPECT_THAT(server->failure_detail(), HasSubstr("post-handshake messages"));
  EXPECT_LT(to_client.size(), 50u * 100);  // a few answers, not 1000
  const TlsStats stats = context->stats();
  EXPECT_EQ(stats.errors_after_handshake, 1u);
  EXPECT_EQ(stats.total_handshake_failures(), 0u);
}

TEST(TlsFailureTest, NamesAreStableAndDistinct) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kNumTlsFailures; ++i) {
    const auto f = static_cast<TlsFailure>(i);
    EXPECT_TRUE(names.insert(TlsFailureName(f)).second) << TlsFailureName(f);
    EXPECT_FALSE(TlsFailureDescription(f).empty());
  }
  EXPECT_EQ(TlsFailureName(TlsFailure::kPlainHttp), "plain_http");
  EXPECT_EQ(TlsFailureName(TlsFailure::kCertExpired), "cert_expired");
}

}  // namespace
}  // namespace brisk::tls
