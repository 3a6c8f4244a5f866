#include "server/status_page.h"

#include "absl/strings/str_cat.h"

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
  std::string out = absl::StrCat("{\"time_ns\":", monotonic_now.count(),
                                 ",\"pid\":", pid, ",\"ready\":",
                                 ready ? "true" : "false", ",\"metrics\":");
  metrics.AppendJson(&out);
  out += "}";
  return out;
}

}  // namespace brisk::internal
