#include "server/access_log.h"

#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace brisk {

absl::StatusOr<std::unique_ptr<AccessLog>> AccessLog::Open(
    const std::string& path) {
  if (path == "-") {
    return std::unique_ptr<AccessLog>(new AccessLog(stdout, false, path));
  }
  FILE* f = std::fopen(path.c_str(), "ae");
  if (f == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot open access log ", path, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<AccessLog>(new AccessLog(f, true, path));
}

AccessLog::~AccessLog() {
  std::lock_guard<std::mutex> lock(mu_);
  WriteBufferLocked();
  if (owned_) std::fclose(file_);
}

void AccessLog::WriteBufferLocked() {
  if (buffer_.empty()) return;
  std::fwrite(buffer_.data(), 1, buffer_.size(), file_);
  std::fflush(file_);
  buffer_.clear();
}

absl::Status AccessLog::Reopen() {
  if (!owned_) return absl::OkStatus();
  std::lock_guard<std::mutex> lock(mu_);
  WriteBufferLocked();
  FILE* f = std::fopen(path_.c_str(), "ae");
  if (f == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot reopen access log ", path_, ": ", std::strerror(errno)));
  }
  std::fclose(file_);
  file_ = f;
  return absl::OkStatus();
}

void AccessLog::Log(std::string_view peer_host, std::string_view user,
                    std::string_view method,
                    std::string_view target, int version_minor, int status,
                    size_t body_bytes, std::chrono::nanoseconds duration,
                    std::string_view traceparent) {
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  std::lock_guard<std::mutex> lock(mu_);
  if (now != cached_second_) {
    cached_second_ = now;
    std::tm tm;
    const time_t t = static_cast<time_t>(now);
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof(buf), "%d/%b/%Y:%H:%M:%S +0000", &tm);
    cached_time_ = buf;
  }
  // The target is printed as received; control bytes cannot occur in it
  // (the parser rejects them), but a quote could, so escape it.
  std::string safe_target;
  for (char c : target) {
    if (c == '"' || c == '\\') safe_target.push_back('\\');
    safe_target.push_back(c);
  }
  const std::string_view trace_id =
      traceparent.size() >= 35 ? traceparent.substr(3, 32) : std::string_view("-");
  absl::StrAppendFormat(&buffer_, "%s - %s [%s] \"%s %s HTTP/1.%d\" %d %d %d %s\n",
                        peer_host, user, cached_time_, method, safe_target,
                        version_minor, status, body_bytes,
                        duration.count() / 1000, std::string(trace_id));
  if (buffer_.size() > (64 << 10)) WriteBufferLocked();
}

void AccessLog::Flush() {
  std::lock_guard<std::mutex> lock(mu_);
  WriteBufferLocked();
}

}  // namespace brisk
