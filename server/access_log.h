// AccessLog: one line per request, in the Common Log Format extended with
// the request's duration in microseconds and its W3C trace id ("-" when the
// request carried no valid traceparent):
//
//   127.0.0.1 - - [23/Nov/2026:18:30:00 +0000] "GET /hello HTTP/1.1" 200 14 42 -
//   127.0.0.1 - - [...] "GET /score HTTP/1.1" 200 41 310 4bf92f3577b34da6a3ce929d0e0e4736
//
// The user field (third) is the verified TLS client certificate's identity
// under mutual TLS ("CN=svc-a,O=acme"; with an empty subject a
// subjectAltName with its kind, "uri:..." before "dns:", "email:", "ip:"; with neither,
// "sha256:<fingerprint>"), "-" otherwise.
//
// A line is written when the answer is produced, or, for one produced while
// an answer before it on its connection was still to come, once its bytes
// follow that answer to the socket: a connection's answers are logged in
// its requests' order, and an answer that never left (the one before it
// ended the connection: an HTTP/1.0 stream, a stream cut short, a drain's
// close behind a stream) is logged as unanswered, 499 with 0 bytes and the
// time it took to produce; so is a stream behind another that never
// reached the socket. A request the connection ended before its
// answer was given (the client left, a timeout closed it) is logged then,
// with status 499 (nginx's "client closed request") and 0 bytes; a stream
// cut short, with its status and the bytes sent. brisk_requests_total and
// brisk_request_seconds count them the same way.
//
// Lines are buffered and written in batches by the log's own writer thread
// (about every 100 ms, sooner past 64 KiB, and on Flush()), so logging
// costs a format and a buffer append on the request path, never a syscall,
// and a destination that blocks (a log shipper that stopped reading its
// pipe, a stalled disk) holds only that thread. What cannot wait meanwhile
// is dropped: past 4 MiB buffered, new lines are lost, counted like lines
// lost to a failed write, and reported when the writer gets through again.
// (The reactors wrote the batches before; a full pipe froze the server,
// /healthz and /metrics included, until its reader came back.)
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
// Destruction writes what is buffered, waiting up to 2 s for a blocked
// destination (100 ms when the last Flush() timed out already: a drain
// flushes, then destroys); then the lines still buffered are counted lost
// and the writer thread, if still blocked in write(2), is left to finish
// alone. Lines dropped while the writer is blocked are counted at once
// (lost_lines), but said on stderr only when it gets through (or at the
// end): stderr is often the same stalled pipe.
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
#include <thread>

#include "absl/functional/function_ref.h"
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
  // Waits until every line logged before the call was written (or lost),
  // at most `max_wait`; false if the writer is still blocked then.
  bool Flush(std::chrono::milliseconds max_wait = std::chrono::seconds(10));
  // Log rotation (SIGHUP): the lines logged before the call go to the
  // current file, the later ones to `path` opened anew (after the operator
  // moved the old file away, lines go to a fresh one). On an error the
  // current file stays in use and the error says why. Nothing to do for
  // stdout. Does not wait for the writer.
  absl::Status Reopen();
  // Whether it writes to a file of its own (not stdout): what Reopen() acts on.
  bool owns_file() const { return owned_; }

  // Past this many bytes buffered (and being written), lines are dropped.
  static constexpr size_t kMaxBuffered = 4 << 20;

 private:
  struct State;
  AccessLog(int fd, bool owned, std::string path, AccessLogHooks hooks);
  // The writer thread's loop.
  static void WriterLoop(const std::shared_ptr<State>& state);
  // Appends one line, formatted by `format` (given the time field) to the
  // buffer, or drops it (kMaxBuffered).
  void Append(absl::FunctionRef<void(std::string*, std::string_view)> format);

  const bool owned_;
  // Shared with the writer thread, which may outlive this object when a
  // write blocks through the destructor's wait.
  std::shared_ptr<State> state_;
  std::thread writer_;
};

}  // namespace brisk

#endif  // BRISK_SERVER_ACCESS_LOG_H_
