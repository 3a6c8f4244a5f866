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
                       std::chrono::nanoseconds monotonic_now, int pid) {
  // Uptime on the server's own clock (the page's browser may be elsewhere,
  // its clock skewed).
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double started = metrics.start_time_seconds.load(std::memory_order_relaxed);
  const double uptime = started > 0 && now > started ? now - started : 0;
  std::string out = absl::StrCat("{\"time_ns\":", monotonic_now.count(), ",\"pid\":", pid,
                                 ",\"uptime_seconds\":", absl::StrFormat("%.3f", uptime),
                                 ",\"ready\":", ready ? "true" : "false", ",\"metrics\":");
  metrics.AppendJson(&out);
  out += "}";
  return out;
}

}  // namespace brisk::internal
