// Internal: the live status page (ServerOptions::status_path).
//
//   GET /status       StatusPageHtml(): one self-contained HTML document
//                     (HTML, CSS and JS; no external resource of any kind)
//   GET /status.json  StatusJson(): what the page polls every second
//
//   std::string body = StatusJson(metrics, /*ready=*/true, now, getpid());
//
// The JSON is {"time_ns":T,"pid":P,"ready":B,"metrics":M}: T a monotonic
// clock reading (the page divides counter differences by time differences
// and never uses its own clock), P the process id (a different one behind
// a load balancer or after a binary upgrade restarts the page's interval),
// B the readiness, M ServerMetrics::AppendJson's object.
//
// The page is server/status_page.html, compiled in as a string by a genrule.
// Thread-safety: stateless functions; any thread.
#ifndef BRISK_SERVER_STATUS_PAGE_H_
#define BRISK_SERVER_STATUS_PAGE_H_

#include <chrono>
#include <string>
#include <string_view>

#include "server/metrics.h"

namespace brisk::internal {

std::string_view StatusPageHtml();

// The Content-Security-Policy sent with the page: inline script and style,
// fetches to its own origin only; anything external is refused.
inline constexpr char kStatusPagePolicy[] =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

// `tls`: the TLS counters' JSON object (TlsEndpoint::AppendJson), or
// empty when the server has no TLS; given, the snapshot carries it as
// "tls" and the page shows handshakes, failures and the certificate.
std::string StatusJson(const ServerMetrics& metrics, bool ready,
                       std::chrono::nanoseconds monotonic_now, int pid, std::string_view tls = {});

}  // namespace brisk::internal

#endif  // BRISK_SERVER_STATUS_PAGE_H_
