// AccessLog: one line per request, in the Common Log Format extended with
// the request's duration in microseconds and its W3C trace id ("-" when the
// request carried no valid traceparent):
//
//   127.0.0.1 - - [23/Nov/2026:18:30:00 +0000] "GET /hello HTTP/1.1" 200 13 42 -
//   127.0.0.1 - - [...] "GET /score HTTP/1.1" 200 41 310 4bf92f3577b34da6a3ce929d0e0e4736
//
// A line is written when the answer is produced (so an offloaded request may
// follow a later inline one). Lines are buffered and written in batches (by Flush(), called by each
// reactor about every 100 ms and at shutdown), so logging costs a format and
// a buffer append on the request path, never a syscall.
// Thread-safety: Log() and Flush() may be called from any thread.
#ifndef BRISK_SERVER_ACCESS_LOG_H_
#define BRISK_SERVER_ACCESS_LOG_H_

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"

namespace brisk {

class AccessLog {
 public:
  // `path` "-" = stdout; otherwise appended to.
  static absl::StatusOr<std::unique_ptr<AccessLog>> Open(const std::string& path);
  ~AccessLog();

  // `traceparent`: the request's valid W3C traceparent, or empty; its
  // trace id ends the line ("-" when none).
  void Log(std::string_view peer_host, std::string_view method,
           std::string_view target, int version_minor, int status,
           size_t body_bytes, std::chrono::nanoseconds duration,
           std::string_view traceparent = {});
  void Flush();

 private:
  AccessLog(FILE* file, bool owned) : file_(file), owned_(owned) {}

  FILE* const file_;
  const bool owned_;
  std::mutex mu_;
  std::string buffer_ ABSL_GUARDED_BY(mu_);
  int64_t cached_second_ ABSL_GUARDED_BY(mu_) = -1;
  std::string cached_time_ ABSL_GUARDED_BY(mu_);
};

}  // namespace brisk

#endif  // BRISK_SERVER_ACCESS_LOG_H_
