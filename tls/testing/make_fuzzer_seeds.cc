// Writes seed inputs for //tls:server_session_fuzzer into a directory
// (argv[1]): ClientHellos of a real OpenSSL client in several shapes, and a
// few non-TLS openings. Each file is the fuzzer's control byte followed by
// the bytes a client sends first. The files hold no key material (a
// ClientHello carries only public key shares and random bytes).
//
//   bazel run //tls:make_fuzzer_seeds -- $PWD/tls/testdata/server_session_fuzzer_corpus
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "openssl/ssl.h"
#include "tls/testing/fixture.h"
#include "tls/testing/test_client.h"

namespace {

using brisk::tls::testing::ClientHello;
using brisk::tls::testing::ClientOptions;

struct Seed {
  const char* name;
  char control;
  ClientOptions client;
  std::string raw;  // used when not empty
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  // A ticket from a real handshake, so one ClientHello carries a PSK
  // extension (its key is unknown to the fuzzer's server: the "unknown
  // ticket" path).
  brisk::tls::testing::TlsFixture f;
  auto context = f.Context(f.Config());
  auto server = f.Session(*context);
  auto client = f.Client();
  if (!brisk::tls::testing::Handshake(*client, *server).ok()) return 1;
  SSL_SESSION* session = client->Get1Session();

  const std::vector<Seed> seeds = {
      {"tls13_alpn", 0, {.alpn = {"h2", "http/1.1"}}, ""},
      {"tls13_alpn_mtls", 1, {.alpn = {"http/1.1"}}, ""},
      {"tls13_one_byte_pieces", 2, {}, ""},
      {"tls13_psk_resumption", 0, {.resume = session}, ""},
      {"tls12_only", 4, {.max_version = TLS1_2_VERSION}, ""},
      {"tls12_only_eof", static_cast<char>(0x80), {.max_version = TLS1_2_VERSION}, ""},
      {"tls10_legacy", 0, {.max_version = TLS1_VERSION, .allow_legacy = true}, ""},
      {"h2_only_alpn", 0, {.alpn = {"h2"}}, ""},
      {"no_sni_p384", 0, {.groups = "P-384", .server_name = ""}, ""},
      {"plain_http", 0, {}, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"garbage_record", 0, {}, std::string("\x16\x03\x01\x00\x05hello", 10)},
  };
  int written = 0;
  for (const Seed& seed : seeds) {
    std::string bytes = seed.raw;
    if (bytes.empty()) {
      auto hello = ClientHello(seed.client);
      if (!hello.ok()) {
        std::fprintf(stderr, "%s: %s\n", seed.name, hello.status().ToString().c_str());
        return 1;
      }
      bytes = *hello;
    }
    const std::string path = std::string(argv[1]) + "/" + seed.name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.put(seed.control);
    out << bytes;
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return 1;
    }
    ++written;
  }
  SSL_SESSION_free(session);
  std::printf("wrote %d seeds to %s\n", written, argv[1]);
  return 0;
}
