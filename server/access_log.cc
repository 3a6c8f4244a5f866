#include "server/access_log.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "concurrency/start_thread.h"
#include "server/server_thread.h"
#include "server/stderr_writer.h"

namespace brisk {

namespace {

// O_APPEND: every write lands at the end of the file as it is then, in one
// piece, whatever other processes append. O_NONBLOCK for the open only: a
// FIFO that no process reads fails at once (ENXIO) instead of holding the
// caller, the start or the thread that takes SIGTERM, until a reader comes.
// Writes block again: only the writer thread waits on them. A new file is
// 0644 (less the umask), as nginx creates its logs: under `umask 000` a
// 0666 file let any local user write lines into it (outside review).
int OpenForAppend(const std::string& path) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
  if (fd < 0) return fd;
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
    const int error = errno;
    close(fd);
    errno = error;
    return -1;
  }
  return fd;
}

// Why OpenForAppend(path) failed, from errno. ENXIO is also a socket's or
// a device's without its driver: only a FIFO's is said as a missing reader.
std::string OpenError(const std::string& path, int error) {
  struct stat st;
  if (error == ENXIO && stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode)) {
    return "it is a FIFO that no process reads (start its reader first)";
  }
  return std::strerror(error);
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

// Counts the lines of `bytes` (each ends in a newline).
uint64_t CountLines(std::string_view bytes) {
  return static_cast<uint64_t>(std::count(bytes.begin(), bytes.end(), '\n'));
}

constexpr size_t kWriteAt = 64 << 10;  // buffered bytes that wake the writer
constexpr auto kWriteEvery = std::chrono::milliseconds(100);
constexpr auto kShutdownWait = std::chrono::seconds(2);
// After a Flush() that timed out, the destruction's wait (a drain's
// Flush(2 s) then the destructor's 2 s made the exit 4 s late).
constexpr auto kShutdownWaitAfterTimeout = std::chrono::milliseconds(100);
constexpr std::chrono::seconds kReportEvery{10};

}  // namespace

struct AccessLog::State {
  State(int fd, bool owned, std::string path, AccessLogHooks hooks)
      : owned(owned),
        path(std::move(path)),
        hooks(std::move(hooks)),
        fd(fd),
        regular_file(IsRegularFile(fd)) {}

  const bool owned;
  const std::string path;
  const AccessLogHooks hooks;

  std::mutex mu;
  std::condition_variable wake;  // the writer: work to do
  std::condition_variable done;  // Flush() and the destructor: work done
  std::string buffer ABSL_GUARDED_BY(mu);  // lines not yet taken
  size_t in_flight ABSL_GUARDED_BY(mu) = 0;  // bytes the writer is writing
  int pending_fd ABSL_GUARDED_BY(mu) = -1;   // Reopen()'s file, not yet used
  size_t pending_fd_from ABSL_GUARDED_BY(mu) = 0;  // its first byte in `buffer`
  uint64_t flush_requested ABSL_GUARDED_BY(mu) = 0;  // Flush() generations
  uint64_t flush_done ABSL_GUARDED_BY(mu) = 0;
  bool stop ABSL_GUARDED_BY(mu) = false;
  bool flush_timed_out ABSL_GUARDED_BY(mu) = false;  // the last Flush()
  bool exited ABSL_GUARDED_BY(mu) = false;
  // The destructor gave up waiting: the hooks may be gone.
  bool abandoned ABSL_GUARDED_BY(mu) = false;
  int64_t cached_second ABSL_GUARDED_BY(mu) = -1;
  std::string cached_time ABSL_GUARDED_BY(mu);
  // Lost (dropped or not written) since the last report, and why.
  uint64_t lost_unreported ABSL_GUARDED_BY(mu) = 0;
  // Why the unreported lines were lost, with how many for each cause, in
  // the order the causes came (a reader that stopped reading, then died:
  // two causes, both told).
  std::vector<std::pair<std::string, uint64_t>> loss_causes ABSL_GUARDED_BY(mu);
  // When the last report was made, on the steady clock (a wall clock
  // stepped back silenced the reports for as long as the step; stepped
  // forward, it let one through each batch).
  std::optional<std::chrono::steady_clock::time_point> last_report ABSL_GUARDED_BY(mu);

