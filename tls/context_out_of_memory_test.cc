// TlsContext::NewSession when OpenSSL cannot allocate: the error comes back
// as a status (no crash, nothing leaked) and the failure is counted under
// kInternal, so the server's handshake figures still add up to the
// connections it accepted. OpenSSL's allocator is replaced in main(),
// before OpenSSL allocates anything, by one the test can make fail.
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "openssl/crypto.h"
#include "tls/context.h"
#include "tls/failure.h"
#include "tls/server_session.h"
#include "tls/testing/fixture.h"

namespace {

// Allocations OpenSSL may still make before they fail; negative: no limit.
std::atomic<long> g_allocations_left{-1};

bool Allow() {
  long left = g_allocations_left.load();
  while (left >= 0) {
    if (left == 0) return false;
    if (g_allocations_left.compare_exchange_weak(left, left - 1)) return true;
  }
  return true;
}
void* Malloc(size_t n, const char*, int) { return Allow() ? std::malloc(n) : nullptr; }
void* Realloc(void* p, size_t n, const char*, int) {
  return Allow() ? std::realloc(p, n) : nullptr;
}
void Free(void* p, const char*, int) { std::free(p); }

}  // namespace

namespace brisk::tls {
namespace {

size_t Failures(const TlsContext& context, TlsFailure reason) {
  return context.stats().handshake_failures[static_cast<size_t>(reason)];
}

// Every allocation NewSession makes fails in turn (the first, then the
// second with the first allowed, ...) until one call needs no more than it
// is given: each failure is an error, counted once, and freed (ASan).
TEST(TlsContextOutOfMemoryTest, EachAllocationASessionNeedsFailsIntoACountedError) {
  testing::TlsFixture f;
  std::unique_ptr<TlsContext> context = f.Context(f.Config());
  ASSERT_NE(context, nullptr);

  size_t failed = 0;
  for (long allowed = 0; allowed < 10000; ++allowed) {
    g_allocations_left = allowed;
    absl::StatusOr<std::unique_ptr<TlsServerSession>> session = context->NewSession();
    g_allocations_left = -1;
    if (session.ok()) break;
    ++failed;
    EXPECT_EQ(session.status().code(), absl::StatusCode::kResourceExhausted)
        << "with " << allowed << " allocations: " << session.status();
    EXPECT_EQ(Failures(*context, TlsFailure::kInternal), failed) << allowed;
  }
  EXPECT_GE(failed, 1u);  // SSL_new allocates
  EXPECT_EQ(context->stats().total_handshake_failures(), failed);

  // Memory back: sessions are made again, and nothing more is counted.
  absl::StatusOr<std::unique_ptr<TlsServerSession>> next = context->NewSession();
  ASSERT_TRUE(next.ok()) << next.status() << " after " << failed << " failures";
  EXPECT_EQ(context->stats().total_handshake_failures(), failed);
}

// The server's part of a handshake (the ClientHello to its first flight)
// with each of its allocations failing in turn: an error for that session,
// counted once, no crash or leak (ASan), and the next session completes
// its handshake.
TEST(TlsContextOutOfMemoryTest, EachAllocationAHandshakeNeedsFailsOnlyItsSession) {
  testing::TlsFixture f;
  std::unique_ptr<TlsContext> context = f.Context(f.Config());
  ASSERT_NE(context, nullptr);
  {
    // OpenSSL fetches (and keeps) the algorithms of the first handshake;
    // one that fails then for want of memory fails for good, in any
    // process. A server's first handshakes run at its start, with memory.
    std::unique_ptr<TlsServerSession> server = f.Session(*context);
    std::unique_ptr<testing::TestClient> client = f.Client({.alpn = {"http/1.1"}});
    ASSERT_TRUE(testing::Handshake(*client, *server).ok());
  }

  size_t failed = 0;
  size_t internal = 0;
  bool answered = false;
  for (long allowed = 0; allowed < 100000 && !answered; ++allowed) {
    std::unique_ptr<TlsServerSession> server = f.Session(*context);
    std::unique_ptr<testing::TestClient> client = f.Client({.alpn = {"http/1.1"}});
    client->Step();
    const std::string hello = client->TakeOutput();
    ASSERT_FALSE(hello.empty());
    std::string plaintext, to_peer;
    g_allocations_left = allowed;
    const absl::Status s = server->OnReceived(hello, &plaintext, &to_peer);
    g_allocations_left = -1;
    if (s.ok()) {
      answered = true;
      EXPECT_FALSE(to_peer.empty()) << "the server's first flight";
      break;
    }
    ++failed;
    // Counted once; its reason is what OpenSSL reported, which for want of
    // memory is kInternal when OpenSSL ends the handshake on it itself and
    // may be another (a protocol error) when a lower layer failed first.
    ASSERT_NE(server->failure(), TlsFailure::kNone) << allowed;
    if (server->failure() == TlsFailure::kInternal) ++internal;
    ASSERT_EQ(context->stats().total_handshake_failures(), failed) << allowed;
  }
  EXPECT_GT(internal, failed / 2) << "of " << failed;
  EXPECT_TRUE(answered);
  EXPECT_GE(failed, 1u);

  std::unique_ptr<TlsServerSession> server = f.Session(*context);
  std::unique_ptr<testing::TestClient> client = f.Client({.alpn = {"http/1.1"}});
  EXPECT_TRUE(testing::Handshake(*client, *server).ok());
  EXPECT_EQ(context->stats().full_handshakes, 2u);
  EXPECT_EQ(context->stats().total_handshake_failures(), failed);
}

}  // namespace
}  // namespace brisk::tls

int main(int argc, char** argv) {
  // Before OpenSSL allocates anything.
  if (CRYPTO_set_mem_functions(Malloc, Realloc, Free) != 1) return 1;
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
