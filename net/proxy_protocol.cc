#include "net/proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <utility>

namespace brisk::net {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::string_view kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);
constexpr size_t kV1MaxLine = 107;  // CRLF included
constexpr size_t kV2HeadBytes = 16;

ProxyHeaderParse Invalid(std::string_view error) {
  ProxyHeaderParse p;
  p.outcome = ProxyHeaderParse::kInvalid;
  p.error = error;
  return p;
}

// The address of `family` (AF_INET or AF_INET6) whose bytes, in network
// order, start at `bytes` (4 or 16 of them), with `port`. An IPv4-mapped
// IPv6 address (::ffff:1.2.3.4, what a dual-stack balancer sees of an IPv4
// client) comes back as the IPv4 address it is: one client, one form.
SocketAddress InetAddress(int family, const void* bytes, uint16_t port) {
  const auto* b = static_cast<const uint8_t*>(bytes);
  if (family == AF_INET6) {
    sockaddr_in6 a{};
    std::memcpy(&a.sin6_addr, b, 16);
    if (!IN6_IS_ADDR_V4MAPPED(&a.sin6_addr)) {
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(port);
      return SocketAddress(reinterpret_cast<const sockaddr*>(&a), sizeof(a));
    }
    b += 12;  // the IPv4 address inside
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  std::memcpy(&a.sin_addr, b, 4);
  return SocketAddress(reinterpret_cast<const sockaddr*>(&a), sizeof(a));
}

ProxyHeaderParse Complete(size_t length, ProxyHeader header) {
  ProxyHeaderParse p;
  p.outcome = ProxyHeaderParse::kComplete;
  p.length = length;
  p.header = std::move(header);
  return p;
}

// Whether `data` is a (possibly partial) start of `prefix`.
bool StartsLike(std::string_view data, std::string_view prefix) {
  const size_t n = std::min(data.size(), prefix.size());
  return data.substr(0, n) == prefix.substr(0, n);
}

// Splits off the text before the next single space of `*rest`.
std::string_view NextField(std::string_view* rest) {
  const size_t space = rest->find(' ');
  std::string_view field = rest->substr(0, space);
  rest->remove_prefix(space == std::string_view::npos ? rest->size() : space + 1);
  return field;
}

// A decimal port without leading zeros, 0..65535.
std::optional<uint16_t> ParsePort(std::string_view text) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) {
    return std::nullopt;
  }
  uint32_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

// An address of `family` as v1 writes it (glibc's inet_pton takes exactly
// four dotted decimals without leading zeros for AF_INET, as the
// specification asks) and a port.
std::optional<SocketAddress> V1Address(int family, std::string_view host,
                                       std::string_view port_text) {
  const std::optional<uint16_t> port = ParsePort(port_text);
  if (!port.has_value() || host.empty() || host.size() >= INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  // inet_pton reads a C string: a NUL (or anything after one) must not
  // slip through behind a valid address.
  const std::string_view allowed =
      family == AF_INET ? "0123456789." : "0123456789abcdefABCDEF:.";
  if (host.find_first_not_of(allowed) != std::string_view::npos) return std::nullopt;
  char text[INET6_ADDRSTRLEN];
  std::memcpy(text, host.data(), host.size());
  text[host.size()] = '\0';
  uint8_t bytes[16];
  if (inet_pton(family, text, bytes) != 1) return std::nullopt;
  return InetAddress(family, bytes, *port);
}

ProxyHeaderParse ParseV1(std::string_view data) {
  const std::string_view window = data.substr(0, kV1MaxLine);
  const size_t crlf = window.find("\r\n");
  if (crlf == std::string_view::npos) {
    // A CR or LF that is not the first half of the closing CRLF (a CR as
    // the last byte so far may still be) can never become valid.
    const size_t stray = window.find_first_of("\r\n");
    if (stray != std::string_view::npos &&
        !(stray + 1 == window.size() && window[stray] == '\r')) {
      return Invalid("v1 line with a stray CR or LF");
    }
    if (window.size() >= kV1MaxLine) return Invalid("v1 line without CRLF in 107 bytes");
    return ProxyHeaderParse{};  // kIncomplete
  }
  const size_t length = crlf + 2;
  std::string_view line = data.substr(kV1Prefix.size(), crlf - kV1Prefix.size());
  if (line.find_first_of("\r\n") != std::string_view::npos) {
    return Invalid("v1 line with a stray CR or LF");
  }
  ProxyHeader header;
  header.version = 1;
  const std::string_view protocol = NextField(&line);
  if (protocol == "UNKNOWN") {
    // "The receiver must ignore anything presented before the CRLF."
    return Complete(length, std::move(header));
  }
  int family;
  if (protocol == "TCP4") {
    family = AF_INET;
  } else if (protocol == "TCP6") {
    family = AF_INET6;
  } else {
    return Invalid("v1 protocol is not TCP4, TCP6 or UNKNOWN");
  }
  const std::string_view src = NextField(&line);
  const std::string_view dst = NextField(&line);
  const std::string_view src_port = NextField(&line);
  const std::string_view dst_port = line;  // the rest: no space may be left
  header.source = V1Address(family, src, src_port);
  header.destination = V1Address(family, dst, dst_port);
  if (!header.source.has_value() || !header.destination.has_value() ||
      dst_port.find(' ') != std::string_view::npos) {
    return Invalid("v1 addresses or ports malformed");
  }
  return Complete(length, std::move(header));
}

uint16_t Be16(const char* p) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) |
                               static_cast<uint8_t>(p[1]));
}