  // The writer thread's own.
  int fd;
  // A regular file: a batch in one write(); else pieces of whole lines of
  // at most PIPE_BUF bytes.
  bool regular_file;
  // The last write ended inside a line: the next begins with a newline.
  bool torn = false;

  // The time field for now: "03/Dec/2026:09:01:02 +0000".
  const std::string& TimeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    if (now != cached_second) {
      cached_second = now;
      std::tm tm;
      const time_t t = static_cast<time_t>(now);
      gmtime_r(&t, &tm);
      char buf[64];
      std::strftime(buf, sizeof(buf), "%d/%b/%Y:%H:%M:%S +0000", &tm);
      cached_time = buf;
    }
    return cached_time;
  }

  void CountLostLocked(uint64_t lines, std::string cause) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (lines == 0) return;
    if (!abandoned && hooks.lost_lines != nullptr) {
      hooks.lost_lines->fetch_add(lines, std::memory_order_relaxed);
    }
    lost_unreported += lines;
    for (auto& [known, count] : loss_causes) {
      if (known == cause) {
        count += lines;
        return;
      }
    }
    loss_causes.emplace_back(std::move(cause), lines);
  }

  // "cause" alone, or "3630 lines: cause A; 18 lines: cause B".
  std::string LossCausesLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (loss_causes.size() == 1) return loss_causes.front().first;
    std::string out;
    for (const auto& [cause, count] : loss_causes) {
      absl::StrAppend(&out, out.empty() ? "" : "; ", count, " lines: ", cause);
    }
    return out;
  }

  // The report due now, if any ("" for none): at most one every 10 s, and
  // one when writes succeed again after unreported losses (`wrote`), or at
  // the end (`final`), so stderr tells the whole loss.
  std::string DueReportLocked(bool wrote, bool final) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (lost_unreported == 0 || abandoned) return "";
    const auto now = std::chrono::steady_clock::now();
    std::string what;
    if (!last_report.has_value() || now - *last_report >= kReportEvery) {
      what = absl::StrCat(LossCausesLocked(), "; ", lost_unreported, " lines lost");
    } else if (wrote || final) {
      what = absl::StrCat(wrote ? "writing again; " : "", lost_unreported,
                          " more lines were lost since the last report (", LossCausesLocked(), ")");
    } else {
      return "";
    }
    lost_unreported = 0;
    loss_causes.clear();
    last_report = now;
    return absl::StrCat("access log ", path == "-" ? "(stdout)" : path, ": ", what,
                        " (brisk_access_log_lost_lines_total counts them all)");
  }

  void Report(const std::string& message) {
    if (message.empty()) return;
    if (hooks.on_error) {
      hooks.on_error(message);
    } else {
      internal::SayOnStderr("%s", message.c_str());
    }
  }

  // Writes `batch` (whole lines) to `fd`; returns the lines lost to a
  // failed write, and its errno in *error.
  uint64_t WriteBatch(std::string& batch, int* error) {
    if (batch.empty()) return 0;
    // The last write ended inside a line (a full disk cut it): end that
    // line first, so that the first of these is not glued to it.
    const bool led_by_newline = torn;
    if (led_by_newline) batch.insert(batch.begin(), '\n');
    torn = false;  // unless a write fails
    size_t written = batch.size();
    if (regular_file) {
      written = WriteAll(fd, batch.data(), batch.size(), error);
    } else {
      // A pipe keeps a write of up to PIPE_BUF bytes together: pieces of
      // whole lines within that (a longer line goes whole, as it must).
      std::string_view rest(batch);
      while (!rest.empty()) {
        size_t cut = rest.size();
        if (cut > PIPE_BUF) {
          const size_t nl = rest.rfind('\n', PIPE_BUF - 1);
          cut = nl != std::string_view::npos ? nl + 1 : rest.find('\n') + 1;
          if (cut == 0) cut = rest.size();  // no newline at all (never: lines end in one)
        }
        const size_t n = WriteAll(fd, rest.data(), cut, error);
        if (n < cut) {
          written = static_cast<size_t>(rest.data() - batch.data()) + n;
          break;
        }
        rest.remove_prefix(cut);
      }
    }
    if (written == batch.size()) return 0;
    uint64_t lost = CountLines(std::string_view(batch).substr(written));
    // The newline put first to end a torn line is no line of its own.
    if (led_by_newline && written == 0 && lost > 0) --lost;
    torn = written > 0 ? batch[written - 1] != '\n' : led_by_newline;
    return lost;
  }
};

