// LineWriter: diagnostics written to a descriptor (stderr) by a thread of
// their own, so a destination that blocks never holds the thread that says
// them.
//
//   internal::SayOnStderr("signal %d: access log reopened", signo);
//   // stderr: 2026-12-05T14:50:12.123Z signal 1: access log reopened
//
// The server's diagnostics (a reload, a refused connection, a failed
// accept, a TLS handshake that failed) were fprintf(stderr) calls on the
// thread that saw the event. stderr is often a pipe (journald, Docker's
// log driver in its blocking mode, a log shipper): when its reader stalled
// and the pipe filled, that thread blocked in write(2) with it. The control
// thread then never took SIGTERM (no drain, no exit), and a reactor froze
// with every connection it serves, /healthz included, until the reader
// came back; a junk TLS or PROXY-protocol connection was enough to cause
// the line (outside review).
//
// Now a line is a format and a buffer append on the caller's thread; the
// writer thread (started with the first line) writes the buffer in whole
// lines. Past kMaxBuffered bytes waiting, lines are dropped and counted,
// and the count is said once the destination takes lines again ("N
// diagnostic lines dropped: stderr was not taking them"); a line longer
// than kMaxBuffered goes when nothing else waits. A failed write (a reader
// that went away) loses the batch. The thread takes no signal and is named
// brisk-stderr. When no thread can be started, lines are written on the
// caller's thread, as before.
//
// The process's stderr writer (Stderr()) is never destroyed; at exit()
// (main returning) it writes what is buffered, waiting up to 1 s for a
// blocked destination. Paths that end the process without exit() (a
// second SIGTERM's _exit, an abort) Flush() it first, briefly. A child
// forked from the process gets a writer of its own with its first line (the
// parent's thread does not exist there).
//
// Thread-safety: Say() and Flush() may be called from any thread.
#ifndef BRISK_SERVER_STDERR_WRITER_H_
#define BRISK_SERVER_STDERR_WRITER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace brisk::internal {

class LineWriter {
 public:
  // Writes to `fd`, which it does not own. With `timestamps`, each line
  // (the "dropped" one too) begins with StderrTimestamp() of when it was
  // said and a space; Stderr() has them.
  explicit LineWriter(int fd, bool timestamps = false);
  // Waits up to 1 s for what is buffered to be written; a writer thread
  // still blocked then is left to finish alone.
  ~LineWriter();
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  // Queues `line` and a newline; never blocks on the destination.
  void Say(std::string_view line);
  // Waits until what was said before the call is written (or lost), at
  // most `max_wait`; false if the destination still blocks then.
  bool Flush(std::chrono::milliseconds max_wait);
  // Lines dropped so far because kMaxBuffered bytes were waiting.
  uint64_t dropped() const;

  static constexpr size_t kMaxBuffered = 64 << 10;

 private:
  struct State;
  // The writer thread's loop.
  static void Run(const std::shared_ptr<State>& state);

  // Shared with the writer thread, which may outlive this object when a
  // write blocks through the destructor's wait.
  std::shared_ptr<State> state_;
};

// The process's writer for stderr, with timestamps.
LineWriter& Stderr();

// "2026-12-05T14:50:12.123Z": `t` in UTC to the millisecond (RFC 3339),
// the prefix of each line on the process's stderr writer, so that a stderr
// kept in a file (`2>>server.log`, a container's log) tells when each thing
// happened. The time is taken on the thread that says the line, so lines
// said at once by two threads may be written a millisecond out of order.
std::string StderrTimestamp(absl::Time t);

// Formats as absl::StrFormat and says the line on stderr (Stderr()).
template <typename... Args>
void SayOnStderr(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Stderr().Say(absl::StrFormat(format, args...));
}

}  // namespace brisk::internal

#endif  // BRISK_SERVER_STDERR_WRITER_H_
