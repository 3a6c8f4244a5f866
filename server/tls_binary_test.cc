// The `server` binary with TLS: its flags, the "listening on https://" line,
// a black-box round trip with the `openssl s_client` command, certificate
// rotation by SIGHUP (good files, then a bad one), mutual TLS with the
// client's identity in the access log, and refused flag combinations.
// Certificates are made at test time (tls/testing/test_certs.h).
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/testing/gate.h"
#include "server/testing/raw_client.h"
#include "server/testing/server_process.h"
#include "server/testing/tls_client.h"
#include "tls/testing/test_certs.h"
#include "tls/testing/test_client.h"

namespace brisk {
namespace {

using ::brisk::testing::Eventually;
using ::brisk::testing::Get;
using ::brisk::testing::RawResponse;
using ::brisk::testing::ServerProcess;
using ::brisk::testing::TlsClient;
using ::testing::HasSubstr;
using tls::testing::ClientOptions;
using tls::testing::Credential;
using tls::testing::SharedTestPki;
using tls::testing::TempDir;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class TlsBinaryTest : public ::testing::Test {
 protected:
  std::vector<std::string> Flags(const Credential& server) {
    return {"--address=127.0.0.1",
            "--port=0",
            "--workers=1",
            "--tls_cert=" + dir_.Write("chain.pem", server.chain_pem),
            "--tls_key=" + dir_.Write("key.pem", server.key_pem)};
  }

  ClientOptions Client(const Credential* cert = nullptr) {
    return {.trusted_ca_pem = pki_.root.cert_pem,
            .alpn = {"http/1.1"},
            .certificate = cert};
  }

  // The certificate a new connection is served ("" if the handshake failed).
  std::string ServedName(uint16_t port) {
    TlsClient c(port, Client());
    return c.handshake_done() ? c.tls().ServerCommonName() : "";
  }

  static std::optional<RawResponse> Hello(TlsClient& c) {
    if (!c.Send(Get("/hello"))) return std::nullopt;
    return c.Read();
  }

  const tls::testing::TestPki& pki_ = SharedTestPki();
  TempDir dir_;
};

TEST_F(TlsBinaryTest, ServesHttpsAndSaysSo) {
  ServerProcess server(Flags(pki_.server_ecdsa));
  ASSERT_NE(server.port(), 0);
  EXPECT_EQ(server.scheme(), "https");
  TlsClient c(server.port(), Client());
  ASSERT_TRUE(c.handshake_done()) << c.error();
  auto r = Hello(c);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "Hello, World!\n");
}

// The outside view: OpenSSL's own command-line client verifies the chain
// against the root and gets an answer, in TLS 1.3 and 1.2; TLS 1.1 is
// refused.
TEST_F(TlsBinaryTest, OpensslSClientGetsAnAnswer) {
  ServerProcess server(Flags(pki_.server_ecdsa));
  ASSERT_NE(server.port(), 0);
  const std::string root = dir_.Write("root.pem", pki_.root.cert_pem);
  const std::string request = dir_.Write(
      "request.txt", "GET /hello HTTP/1.1\r\nHost: server.test\r\nConnection: close\r\n\r\n");
  const std::string out = dir_.path() + "/s_client.out";
  auto s_client = [&](const std::string& version) {
    const std::string cmd =
        "timeout 20 openssl s_client -connect 127.0.0.1:" +
        std::to_string(server.port()) + " -servername server.test -CAfile " +
        root + " -verify_return_error -alpn http/1.1 -quiet " + version + " < " +
        request + " > " + out + " 2>&1";
    return std::system(cmd.c_str());
  };
  for (const char* version : {"-tls1_3", "-tls1_2"}) {
    SCOPED_TRACE(version);
    const int status = s_client(version);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << ReadFile(out);
    const std::string text = ReadFile(out);
    EXPECT_THAT(text, HasSubstr("HTTP/1.1 200 OK\r\n"));
    EXPECT_THAT(text, HasSubstr("Hello, World!\n"));
  }
  // A client that offers TLS 1.1 only (its own security level lowered so
  // that it does) is refused by the server with a protocol_version alert.
  const int status = s_client("-tls1_1 -cipher DEFAULT@SECLEVEL=0");
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_THAT(ReadFile(out), HasSubstr("alert protocol version"));
  EXPECT_THAT(ReadFile(out), ::testing::Not(HasSubstr("HTTP/1.1 200 OK")));
}

TEST_F(TlsBinaryTest, SighupRotatesTheCertificateWithoutARestart) {
  const std::string err = dir_.path() + "/stderr.txt";
  ServerProcess server(Flags(pki_.server_ecdsa), err);
  ASSERT_NE(server.port(), 0);
  // The start says what it serves, as each reload does (a chain's missing
  // intermediate was otherwise first said at the first rotation).
  EXPECT_TRUE(Eventually([&] {
    return ReadFile(err).find("tls: subject=CN=server.test") != std::string::npos;
  })) << ReadFile(err);
  TlsClient before(server.port(), Client());
  ASSERT_TRUE(before.handshake_done());
  EXPECT_EQ(before.tls().ServerCommonName(), "server.test");
  // New files in place, then SIGHUP: new handshakes get the new certificate.
  dir_.Write("chain.pem", pki_.server_ecdsa_alt.chain_pem);
  dir_.Write("key.pem", pki_.server_ecdsa_alt.key_pem);
  server.Signal(SIGHUP);
  EXPECT_TRUE(Eventually([&] { return ServedName(server.port()) == "server2.test"; }));
  // Said by the stderr writer thread: it comes.
  EXPECT_TRUE(Eventually([&] {
    return ReadFile(err).find("tls reloaded: subject=CN=server2.test") != std::string::npos;
  })) << ReadFile(err);
  auto r = Hello(before);  // established before the reload: untouched
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  // A bad file: the server says why and keeps serving the last good one.
  dir_.Write("key.pem", "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n");
  server.Signal(SIGHUP);
  EXPECT_TRUE(Eventually([&] {
    return ReadFile(err).find("tls reload failed: keeping the previous certificate") !=
           std::string::npos;
  }));
  EXPECT_EQ(ServedName(server.port()), "server2.test");
  r = Hello(before);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  server.Signal(SIGTERM);
  const int status = server.Wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(TlsBinaryTest, MutualTlsPutsTheClientInTheAccessLog) {
  const std::string log = dir_.path() + "/access.log";
  const std::string err = dir_.path() + "/stderr.txt";
  std::vector<std::string> flags = Flags(pki_.server_ecdsa);
  flags.push_back("--tls_client_ca=" + dir_.Write("clients.pem", pki_.root.cert_pem));
  flags.push_back("--access_log=" + log);
  ServerProcess server(flags, err);
  ASSERT_NE(server.port(), 0);
  TlsClient good(server.port(), Client(&pki_.client));
  ASSERT_TRUE(good.handshake_done()) << good.error();
  auto r = Hello(good);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  // The demo binary's /whoami shows a handler what the server verified.
  ASSERT_TRUE(good.Send(Get("/whoami")));
  auto who = good.Read();
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->status, 200);
  EXPECT_THAT(who->body, HasSubstr("\"secure\":true,\"verified\":true"));
  EXPECT_THAT(who->body, HasSubstr("\"subject\":\"CN=client.test,O=brisk test\""));
  TlsClient anonymous(server.port(), Client());  // required by default
  EXPECT_FALSE(Hello(anonymous).has_value());
  EXPECT_TRUE(anonymous.WaitClosed());
  server.Signal(SIGTERM);
  ASSERT_NE(server.Wait(), -1);
  EXPECT_THAT(ReadFile(log), HasSubstr("127.0.0.1 - CN=client.test,O=brisk\\x20test ["));
  EXPECT_THAT(ReadFile(err), HasSubstr("[cert_required]"));
}

TEST_F(TlsBinaryTest, RefusesInconsistentFlagsAndBadFiles) {
  auto exit_code = [&](std::vector<std::string> flags, std::string* err_text) {
    const std::string err = dir_.path() + "/stderr.txt";
    ServerProcess server(std::move(flags), err);
    EXPECT_EQ(server.port(), 0);
    const int status = server.Wait();
    *err_text = ReadFile(err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  std::string err;
  std::vector<std::string> flags = Flags(pki_.server_ecdsa);
  flags.pop_back();  // no --tls_key
  EXPECT_EQ(exit_code(flags, &err), 2);
  EXPECT_THAT(err, HasSubstr("--tls_cert and --tls_key go together"));
  flags = Flags(pki_.server_ecdsa);
  flags.push_back("--tls_client_auth=maybe");
  EXPECT_EQ(exit_code(flags, &err), 2);
  // Client certificates asked for without the CAs that issue them: refused
  // (served without mutual TLS, "require" would let every client in).
  for (const char* auth : {"--tls_client_auth=require", "--tls_client_auth=request"}) {
    flags = Flags(pki_.server_ecdsa);
    flags.push_back(auth);
    EXPECT_EQ(exit_code(flags, &err), 2) << auth;
    EXPECT_THAT(err, HasSubstr("--tls_client_auth needs --tls_client_ca")) << auth;
  }
  flags = Flags(pki_.server_ecdsa);
  flags.push_back("--tls_min_version=1.1");
  EXPECT_EQ(exit_code(flags, &err), 2);
  // TLS settings without TLS: refused, not served in cleartext.
  for (const char* setting : {"--tls_min_version=1.3", "--tls_handshake_timeout=5s"}) {
    EXPECT_EQ(exit_code({"--address=127.0.0.1", "--port=0", setting}, &err), 2) << setting;
    EXPECT_THAT(err, HasSubstr("needs --tls_cert and --tls_key")) << setting;
  }
  flags = Flags(pki_.server_ecdsa);
  flags.back() = "--tls_key=" + dir_.Write("other.pem", pki_.server_rsa.key_pem);
  EXPECT_EQ(exit_code(flags, &err), 1);
  EXPECT_THAT(err, HasSubstr("does not match"));
}

}  // namespace
}  // namespace brisk
