// TlsOptions: HTTPS and mutual TLS for HttpServer (ServerOptions::tls).
//
//   brisk::ServerOptions options;
//   options.tls.cert_chain_file = "/etc/brisk/server.pem";  // leaf, then intermediates
//   options.tls.key_file = "/etc/brisk/server.key";
//   // Mutual TLS: clients must present a certificate issued by these CAs.
//   options.tls.client_ca_file = "/etc/brisk/clients-ca.pem";
//   options.tls.client_auth = brisk::tls::ClientAuth::kRequire;
//
// TLS is off while cert_chain_file is empty; then the server creates no TLS
// object at all. The fields are those of tls::TlsServerConfig
// (tls/server_config.h: files, client authentication, minimum version,
// ciphers, groups, ALPN, session tickets and their key rotation, with
// modern defaults) plus what the server adds: the handshake timeout and the
// answer to plain HTTP on the TLS port. HttpServer::Start() fails with a
// message naming the file and the cause if the files are unusable;
// HttpServer::ReloadTls() (and SIGHUP) re-reads them without a restart.
// A plain value.
#ifndef BRISK_SERVER_TLS_OPTIONS_H_
#define BRISK_SERVER_TLS_OPTIONS_H_

#include <chrono>

#include "tls/server_config.h"

namespace brisk {

struct TlsOptions : tls::TlsServerConfig {
  // A client that has not completed its handshake this long after
  // connecting is cut off (the header timeout's job, for TLS).
  std::chrono::nanoseconds handshake_timeout = std::chrono::seconds(10);
  // Answer a plain-HTTP request on the TLS port with a 400 that says so
  // (as nginx does), instead of closing without a word.
  bool answer_plain_http = true;

  bool enabled() const { return !cert_chain_file.empty(); }
};

}  // namespace brisk

#endif  // BRISK_SERVER_TLS_OPTIONS_H_
