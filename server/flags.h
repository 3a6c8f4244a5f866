// The server's command-line flags (abseil flags), shared by every binary
// built on brisk that takes them: the demo server (//server:server) and
// examples such as examples/fraud_scoring.
//
//   int main(int argc, char** argv) {
//     brisk::PrepareServerProcess();  // http_server.h: SIGHUP, SIGPIPE, files
//     brisk::SetFlagsUsage("my_service: what it serves.");
//     absl::StatusOr<brisk::ServerOptions> options =
//         brisk::ServerOptionsFromCommandLine(argc, argv);  // its own flags too
//     if (!options.ok()) { fprintf(stderr, ...); return 2; }
//     brisk::HttpServer server(*options);
//     absl::Status s = ... routes ...;
//     if (s.ok()) s = server.Start();
//     if (!s.ok()) { fprintf(stderr, ...); return 1; }
//     puts(brisk::ListeningLine(*options, server.port()).c_str());
//     return server.Run().ok() ? 0 : 1;
//   }
//
// The flags are documented in the root README (and by --help, once
// SetFlagsUsage ran). Durations
// take abseil syntax: 150ms, 10s, 1m.
#ifndef BRISK_SERVER_FLAGS_H_
#define BRISK_SERVER_FLAGS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/http_server.h"

namespace brisk {

// Sets the program's usage message and makes --help (and --helpshort) list
// every flag of the program and of brisk, with its default and meaning.
// Abseil's own default lists only flags defined in a file named like the
// program (server.cc for `server`), which left --help saying "No flags
// matched"; abseil's own flags (--flagfile, ...) stay under --helpfull.
// --version says whether brisk was built optimized (abseil's own answer
// described how the system's abseil was built). Call before
// absl::ParseCommandLine.
void SetFlagsUsage(absl::string_view usage);

// ServerOptions from the parsed flags; InvalidArgument for a value out of
// range (the message names the flag).
absl::StatusOr<ServerOptions> ServerOptionsFromFlags();

// absl::ParseCommandLine (every flag: brisk's and the program's own), then
// ServerOptionsFromFlags(). The binaries take flags only: an argument that
// is not one (a typo such as `--port 8080 80`, a value after a boolean
// flag) is InvalidArgument naming it, rather than silently ignored (a
// program that takes positional arguments parses with
// absl::ParseCommandLine itself and calls ServerOptionsFromFlags()). As
// absl::ParseCommandLine does, it ends the process for --help, --version,
// an unknown flag or a value that does not parse (exit 1, abseil's message
// on stderr): those never come back as a Status. The flags are global
// (--port, --workers, ...): a program that defines one of the same name
// fails at start, so link //server:flags only into a program that lets
// brisk own those names.
absl::StatusOr<ServerOptions> ServerOptionsFromCommandLine(int argc, char** argv);

// "listening on http://HOST:PORT" (https:// with TLS): the line the
// binaries print once ready (IPv6 hosts in brackets; the real port when
// --port=0).
std::string ListeningLine(const ServerOptions& options, uint16_t port);

}  // namespace brisk

#endif  // BRISK_SERVER_FLAGS_H_
