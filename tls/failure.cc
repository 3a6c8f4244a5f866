#include "tls/failure.h"

#include <string_view>

namespace brisk::tls {
namespace {

struct FailureText {
  std::string_view name;
  std::string_view description;
};

constexpr FailureText kTexts[kNumTlsFailures] = {
    {"none", "no failure"},
    {"plain_http", "plain HTTP to the TLS port"},
    {"not_tls", "not a TLS handshake"},
    {"no_client_hello", "closed before sending a ClientHello"},
    {"peer_closed_in_handshake", "client closed during the handshake"},
    {"handshake_timeout", "handshake timed out"},
    {"unsupported_version", "client offers no acceptable TLS version"},
    {"no_shared_cipher", "no shared cipher suite, group or signature algorithm"},
    {"no_application_protocol", "client ALPN does not include http/1.1"},
    {"protocol_error", "malformed or unexpected TLS data"},
    {"peer_alert", "client aborted the handshake with an alert"},
    {"cert_required", "client certificate required but not sent"},
    {"cert_untrusted", "client certificate not trusted"},
    {"cert_expired", "client certificate expired or not yet valid"},
    {"too_many_key_updates", "more KeyUpdate messages than the traffic justifies"},
    {"client_renegotiation", "client tried to renegotiate (TLS 1.2)"},
    {"server_closed", "closed by the server (shutting down) during the handshake"},
    {"internal", "internal TLS error"},
};

const FailureText& Text(TlsFailure failure) {
  const auto i = static_cast<size_t>(failure);
  return i < kNumTlsFailures ? kTexts[i] : kTexts[kNumTlsFailures - 1];
}

}  // namespace

std::string_view TlsFailureName(TlsFailure failure) {
  return Text(failure).name;
}

std::string_view TlsFailureDescription(TlsFailure failure) {
  return Text(failure).description;
}

}  // namespace brisk::tls
