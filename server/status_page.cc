#include "server/status_page.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace brisk::internal {
namespace {

// server/status_page.html as a raw string literal (see BUILD).
constexpr char kStatusPageHtml[] =
#include "server/status_page_html.inc"
    ;

}  // namespace

std::string_view StatusPageHtml() {
  return std::string_view(kStatusPageHtml, sizeof(kStatusPageHtml) - 1);
}

std::string StatusJson(const ServerMetrics& metrics, bool ready,
                       std::chrono::nanoseconds monotonic_now, int pid, std::string_view tls) {
  // Uptime on the server's own steady clock (the page's browser may be
  // elsewhere, its clock skewed; the wall clock may be stepped).
  const int64_t started = metrics.start_monotonic_ns.load(std::memory_order_relaxed);
  const double uptime = started > 0 && monotonic_now.count() > started
                            ? static_cast<double>(monotonic_now.count() - started) / 1e9
                            : 0;
  std::string out = absl::StrCat("{\"time_ns\":", monotonic_now.count(), ",\"pid\":", pid,
                                 ",\"uptime_seconds\":", absl::StrFormat("%.3f", uptime),
                                 ",\"ready\":", ready ? "true" : "false", ",\"metrics\":");
  metrics.AppendJson(&out);
  if (!tls.empty()) out.append(",\"tls\":").append(tls);
  out += "}";
  return out;
}

}  // namespace brisk::internal