ProxyHeaderParse ParseV2(std::string_view data) {
  if (data.size() < kV2HeadBytes) return ProxyHeaderParse{};  // kIncomplete
  const auto version_command = static_cast<uint8_t>(data[12]);
  const auto family_protocol = static_cast<uint8_t>(data[13]);
  if ((version_command >> 4) != 2) return Invalid("v2 version is not 2");
  const int command = version_command & 0x0F;
  if (command > 1) return Invalid("v2 command is not LOCAL or PROXY");
  const int family = family_protocol >> 4;
  const int protocol = family_protocol & 0x0F;
  // LOCAL: "discard the protocol block including the family which is
  // ignored"; for PROXY an unassigned family or protocol is invalid.
  if (command == 1 && (family > 3 || protocol > 2)) {
    return Invalid("v2 family or protocol unknown");
  }
  const size_t length = kV2HeadBytes + Be16(data.data() + 14);
  if (length > kMaxProxyHeaderBytes) return Invalid("v2 header too long");
  if (data.size() < length) return ProxyHeaderParse{};  // kIncomplete
  const std::string_view block = data.substr(kV2HeadBytes, length - kV2HeadBytes);
  ProxyHeader header;
  header.version = 2;
  // Address block sizes of the families (UNIX: two 108-byte paths).
  constexpr size_t kInet = 12, kInet6 = 36, kUnix = 216;
  const size_t needed = family == 1 ? kInet : family == 2 ? kInet6 : family == 3 ? kUnix : 0;
  if (command == 1 && block.size() < needed) {
    return Invalid("v2 address block shorter than its family's");
  }
  // LOCAL: the connection's own addresses, whatever the block says. Only
  // TCP (STREAM) over IPv4/IPv6 names the relayed connection; UNSPEC,
  // datagram and UNIX fall back to the connection's addresses.
  if (command == 0 || protocol != 1 || (family != 1 && family != 2)) {
    return Complete(length, std::move(header));
  }
  // Source address, destination address, source port, destination port.
  const char* p = block.data();
  const int af = family == 1 ? AF_INET : AF_INET6;
  const size_t n = family == 1 ? 4 : 16;
  header.source = InetAddress(af, p, Be16(p + 2 * n));
  header.destination = InetAddress(af, p + n, Be16(p + 2 * n + 2));
  return Complete(length, std::move(header));
}

}  // namespace

ProxyHeaderParse ParseProxyHeader(std::string_view data) {
  if (data.empty()) return ProxyHeaderParse{};
  if (StartsLike(data, kV2Signature)) {
    return data.size() < kV2Signature.size() ? ProxyHeaderParse{} : ParseV2(data);
  }
  if (StartsLike(data, kV1Prefix)) {
    return data.size() < kV1Prefix.size() ? ProxyHeaderParse{} : ParseV1(data);
  }
  return Invalid("no PROXY protocol header");
}

std::unique_ptr<ProxyProtocolStream> ProxyProtocolStream::Create(
    StreamCallbacks* callbacks, Hooks hooks,
    absl::FunctionRef<std::unique_ptr<Stream>(StreamCallbacks*)> make_transport) {
  std::unique_ptr<ProxyProtocolStream> s(
      new ProxyProtocolStream(callbacks, std::move(hooks)));
  s->transport_ = make_transport(s.get());
  if (s->transport_ == nullptr) return nullptr;
  return s;
}

void ProxyProtocolStream::OnStreamData(std::string_view data) {
  if (done_) {
    owner_->OnStreamData(data);
    return;
  }
  if (refused_) return;
  std::string_view input = data;
  if (!pending_.empty()) {
    pending_.append(data);
    input = pending_;
  }
  const ProxyHeaderParse p = ParseProxyHeader(input);
  switch (p.outcome) {
    case ProxyHeaderParse::kIncomplete:
      if (pending_.empty()) pending_.assign(data);
      return;
    case ProxyHeaderParse::kInvalid:
      Refuse(p.error);
      return;
    case ProxyHeaderParse::kComplete:
      break;
  }
  done_ = true;
  if (hooks_.on_header) hooks_.on_header(p.header);
  // What followed the header (in `data`, or in the pieces held here): the
  // owner's first bytes. None: the owner is told its input was taken (a
  // drain waiting for the header closes now).
  const std::string held = std::move(pending_);
  std::string().swap(pending_);
  const std::string_view whole = held.empty() ? data : std::string_view(held);
  if (p.length < whole.size()) {
    owner_->OnStreamData(whole.substr(p.length));
  } else {
    owner_->OnStreamInputTaken();
  }
}

void ProxyProtocolStream::OnStreamEof() {
  if (!pending_.empty()) {
    Refuse("the connection ended inside the header");
    return;
  }
  if (!refused_) owner_->OnStreamEof();
}

void ProxyProtocolStream::OnStreamError(int error) {
  if (!pending_.empty()) {
    Refuse("the connection broke inside the header");
    return;
  }
  if (!refused_) owner_->OnStreamError(error);
}

void ProxyProtocolStream::Close() {
  if (!pending_.empty()) {
    refused_ = true;
    std::string().swap(pending_);
    if (hooks_.on_invalid) hooks_.on_invalid("closed with the header unfinished");
  }
  transport_->Close();
}

void ProxyProtocolStream::Refuse(std::string_view error) {
  refused_ = true;
  std::string().swap(pending_);
  if (hooks_.on_invalid) hooks_.on_invalid(error);
  transport_->Close();
  owner_->OnStreamError(kTransportRefused);
}

}  // namespace brisk::net
