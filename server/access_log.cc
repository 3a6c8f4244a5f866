#include "server/access_log.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace brisk {

namespace {

// O_APPEND: every write lands at the end of the file as it is then, in one
// piece, whatever other processes append.
int OpenForAppend(const std::string& path) {
  return open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
}

bool IsRegularFile(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

// Writes all of [data, data + size) unless an error stops it; returns the
// bytes written (and the error in *error when fewer than `size`).
size_t WriteAll(int fd, const char* data, size_t size, int* error) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = n < 0 ? errno : EIO;
      return done;
    }
    done += static_cast<size_t>(n);
  }
  return done;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AccessLog>> AccessLog::Open(
    const std::string& path, AccessLogHooks hooks) {
  if (path == "-") {
    return std::unique_ptr<AccessLog>(
        new AccessLog(STDOUT_FILENO, false, path, std::move(hooks)));
  }
  const int fd = OpenForAppend(path);
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot open access log ", path, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<AccessLog>(new AccessLog(fd, true, path, std::move(hooks)));
}

AccessLog::AccessLog(int fd, bool owned, std::string path, AccessLogHooks hooks)
    : owned_(owned),
      path_(std::move(path)),
      hooks_(std::move(hooks)),
      fd_(fd),
      regular_file_(IsRegularFile(fd)) {}

AccessLog::~AccessLog() {
  std::lock_guard<std::mutex> lock(mu_);
  WriteBufferLocked();
  if (lost_unreported_ > 0) {
    ReportLocked(absl::StrCat(lost_unreported_,
                              " more lines were lost since the last report"));
  }
  if (owned_) close(fd_);
}

void AccessLog::ReportLocked(const std::string& what) {
  const std::string message =
      absl::StrCat("access log ", path_ == "-" ? "(stdout)" : path_, ": ", what,
                   " (brisk_access_log_lost_lines_total counts them all)");
  lost_unreported_ = 0;
  last_report_ = static_cast<int64_t>(std::time(nullptr));
  if (hooks_.on_error) {
    hooks_.on_error(message);
  } else {
    std::fprintf(stderr, "%s\n", message.c_str());
  }
}

void AccessLog::WriteBufferLocked() {
  if (buffer_.empty()) return;
  // The last write ended inside a line (a full disk cut it): end that line
  // first, so that the first of these is not glued to it.
  const bool led_by_newline = torn_;
  if (led_by_newline) buffer_.insert(buffer_.begin(), '\n');
  int error = 0;
  torn_ = false;  // unless a write fails (LostLocked)
  if (regular_file_) {
    const size_t written = WriteAll(fd_, buffer_.data(), buffer_.size(), &error);
    if (written < buffer_.size()) LostLocked(written, led_by_newline, error);
  } else {
    // A pipe keeps a write of up to PIPE_BUF bytes together: pieces of
    // whole lines within that (a longer line goes whole, as it must).
    std::string_view rest(buffer_);
    while (!rest.empty()) {
      size_t cut = rest.size();
      if (cut > PIPE_BUF) {
        const size_t nl = rest.rfind('\n', PIPE_BUF - 1);
        cut = nl != std::string_view::npos ? nl + 1 : rest.find('\n') + 1;
        if (cut == 0) cut = rest.size();  // no newline at all (never: lines end in one)
      }
      const size_t written = WriteAll(fd_, rest.data(), cut, &error);
      if (written < cut) {
        LostLocked(static_cast<size_t>(rest.data() - buffer_.data()) + written,
                   led_by_newline, error);
        break;
      }
      rest.remove_prefix(cut);
    }
  }
  buffer_.clear();
  // Written again after losses not yet reported (the reports come at most
  // every 10 s): their count now, so stderr tells the whole loss.
  if (error == 0 && lost_unreported_ > 0) {
    ReportLocked(absl::StrCat("writing again; ", lost_unreported_,
                              " more lines were lost since the last report"));
  }
}

void AccessLog::LostLocked(size_t written, bool led_by_newline, int error) {
  const std::string_view unwritten = std::string_view(buffer_).substr(written);
  uint64_t lost = static_cast<uint64_t>(
      std::count(unwritten.begin(), unwritten.end(), '\n'));
  // The newline put first to end a torn line is no line of its own.
  if (led_by_newline && written == 0 && lost > 0) --lost;
  torn_ = written > 0 ? buffer_[written - 1] != '\n' : led_by_newline;
  if (hooks_.lost_lines != nullptr) {
    hooks_.lost_lines->fetch_add(lost, std::memory_order_relaxed);
  }
  lost_unreported_ += lost;
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  if (last_report_ != 0 && now - last_report_ < 10) return;
  ReportLocked(absl::StrCat("write failed: ", std::strerror(error), "; ",
                            lost_unreported_, " lines lost"));
}

absl::Status AccessLog::Reopen() {
  if (!owned_) return absl::OkStatus();
  std::lock_guard<std::mutex> lock(mu_);
  WriteBufferLocked();
  const int fd = OpenForAppend(path_);
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot reopen access log ", path_, ": ", std::strerror(errno)));
  }
  close(fd_);
  fd_ = fd;
  regular_file_ = IsRegularFile(fd);
  torn_ = false;  // the cut line stays in the old file
  return absl::OkStatus();
}

void AccessLog::Log(std::string_view peer_host, std::string_view user,
                    std::string_view method,
                    std::string_view target, int version_minor, int status,
                    size_t body_bytes, std::chrono::nanoseconds duration,
                    std::string_view traceparent) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string& time = TimeLocked();
  // The target is printed as received; control bytes cannot occur in it
  // (the parser rejects them), but a quote or a backslash could: \xHH, as
  // nginx writes them and as LogUnparsed() does (one decoding for both).
  std::string safe_target;
  for (char c : target) {
    if (c == '"' || c == '\\') {
      absl::StrAppendFormat(&safe_target, "\\x%02X", static_cast<unsigned char>(c));
    } else {
      safe_target.push_back(c);
    }
  }
  const std::string_view trace_id =
      traceparent.size() >= 35 ? traceparent.substr(3, 32) : std::string_view("-");
  absl::StrAppendFormat(&buffer_, "%s - %s [%s] \"%s %s HTTP/1.%d\" %d %d %d %s\n",
                        peer_host, user, time, method, safe_target,
                        version_minor, status, body_bytes,
                        duration.count() / 1000, std::string(trace_id));
  if (buffer_.size() > (64 << 10)) WriteBufferLocked();
}

void AccessLog::LogUnparsed(std::string_view peer_host, std::string_view user,
                            std::string_view line_seen, int status,
                            size_t body_bytes,
                            std::chrono::nanoseconds duration) {
  std::string request = line_seen.empty() ? "-" : "";
  for (const char c : line_seen) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      absl::StrAppendFormat(&request, "\\x%02X", u);
    } else {
      request.push_back(c);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  absl::StrAppendFormat(&buffer_, "%s - %s [%s] \"%s\" %d %d %d -\n", peer_host,
                        user, TimeLocked(), request, status, body_bytes,
                        duration.count() / 1000);
  if (buffer_.size() > (64 << 10)) WriteBufferLocked();
}

const std::string& AccessLog::TimeLocked() {
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  if (now != cached_second_) {
    cached_second_ = now;
    std::tm tm;
    const time_t t = static_cast<time_t>(now);
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof(buf), "%d/%b/%Y:%H:%M:%S +0000", &tm);
    cached_time_ = buf;
  }
  return cached_time_;
}

void AccessLog::Flush() {
  std::lock_guard<std::mutex> lock(mu_);
  WriteBufferLocked();
}

}  // namespace brisk
