#include "server/stderr_writer.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/server_thread.h"

namespace brisk::internal {
namespace {

// Writes all of `bytes` to `fd`; false on an error (the rest is lost).
bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

struct LineWriter::State {
  State(int descriptor, bool stamp) : fd(descriptor), timestamps(stamp) {}

  const int fd;
  const bool timestamps;
  std::mutex mu;
  std::mutex direct_mu;  // direct writes, one at a time
  std::condition_variable cv;
  std::string buffer;          // lines waiting for the writer
  uint64_t queued = 0;         // lines queued so far
  uint64_t written = 0;        // of them, written (or lost to an error)
  uint64_t dropped_unsaid = 0;  // dropped since the last "dropped" line
  bool started = false;        // the writer thread was started (or tried)
  bool direct = false;         // no thread: callers write themselves
  bool stopping = false;
  std::atomic<uint64_t> dropped{0};
};

LineWriter::LineWriter(int fd, bool timestamps) : state_(std::make_shared<State>(fd, timestamps)) {}

LineWriter::~LineWriter() {
  Flush(std::chrono::seconds(1));
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
  }
  state_->cv.notify_all();
  // The thread holds its own reference to the state: when a write blocks
  // past the wait, it finishes alone.
}

void LineWriter::Say(std::string_view said) {
  State& s = *state_;
  std::string stamped;
  if (s.timestamps) {
    stamped = StderrTimestamp(absl::Now());
    stamped.push_back(' ');
    stamped.append(said);
  }
  const std::string_view line = s.timestamps ? std::string_view(stamped) : said;
  std::unique_lock<std::mutex> lock(s.mu);
  if (!s.started) {
    s.started = true;
    // The writer takes no signal (a process-directed SIGTERM must reach
    // the thread that waits for it, whichever thread says the first line).
    absl::StatusOr<std::thread> t =
        internal::StartSignalFreeThread("the stderr writer", [state = state_] {
          pthread_setname_np(pthread_self(), "brisk-stderr");
          Run(state);
        });
    if (t.ok()) {
      t->detach();
    } else {
      s.direct = true;
    }
  }
  if (s.direct) {
    // No thread to write for us: as before it existed, on this thread, one
    // writer at a time so lines stay whole (not under `mu`: Flush() at
    // exit must not wait for a blocked write).
    lock.unlock();
    std::string whole(line);
    whole.push_back('\n');
    std::lock_guard<std::mutex> direct(s.direct_mu);
    WriteAll(s.fd, whole);
    return;
  }
  // A line longer than the whole buffer still goes when nothing waits.
  if (!s.buffer.empty() && s.buffer.size() + line.size() + 1 > kMaxBuffered) {
    ++s.dropped_unsaid;
    s.dropped.fetch_add(1, std::memory_order_relaxed);
  } else {
    s.buffer.append(line);
    s.buffer.push_back('\n');
    ++s.queued;
  }
  lock.unlock();
  s.cv.notify_all();  // a drop too: its count is said once writes get through
}

bool LineWriter::Flush(std::chrono::milliseconds max_wait) {
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  const uint64_t target = s.queued;
  return s.cv.wait_for(lock, max_wait, [&] { return s.written >= target; });
}

uint64_t LineWriter::dropped() const {
  return state_->dropped.load(std::memory_order_relaxed);
}

void LineWriter::Run(const std::shared_ptr<State>& state) {
  State& s = *state;
  std::unique_lock<std::mutex> lock(s.mu);
  for (;;) {
    s.cv.wait(lock, [&] {
      return !s.buffer.empty() || s.dropped_unsaid > 0 || s.stopping;
    });
    if (s.buffer.empty() && s.dropped_unsaid == 0) return;  // stopping, nothing left
    std::string batch = std::exchange(s.buffer, std::string());
    const uint64_t through = s.queued;
    const uint64_t dropped = std::exchange(s.dropped_unsaid, 0);
    lock.unlock();
    if (dropped > 0) {
      // Said after the lines that waited: the drops came after them.
      if (s.timestamps) absl::StrAppend(&batch, StderrTimestamp(absl::Now()), " ");
      absl::StrAppend(&batch, dropped,
                      " diagnostic lines dropped: stderr was not taking them\n");
    }
    WriteAll(s.fd, batch);  // on an error the batch is lost
    lock.lock();
    s.written = through;
    s.cv.notify_all();
  }
}

namespace {

struct ProcessWriter {
  pid_t pid;
  LineWriter* writer;
};

std::atomic<ProcessWriter*> g_stderr{nullptr};

void FlushStderrAtExit() {
  ProcessWriter* p = g_stderr.load(std::memory_order_acquire);
  if (p != nullptr && p->pid == getpid()) p->writer->Flush(std::chrono::seconds(1));
}

}  // namespace

std::string StderrTimestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

LineWriter& Stderr() {
  const pid_t pid = getpid();
  ProcessWriter* p = g_stderr.load(std::memory_order_acquire);
  while (p == nullptr || p->pid != pid) {
    // The first line of this process (a forked child's included: its
    // parent's writer thread does not exist here). Never destroyed: lines
    // may come from any thread until the process ends.
    auto* fresh = new ProcessWriter{pid, new LineWriter(STDERR_FILENO, /*timestamps=*/true)};
    if (g_stderr.compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) {
      if (p == nullptr) std::atexit(FlushStderrAtExit);  // inherited by children
      return *fresh->writer;
    }
    delete fresh->writer;  // another thread was first: `p` is its writer
    delete fresh;
  }
  return *p->writer;
}

}  // namespace brisk::internal