absl::StatusOr<std::unique_ptr<AccessLog>> AccessLog::Open(
    const std::string& path, AccessLogHooks hooks) {
  std::unique_ptr<AccessLog> log;
  if (path == "-") {
    log.reset(new AccessLog(STDOUT_FILENO, false, path, std::move(hooks)));
  } else {
    const int fd = OpenForAppend(path);
    if (fd < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot open access log ", path, ": ", OpenError(path, errno)));
    }
    log.reset(new AccessLog(fd, true, path, std::move(hooks)));
  }
  // The writer takes no signal (a process-directed SIGTERM must reach the
  // thread that waits for it, not end the process here).
  absl::StatusOr<std::thread> writer =
      internal::StartSignalFreeThread("the access log's writer", [state = log->state_] {
        pthread_setname_np(pthread_self(), "brisk-accesslog");
        WriterLoop(state);
      });
  if (!writer.ok()) {
    if (log->owned_) close(log->state_->fd);
    std::lock_guard<std::mutex> lock(log->state_->mu);
    log->state_->exited = true;  // nothing to wait for
    return writer.status();
  }
  log->writer_ = *std::move(writer);
  return log;
}

AccessLog::AccessLog(int fd, bool owned, std::string path, AccessLogHooks hooks)
    : owned_(owned),
      state_(std::make_shared<State>(fd, owned, std::move(path), std::move(hooks))) {}

AccessLog::~AccessLog() {
  State& s = *state_;
  bool exited;
  {
    std::unique_lock<std::mutex> lock(s.mu);
    s.stop = true;
    s.wake.notify_one();
    exited = s.done.wait_for(
        lock,
        s.flush_timed_out ? std::chrono::milliseconds(kShutdownWaitAfterTimeout)
                          : std::chrono::milliseconds(kShutdownWait),
        [&s] { return s.exited; });
    if (!exited) {
      // Blocked in write(2) (a reader that never comes back): what is
      // still buffered is lost, and the writer, when its write returns,
      // touches nothing outside its state.
      s.CountLostLocked(CountLines(s.buffer),
                        "the destination blocked at shutdown");
      const std::string report = s.DueReportLocked(/*wrote=*/false, /*final=*/true);
      s.buffer.clear();
      s.pending_fd_from = 0;
      s.abandoned = true;
      lock.unlock();
      s.Report(report);  // the hooks are still there: the owner is destroying us
    }
  }
  if (!writer_.joinable()) return;  // Open() could not start it
  if (exited) {
    writer_.join();
  } else {
    writer_.detach();
  }
}

