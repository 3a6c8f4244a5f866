// AccessLog: one line per request, in the Common Log Format extended with
// the request's duration in microseconds and its W3C trace id ("-" when the
// request carried no valid traceparent):
//
//   127.0.0.1 - - [23/Nov/2026:18:30:00 +0000] "GET /hello HTTP/1.1" 200 14 42 -
//   127.0.0.1 - - [...] "GET /score HTTP/1.1" 200 41 310 4bf92f3577b34da6a3ce929d0e0e4736
//
// The user field (third) is the verified TLS client certificate's identity
// under mutual TLS ("CN=svc-a,O=acme"; with an empty subject a
// subjectAltName, URI before DNS, email and IP; with neither,
// "sha256:<fingerprint>"), "-" otherwise.
//
// A line is written when the answer is produced (so an offloaded request may
// follow a later inline one). A request the connection ended before its
// answer was given (the client left, a timeout closed it) is logged then,
// with status 499 (nginx's "client closed request") and 0 bytes; a stream
// cut short, with its status and the bytes sent. brisk_requests_total and
// brisk_request_seconds count them the same way.
//
// Lines are buffered and written in batches (by Flush(), called by each
// reactor about every 100 ms and at shutdown), so logging costs a format and
// a buffer append on the request path, never a syscall.
//
// Whole lines only, whoever else writes to the same file: several processes
// often do (the old and the new process of a binary upgrade, the instances
// of brisk@.service sharing one --access_log). A batch goes to a file in one
// write(2) on an O_APPEND descriptor, which the kernel appends whole; to a
// pipe (stdout under a log shipper or journald) in writes of at most
// PIPE_BUF bytes cut after a newline, the most a pipe keeps together.
// (stdio cut batches at its buffer size, mid-line: another writer's bytes
// then landed inside a line.)
// A write that fails (a full disk, a reader that went away) loses the
// lines not yet written; the server goes on. They are counted (`lost_lines`,
// brisk_access_log_lost_lines_total) and the error is reported (`on_error`,
// stderr by default) at most once every 10 s, with the count; the losses
// after a report are told when writes succeed again (or at the end). A
// write the disk cut mid-line leaves that line unfinished: this log's next
// batch starts with a newline, so none of its later lines is glued to it
// (another process writing the same file may still append to the cut line;
// a rotation starts the new file clean).
// Thread-safety: Log(), Flush() and Reopen() may be called from any thread.
#ifndef BRISK_SERVER_ACCESS_LOG_H_
#define BRISK_SERVER_ACCESS_LOG_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"

namespace brisk {

struct AccessLogHooks {
  // Lines lost to write errors are added here (a /metrics counter); may be
  // null.
  std::atomic<uint64_t>* lost_lines = nullptr;
  // Told of a failed write ("access log PATH: write failed: ...; N lines
  // lost"), at most once every 10 s; null: stderr.
  std::function<void(std::string_view)> on_error;
};

class AccessLog {
 public:
  // `path` "-" = stdout; otherwise appended to.
  static absl::StatusOr<std::unique_ptr<AccessLog>> Open(const std::string& path,
                                                         AccessLogHooks hooks = {});
  ~AccessLog();

  // `user`: printed as given (the caller escapes it; "-" for none).
  // `traceparent`: the request's valid W3C traceparent, or empty; its
  // trace id ends the line ("-" when none).
  void Log(std::string_view peer_host, std::string_view user,
           std::string_view method,
           std::string_view target, int version_minor, int status,
           size_t body_bytes, std::chrono::nanoseconds duration,
           std::string_view traceparent = {});
  // A request refused or timed out before its head was read whole (a bad
  // or unfinished request line or head, binary noise, a TLS ClientHello on
  // the plain port): `line_seen` is what came as its request line, printed
  // in place of "METHOD TARGET HTTP/1.x" as nginx prints $request, bytes
  // outside printable ASCII as \xHH ("-" when nothing came):
  //   127.0.0.1 - - [...] "GET / HTTP/2.0" 505 27 0 -
  //   127.0.0.1 - - [...] "\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03" 400 12 0 -
  void LogUnparsed(std::string_view peer_host, std::string_view user,
                   std::string_view line_seen, int status, size_t body_bytes,
                   std::chrono::nanoseconds duration);
  void Flush();
  // Log rotation (SIGHUP): writes what is buffered to the current file,
  // then opens `path` anew (after the operator moved the old file away,
  // lines go to a fresh one). On an error the current file stays in use
  // and the error says why. Nothing to do for stdout.
  absl::Status Reopen();
  // Whether it writes to a file of its own (not stdout): what Reopen() acts on.
  bool owns_file() const { return owned_; }

 private:
  AccessLog(int fd, bool owned, std::string path, AccessLogHooks hooks);
  void WriteBufferLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells `on_error` (or stderr) "access log PATH: <what> (...)".
  void ReportLocked(const std::string& what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The time field for now: "03/Dec/2026:09:01:02 +0000".
  const std::string& TimeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // buffer_[0, written) went out; the rest is lost to `error`.
  void LostLocked(size_t written, bool led_by_newline, int error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const bool owned_;
  const std::string path_;
  const AccessLogHooks hooks_;
  std::mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_);
  // A regular file: a batch in one write(); else pieces of whole lines of
  // at most PIPE_BUF bytes.
  bool regular_file_ ABSL_GUARDED_BY(mu_);
  std::string buffer_ ABSL_GUARDED_BY(mu_);
  int64_t cached_second_ ABSL_GUARDED_BY(mu_) = -1;
  std::string cached_time_ ABSL_GUARDED_BY(mu_);
  // The last write ended inside a line: the next begins with a newline.
  bool torn_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t lost_unreported_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_report_ ABSL_GUARDED_BY(mu_) = 0;  // time(), seconds
};

}  // namespace brisk

#endif  // BRISK_SERVER_ACCESS_LOG_H_
