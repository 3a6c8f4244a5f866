// The server's command-line flags (abseil flags), shared by every binary
// built on brisk that takes them: the demo server (//server:server) and
// examples such as examples/fraud_scoring.
//
//   int main(int argc, char** argv) {
//     absl::ParseCommandLine(argc, argv);
//     absl::StatusOr<brisk::ServerOptions> options = brisk::ServerOptionsFromFlags();
//     if (!options.ok()) { fprintf(stderr, ...); return 2; }
//     brisk::HttpServer server(*options);
//     absl::Status s = ... routes ...;
//     if (s.ok()) s = server.Start();
//     if (!s.ok()) { fprintf(stderr, ...); return 1; }
//     puts(brisk::ListeningLine(*options, server.port()).c_str());
//     return server.Run().ok() ? 0 : 1;
//   }
//
// The flags are documented in the root README (and by --help). Durations
// take abseil syntax: 150ms, 10s, 1m.
#ifndef BRISK_SERVER_FLAGS_H_
#define BRISK_SERVER_FLAGS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "server/http_server.h"

namespace brisk {

// ServerOptions from the parsed flags; InvalidArgument for a value out of
// range (the message names the flag).
absl::StatusOr<ServerOptions> ServerOptionsFromFlags();

// "listening on http://HOST:PORT" (https:// with TLS): the line the
// binaries print once ready (IPv6 hosts in brackets; the real port when
// --port=0).
std::string ListeningLine(const ServerOptions& options, uint16_t port);

}  // namespace brisk

#endif  // BRISK_SERVER_FLAGS_H_