void AccessLog::WriterLoop(const std::shared_ptr<State>& state) {
  State& s = *state;
  std::string batch;
  std::unique_lock<std::mutex> lock(s.mu);
  for (;;) {
    s.wake.wait_for(lock, kWriteEvery, [&s] {
      return s.stop || s.flush_requested > s.flush_done || s.buffer.size() >= kWriteAt ||
             s.pending_fd >= 0;
    });
    const uint64_t generation = s.flush_requested;
    batch.clear();
    batch.swap(s.buffer);
    const int new_fd = std::exchange(s.pending_fd, -1);
    const size_t new_fd_from = s.pending_fd_from;
    const bool stopping = s.stop;
    s.in_flight = batch.size();
    lock.unlock();
    const bool any_lines = !batch.empty();
    int error = 0;  // the last failed write's
    uint64_t lost = 0;
    if (new_fd >= 0) {
      // Reopen(): what was logged before it goes to the old file, the rest
      // to the new one.
      std::string after(batch, std::min(new_fd_from, batch.size()));
      batch.resize(batch.size() - after.size());
      lost += s.WriteBatch(batch, &error);
      close(s.fd);
      s.fd = new_fd;
      s.regular_file = IsRegularFile(new_fd);
      s.torn = false;  // the cut line stays in the old file
      batch = std::move(after);
    }
    lost += s.WriteBatch(batch, &error);
    lock.lock();
    s.in_flight = 0;
    if (s.abandoned) break;
    s.CountLostLocked(lost, absl::StrCat("write failed: ", std::strerror(error)));
    std::string report = s.DueReportLocked(/*wrote=*/any_lines && lost == 0,
                                           /*final=*/stopping && s.buffer.empty());
    if (!report.empty()) {
      lock.unlock();
      s.Report(report);  // may block too (stderr into the same stalled pipe)
      lock.lock();
      if (s.abandoned) break;
    }
    s.flush_done = generation;
    s.done.notify_all();
    if (stopping && s.buffer.empty()) break;
  }
  if (s.owned) close(s.fd);
  if (s.pending_fd >= 0) close(s.pending_fd);
  s.pending_fd = -1;
  s.exited = true;
  s.done.notify_all();
}

bool AccessLog::Flush(std::chrono::milliseconds max_wait) {
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  const uint64_t generation = ++s.flush_requested;
  s.wake.notify_one();
  const bool done = s.done.wait_for(
      lock, max_wait, [&] { return s.flush_done >= generation || s.exited; });
  s.flush_timed_out = !done;
  return done;
}

absl::Status AccessLog::Reopen() {
  if (!owned_) return absl::OkStatus();
  State& s = *state_;
  const int fd = OpenForAppend(s.path);
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot reopen access log ", s.path, ": ", OpenError(s.path, errno)));
  }
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.pending_fd >= 0) close(s.pending_fd);  // two rotations before one write
  s.pending_fd = fd;
  s.pending_fd_from = s.buffer.size();
  s.wake.notify_one();
  return absl::OkStatus();
}

void AccessLog::Append(absl::FunctionRef<void(std::string*, std::string_view)> format) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.buffer.size() + s.in_flight >= kMaxBuffered) {
    s.CountLostLocked(1, "the destination is not keeping up (its writes block)");
    return;
  }
  format(&s.buffer, s.TimeLocked());
  if (s.buffer.size() >= kWriteAt) s.wake.notify_one();
}

void AccessLog::Log(std::string_view peer_host, std::string_view user,
                    std::string_view method,
                    std::string_view target, int version_minor, int status,
                    size_t body_bytes, std::chrono::nanoseconds duration,
                    std::string_view traceparent) {
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
  Append([&](std::string* out, std::string_view time) {
    absl::StrAppendFormat(out, "%s - %s [%s] \"%s %s HTTP/1.%d\" %d %d %d %s\n", peer_host,
                          user, time, method, safe_target, version_minor, status,
                          body_bytes, duration.count() / 1000, std::string(trace_id));
  });
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
  Append([&](std::string* out, std::string_view time) {
    absl::StrAppendFormat(out, "%s - %s [%s] \"%s\" %d %d %d -\n", peer_host, user, time,
                          request, status, body_bytes, duration.count() / 1000);
  });
}

}  // namespace brisk
