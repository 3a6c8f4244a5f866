// Server-side cost of TLS in brisk: full handshakes with ECDSA P-256 and
// RSA-2048 certificates (TLS 1.3 and 1.2), resumed handshakes, bulk
// encryption and decryption, and the memory an idle session holds.
//
// Only the server's work is timed: the thread CPU time inside
// TlsContext::NewSession and TlsServerSession::OnReceived/Encrypt (manual
// time); the OpenSSL client that drives it runs untimed on the same thread.
//
//   tools/bazel run -c opt //tls:handshake_benchmark
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "openssl/crypto.h"
#include "openssl/ssl.h"
#include "tls/context.h"
#include "tls/server_session.h"
#include "tls/testing/fixture.h"
#include "tls/testing/test_client.h"

namespace {

using brisk::tls::TlsContext;
using brisk::tls::TlsServerConfig;
using brisk::tls::TlsServerSession;
using brisk::tls::testing::ClientOptions;
using brisk::tls::testing::Handshake;
using brisk::tls::testing::Pump;
using brisk::tls::testing::TestClient;
using brisk::tls::testing::ThreadCpuSeconds;
using brisk::tls::testing::TlsFixture;

// --- OpenSSL's heap, counted (installed first thing in main) -------------

std::atomic<int64_t> g_openssl_live_bytes{0};
constexpr size_t kHeader = 16;  // keeps malloc's alignment

void* CountingMalloc(size_t n, const char*, int) {
  auto* p = static_cast<char*>(std::malloc(n + kHeader));
  if (p == nullptr) return nullptr;
  std::memcpy(p, &n, sizeof(n));
  g_openssl_live_bytes += static_cast<int64_t>(n);
  return p + kHeader;
}

void CountingFree(void* ptr, const char*, int) {
  if (ptr == nullptr) return;
  char* p = static_cast<char*>(ptr) - kHeader;
  size_t n = 0;
  std::memcpy(&n, p, sizeof(n));
  g_openssl_live_bytes -= static_cast<int64_t>(n);
  std::free(p);
}

void* CountingRealloc(void* ptr, size_t n, const char* file, int line) {
  if (ptr == nullptr) return CountingMalloc(n, file, line);
  if (n == 0) {
    CountingFree(ptr, file, line);
    return nullptr;
  }
  void* fresh = CountingMalloc(n, file, line);
  if (fresh == nullptr) return nullptr;
  size_t old = 0;
  std::memcpy(&old, static_cast<char*>(ptr) - kHeader, sizeof(old));
  std::memcpy(fresh, ptr, old < n ? old : n);
  CountingFree(ptr, file, line);
  return fresh;
}

// --- Shared setup ----------------------------------------------------------

struct Setup {
  TlsFixture fixture;
  std::unique_ptr<TlsContext> ecdsa;
  std::unique_ptr<TlsContext> rsa;
  Setup() {
    // Each context has loaded its files before the next Config() rewrites them.
    ecdsa = fixture.Context(fixture.Config(fixture.pki.server_ecdsa));
    rsa = fixture.Context(fixture.Config(fixture.pki.server_rsa));
    fixture.dir.Remove();  // never destroyed (a leaked static): no keys left in /tmp
  }
};

Setup& GetSetup() {
  static Setup* setup = new Setup;
  return *setup;
}

TlsContext& ContextFor(int64_t rsa) {
  return rsa ? *GetSetup().rsa : *GetSetup().ecdsa;
}

int VersionOf(int64_t arg) { return arg == 13 ? TLS1_3_VERSION : TLS1_2_VERSION; }

// One handshake; returns the server's CPU seconds, or a negative on failure.
double TimedHandshake(TlsContext& context, const ClientOptions& options,
                      std::unique_ptr<TlsServerSession>* server_out = nullptr,
                      std::unique_ptr<TestClient>* client_out = nullptr) {
  auto client = GetSetup().fixture.Client(options);
  double server_seconds = 0;
  const double start = ThreadCpuSeconds();
  auto server = *context.NewSession();
  server_seconds += ThreadCpuSeconds() - start;
  if (!Handshake(*client, *server, Pump{.server_cpu_seconds = &server_seconds}).ok()) {
    return -1;
  }
  if (server_out != nullptr) *server_out = std::move(server);
  if (client_out != nullptr) *client_out = std::move(client);
  return server_seconds;
}

// Args: {rsa (0/1), version (12/13)}.
void BM_FullHandshake(benchmark::State& state) {
  TlsContext& context = ContextFor(state.range(0));
  const int version = VersionOf(state.range(1));
  const ClientOptions options{.min_version = version, .max_version = version};
  for (auto _ : state) {
    const double seconds = TimedHandshake(context, options);
    if (seconds < 0) {
      state.SkipWithError("handshake failed");
      return;
    }
    state.SetIterationTime(seconds);
  }
  state.SetLabel(std::string(state.range(0) ? "RSA-2048" : "ECDSA-P256") +
                 (version == TLS1_3_VERSION ? " TLSv1.3" : " TLSv1.2"));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FullHandshake)
    ->ArgNames({"rsa", "tls"})
    ->Args({0, 13})
    ->Args({1, 13})
    ->Args({0, 12})
    ->Args({1, 12})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// Args: {rsa, version}. Each connection resumes the session of the one
// before it (OpenSSL clients use a TLS 1.3 ticket once, as RFC 8446 advises).
void BM_ResumedHandshake(benchmark::State& state) {
  TlsContext& context = ContextFor(state.range(0));
  const int version = VersionOf(state.range(1));
  std::unique_ptr<TestClient> client;
  if (TimedHandshake(context, {.max_version = version}, nullptr, &client) < 0) {
    state.SkipWithError("first handshake failed");
    return;
  }
  SSL_SESSION* ticket = client->Get1Session();
  std::unique_ptr<TlsServerSession> server;
  for (auto _ : state) {
    const double seconds =
        TimedHandshake(context, {.max_version = version, .resume = ticket}, &server, &client);
    SSL_SESSION_free(ticket);
    ticket = client->Get1Session();
    if (seconds < 0 || !server->resumed()) {
      state.SkipWithError("not resumed");
      break;
    }
    state.SetIterationTime(seconds);
  }
  SSL_SESSION_free(ticket);
  state.SetLabel(version == TLS1_3_VERSION ? "TLSv1.3 PSK+ECDHE" : "TLSv1.2 ticket");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ResumedHandshake)
    ->ArgNames({"rsa", "tls"})
    ->Args({0, 13})
    ->Args({0, 12})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

struct Connection {
  std::unique_ptr<TlsServerSession> server;
  std::unique_ptr<TestClient> client;
};

Connection Connect() {
  Connection c;
  TimedHandshake(*GetSetup().ecdsa, {.max_version = TLS1_3_VERSION}, &c.server, &c.client);
  return c;
}

// Arg: plaintext bytes per Encrypt call (one response).
void BM_Encrypt(benchmark::State& state) {
  Connection c = Connect();
  const std::string payload(static_cast<size_t>(state.range(0)), 'x');
  std::string wire;
  wire.reserve(payload.size() + 1024);
  for (auto _ : state) {
    wire.clear();
    if (!c.server->Encrypt(payload, &wire).ok()) {
      state.SkipWithError("encrypt failed");
      break;
    }
    benchmark::DoNotOptimize(wire.data());
  }
  state.SetLabel(std::string(c.server->cipher()));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Encrypt)->Arg(100)->Arg(16384);

// Arg: plaintext bytes per client record. Each iteration decrypts a batch
// of kBatch records the client wrote beforehand (untimed).
void BM_Decrypt(benchmark::State& state) {
  constexpr int kBatch = 64;
  Connection c = Connect();
  const std::string payload(static_cast<size_t>(state.range(0)), 'y');
  std::vector<std::string> records(kBatch);
  std::string plaintext;
  for (auto _ : state) {
    for (std::string& r : records) {
      c.client->Write(payload).IgnoreError();
      r = c.client->TakeOutput();
    }
    std::string to_client;
    const double start = ThreadCpuSeconds();
    for (const std::string& r : records) {
      plaintext.clear();
      if (!c.server->OnReceived(r, &plaintext, &to_client).ok()) {
        state.SkipWithError("decrypt failed");
        return;
      }
    }
    state.SetIterationTime(ThreadCpuSeconds() - start);
    if (plaintext != payload) {
      state.SkipWithError("wrong plaintext");
      return;
    }
  }
  state.SetLabel(std::string(c.server->cipher()));
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetBytesProcessed(state.iterations() * kBatch * state.range(0));
}
BENCHMARK(BM_Decrypt)->Arg(100)->Arg(16384)->UseManualTime();

// OpenSSL heap held per idle server session after a handshake and one
// request/response (clients destroyed before measuring). Arg: 1 = release
// idle buffers (SSL_MODE_RELEASE_BUFFERS), 0 = keep them.
void BM_IdleSessionMemory(benchmark::State& state) {
  constexpr int kSessions = 64;
  TlsFixture f;  // files of its own, removed when it ends
  TlsServerConfig config = f.Config();
  config.release_idle_buffers = state.range(0) == 1;
  auto context = f.Context(config);
  {
    TimedHandshake(*context, {});  // warm OpenSSL's lazy caches
  }
  double bytes_per_session = 0;
  for (auto _ : state) {
    std::vector<std::unique_ptr<TlsServerSession>> servers(kSessions);
    const int64_t before = g_openssl_live_bytes.load();
    for (auto& server : servers) {
      std::unique_ptr<TestClient> client;
      TimedHandshake(*context, {}, &server, &client);
      client->Write("GET / HTTP/1.1\r\nHost: x\r\n\r\n").IgnoreError();
      std::string plain, to_client;
      server->OnReceived(client->TakeOutput(), &plain, &to_client).IgnoreError();
      server->Encrypt(std::string(200, 'r'), &to_client).IgnoreError();
      client.reset();  // its memory is not the server's
    }
    bytes_per_session =
        static_cast<double>(g_openssl_live_bytes.load() - before) / kSessions;
  }
  state.counters["openssl_bytes_per_idle_session"] = bytes_per_session;
  state.counters["session_object_bytes"] = sizeof(TlsServerSession);
}
BENCHMARK(BM_IdleSessionMemory)->ArgName("release_buffers")->Arg(0)->Arg(1)->Iterations(1);

}  // namespace

int main(int argc, char** argv) {
  // Before OpenSSL allocates anything.
  if (CRYPTO_set_mem_functions(CountingMalloc, CountingRealloc, CountingFree) != 1) {
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
