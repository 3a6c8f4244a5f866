// Reload, ticket key rotation and stats while other threads create sessions
// and run handshakes (with and without resumption). Meant for --config=tsan;
// bounded work, no sleeps.
#include <barrier>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "openssl/ssl.h"
#include "tls/context.h"
#include "tls/testing/fixture.h"
#include "tls/testing/test_client.h"

namespace brisk::tls {
namespace {

using testing::Handshake;
using testing::TlsFixture;
using ::brisk::tls::ClientAuth;

TEST(TlsContextConcurrencyTest, ReloadWhileOtherThreadsHandshake) {
  constexpr int kThreads = 3;
  constexpr int kHandshakesPerThread = 24;
  constexpr int kReloads = 12;
  TlsFixture f;
  auto context = f.Context(f.Config());

  std::vector<int> failures(kThreads, 0);
  std::vector<int> resumed(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      SSL_SESSION* session = nullptr;
      // The client whose session is offered next lives on (as a real
      // client's SSL_CTX does): freeing it makes its sessions unresumable,
      // and this test resumed none.
      std::unique_ptr<testing::TestClient> previous;
      for (int i = 0; i < kHandshakesPerThread; ++i) {
        auto server = TlsFixture::Session(*context);
        // Every other handshake offers the previous session.
        auto client = f.Client({.resume = (i % 2 == 1) ? session : nullptr});
        const bool ok = Handshake(*client, *server).ok();
        const std::string cn = client->ServerCommonName();
        if (!ok || (cn != "server.test" && cn != "server2.test")) ++failures[t];
        if (server->resumed()) ++resumed[t];
        if (SSL_SESSION* next = client->Get1Session()) {
          SSL_SESSION_free(session);
          session = next;
        }
        previous = std::move(client);
      }
      SSL_SESSION_free(session);
    });
  }
  for (int i = 0; i < kReloads; ++i) {
    const auto& cred = (i % 2 == 0) ? f.pki.server_ecdsa_alt : f.pki.server_ecdsa;
    f.dir.Write("chain.pem", cred.chain_pem);
    f.dir.Write("key.pem", cred.key_pem);
    EXPECT_TRUE(context->Reload().ok());
    if (i % 4 == 0) context->RotateTicketKeys();
    (void)context->stats();
    (void)context->certificate_summary();
  }
  for (std::thread& t : threads) t.join();

  int total_resumed = 0;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(failures[t], 0) << "thread " << t;
    total_resumed += resumed[t];
  }
  EXPECT_GT(total_resumed, 0);  // "with resumption": some did resume
  const TlsStats stats = context->stats();
  EXPECT_EQ(stats.full_handshakes + stats.resumed_handshakes,
            static_cast<uint64_t>(kThreads * kHandshakesPerThread));
  EXPECT_EQ(stats.resumed_handshakes, static_cast<uint64_t>(total_resumed));
  EXPECT_EQ(stats.reloads, static_cast<uint64_t>(kReloads));
  EXPECT_EQ(stats.total_handshake_failures(), 0u);
  EXPECT_EQ(context->generation(), static_cast<uint64_t>(kReloads + 1));
}

// Right after each reload, several threads verify client certificates
// against the new context at once. OpenSSL fills in a certificate's decoded
// extensions the first time one is checked, racing when two threads do it
// at once on one certificate (the CA's, the chain's): the reactors of a
// server under mutual TLS did after reloads (outside review, TSan). The
// context fills them in as it loads. Meant for --config=tsan, which saw
// the race in this test before that (a race a run may miss, not a flake).
TEST(TlsContextConcurrencyTest, MutualTlsHandshakesRightAfterAReload) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 24;
  TlsFixture f;
  auto context = f.Context(f.Config(f.pki.server_ecdsa, ClientAuth::kRequire));
  std::barrier round_start(kThreads + 1);
  std::barrier round_end(kThreads + 1);
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        round_start.arrive_and_wait();
        auto server = TlsFixture::Session(*context);
        auto client = f.Client({.certificate = &f.pki.client});
        if (!Handshake(*client, *server).ok() || server->peer().subject.empty()) {
          ++failures[t];
        }
        round_end.arrive_and_wait();
      }
    });
  }
  for (int r = 0; r < kRounds; ++r) {
    EXPECT_TRUE(context->Reload().ok());  // fresh certificates, not yet checked
    round_start.arrive_and_wait();
    round_end.arrive_and_wait();
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

// Sessions keep working after their context is gone (they share its
// counters and ticket keys by reference).
TEST(TlsContextConcurrencyTest, SessionsOutliveTheirContext) {
  TlsFixture f;
  auto context = f.Context(f.Config());
  auto server = TlsFixture::Session(*context);
  context.reset();
  auto client = f.Client();
  ASSERT_TRUE(Handshake(*client, *server).ok());
  std::string wire;
  ASSERT_TRUE(server->Encrypt("still fine", &wire).ok());
  client->Feed(wire);
  EXPECT_EQ(client->Read(), "still fine");
}

}  // namespace
}  // namespace brisk::tls
