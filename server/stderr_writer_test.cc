#include "server/stderr_writer.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/config.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace brisk::internal {
namespace {

using std::chrono::seconds;

class Pipe {
 public:
  Pipe() {
    int fds[2];
    ok_ = pipe2(fds, O_CLOEXEC) == 0;
    if (ok_) {
      read_ = fds[0];
      write_ = fds[1];
    }
  }
  ~Pipe() {
    if (ok_) {
      close(read_);
      close(write_);
    }
  }
  bool ok() const { return ok_; }
  int read_end() const { return read_; }
  int write_end() const { return write_; }

  // Fills the pipe to the brim (a reader that stopped reading); returns the
  // bytes it took.
  size_t Fill() {
    const int flags = fcntl(write_, F_GETFL);
    fcntl(write_, F_SETFL, flags | O_NONBLOCK);
    const std::string chunk(4096, '#');
    size_t filled = 0;
    for (;;) {
      const ssize_t n = write(write_, chunk.data(), chunk.size());
      if (n <= 0) break;
      filled += static_cast<size_t>(n);
    }
    fcntl(write_, F_SETFL, flags);  // the writer's writes block again
    return filled;
  }

  // Reads until `stop` appears in what was read (or 20 s pass).
  std::string ReadUntil(const std::string& stop) {
    return ReadWhile([&](const std::string& got) { return got.find(stop) == std::string::npos; });
  }
  // What the pipe holds now, without waiting.
  std::string Drain() {
    std::string got;
    while (ReadOnce(0, &got)) {
    }
    return got;
  }
  // Reads until `n` lines came (or 20 s pass).
  std::string ReadLines(size_t n) {
    return ReadWhile([&](const std::string& got) {
      return static_cast<size_t>(std::count(got.begin(), got.end(), '\n')) < n;
    });
  }

  // Reads while `more(what was read)` (at most 20 s).
  template <typename More>
  std::string ReadWhile(More more) {
    std::string got;
    const auto give_up = std::chrono::steady_clock::now() + seconds(20);
    while (more(got) && std::chrono::steady_clock::now() < give_up) ReadOnce(100, &got);
    return got;
  }

 private:
  // One read, waiting up to `wait_ms` for bytes; appends them to `got`.
  // False if none came.
  bool ReadOnce(int wait_ms, std::string* got) {
    pollfd p{.fd = read_, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, wait_ms) != 1) return false;
    char buf[65536];
    const ssize_t n = read(read_, buf, sizeof(buf));
    if (n <= 0) return false;
    got->append(buf, static_cast<size_t>(n));
    return true;
  }

  bool ok_ = false;
  int read_ = -1;
  int write_ = -1;
};

// The lines of `text` (after the '#' fill), each checked whole: "line N"
// padded with 'x' to 100 bytes.
std::vector<std::string> SaidLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = text.find_first_not_of('#');
  while (start != std::string::npos && start < text.size()) {
    const size_t end = text.find('\n', start);
    if (end == std::string::npos) break;
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// The reader comes back: reads `pipe` while `writer` flushes; all it read.
std::string ReadWhileFlushing(LineWriter& writer, Pipe& pipe) {
  std::atomic<bool> flushed{false};
  auto reader = std::async(std::launch::async, [&] {
    return pipe.ReadWhile([&](const std::string&) { return !flushed.load(); });
  });
  EXPECT_TRUE(writer.Flush(seconds(20)));
  flushed.store(true);
  // The reader first, then the rest: `reader.get() + pipe.Drain()` left the
  // order to the compiler, and with Drain() first two threads read the pipe
  // at once, one of them blocked in read(2) after its poll(2) saw bytes the
  // other took (a CI run hung here until its timeout).
  std::string text = reader.get();
  text += pipe.Drain();
  return text;
}

std::string Line(int i) {
  std::string line = "line " + std::to_string(i) + " ";
  line.resize(100, 'x');
  return line;
}

// A destination that blocks (a full pipe: its reader stopped) never holds
// the caller: what does not fit is dropped and counted, and said once the
// reader is back. fprintf(stderr) on the caller's thread blocked it (the
// control thread that takes SIGTERM, a reactor) until the reader came
// back (outside review).
TEST(LineWriterTest, ASayNeverWaitsForABlockedDestination) {
  Pipe pipe;
  ASSERT_TRUE(pipe.ok());
  const size_t filled = pipe.Fill();
  ASSERT_GT(filled, 0u);
  LineWriter writer(pipe.write_end());
  constexpr int kLines = 2000;  // 200 KB: far past what is kept
  auto said = std::async(std::launch::async, [&] {
    for (int i = 0; i < kLines; ++i) writer.Say(Line(i));
  });
  ASSERT_EQ(said.wait_for(seconds(20)), std::future_status::ready)
      << "Say() waited for the blocked pipe";
  EXPECT_GT(writer.dropped(), 0u);
  EXPECT_FALSE(writer.Flush(std::chrono::milliseconds(1)));  // still blocked

  // The reader comes back: every line kept arrives whole and in order, and
  // each gap is told ("N diagnostic lines dropped").
  const std::string text = ReadWhileFlushing(writer, pipe);
  ASSERT_GE(text.size(), filled);
  const std::vector<std::string> lines = SaidLines(text.substr(filled));
  const std::string kDropped = " diagnostic lines dropped: stderr was not taking them";
  uint64_t kept = 0;
  uint64_t told_dropped = 0;
  int last = -1;
  for (const std::string& line : lines) {
    if (line.size() > kDropped.size() &&
        line.compare(line.size() - kDropped.size(), kDropped.size(), kDropped) == 0) {
      told_dropped += std::stoull(line);
      continue;
    }
    ASSERT_EQ(line.rfind("line ", 0), 0u) << line;
    const int i = std::stoi(line.substr(5));
    EXPECT_GT(i, last);
    EXPECT_EQ(line, Line(i));
    last = i;
    ++kept;
  }
  EXPECT_EQ(kept + writer.dropped(), static_cast<uint64_t>(kLines));
  EXPECT_EQ(told_dropped, writer.dropped());
}

// Lines said by several threads at once each arrive whole. (600 lines of
// 101 bytes: within kMaxBuffered, so none can be dropped however slowly the
// writer runs.)
TEST(LineWriterTest, LinesFromManyThreadsStayWhole) {
  Pipe pipe;
  ASSERT_TRUE(pipe.ok());
  LineWriter writer(pipe.write_end());
  auto reader = std::async(std::launch::async, [&] { return pipe.ReadLines(600); });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&writer, t] {
      for (int i = 0; i < 150; ++i) writer.Say(Line(t * 1000 + i));
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(writer.Flush(seconds(20)));
  const std::vector<std::string> lines = SaidLines(reader.get());
  EXPECT_EQ(lines.size(), 600u);
  EXPECT_EQ(writer.dropped(), 0u);
  for (const std::string& line : lines) {
    EXPECT_EQ(line.size(), 100u);
    EXPECT_EQ(line.rfind("line ", 0), 0u) << line;
  }
}

// A line longer than the whole buffer goes when nothing else waits (it
// was dropped, and the drop said only with some later line).
TEST(LineWriterTest, ALineLongerThanTheBufferGoesWhenNothingWaits) {
  Pipe pipe;
  ASSERT_TRUE(pipe.ok());
  LineWriter writer(pipe.write_end());
  const std::string long_line(LineWriter::kMaxBuffered + 4000, 'L');
  auto reader = std::async(std::launch::async, [&] { return pipe.ReadLines(1); });
  writer.Say(long_line);
  ASSERT_TRUE(writer.Flush(seconds(20)));
  EXPECT_EQ(reader.get(), long_line + "\n");
  EXPECT_EQ(writer.dropped(), 0u);
}

// The writer thread takes no signal, whichever thread said the first
// line: a process-directed SIGTERM must reach the thread that waits for it
// (a server's signalfd), not be taken by the writer.
TEST(LineWriterTest, TheWriterThreadBlocksEverySignal) {
  Pipe pipe;
  ASSERT_TRUE(pipe.ok());
  LineWriter writer(pipe.write_end());
  auto reader = std::async(std::launch::async, [&] { return pipe.ReadLines(1); });
  writer.Say("first");  // starts the thread, from this one (no signal blocked)
  ASSERT_TRUE(writer.Flush(seconds(20)));
  reader.get();
  std::string mask;
  DIR* tasks = opendir("/proc/self/task");
  ASSERT_NE(tasks, nullptr);
  while (dirent* e = readdir(tasks)) {
    const std::string dir = std::string("/proc/self/task/") + e->d_name;
    std::ifstream comm(dir + "/comm");
    std::string name;
    if (!std::getline(comm, name) || name != "brisk-stderr") continue;
    std::ifstream status(dir + "/status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("SigBlk:", 0) == 0) mask = line.substr(7);
    }
  }
  closedir(tasks);
  ASSERT_FALSE(mask.empty()) << "no brisk-stderr thread";
  // SIGHUP (1), SIGINT (2), SIGUSR1 (10), SIGTERM (15) among the blocked.
  const uint64_t blocked = std::stoull(mask, nullptr, 16);
  for (int signo : {SIGHUP, SIGINT, SIGUSR1, SIGTERM}) {
    EXPECT_NE(blocked & (uint64_t{1} << (signo - 1)), 0u) << "signal " << signo;
  }
}

// A child forked after the process's stderr writer started (its thread
// does not exist in the child) still gets its lines out.
TEST(LineWriterTest, AForkedChildHasAStderrWriterOfItsOwn) {
#ifdef ABSL_HAVE_THREAD_SANITIZER
  GTEST_SKIP() << "TSan does not let a child of a multi-threaded fork start a thread";
#endif
  SayOnStderr("parent %d: starts the writer", 1);
  ASSERT_TRUE(Stderr().Flush(seconds(20)));
  Pipe pipe;
  ASSERT_TRUE(pipe.ok());
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    dup2(pipe.write_end(), STDERR_FILENO);
    SayOnStderr("child %s", "says this");
    _exit(Stderr().Flush(seconds(20)) ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(pipe.ReadUntil("child says this\n").find("child says this\n"),
            std::string::npos);
}

TEST(StderrTimestampTest, UtcToTheMillisecond) {
  const absl::Time t = absl::FromUnixMillis(1796482212123);  // 2026-12-05
  EXPECT_EQ(StderrTimestamp(t), "2026-12-05T14:50:12.123Z");
  EXPECT_EQ(StderrTimestamp(absl::FromUnixSeconds(0)), "1970-01-01T00:00:00.000Z");
}

// Every line of a writer with timestamps is stamped, whoever says it (the
// TLS endpoint's lines, said with Say() rather than SayOnStderr, were not),
// and so is the line that counts dropped ones.
TEST(StderrTimestampTest, AWriterWithTimestampsStampsEveryLineAndTheDroppedCount) {
  Pipe pipe;
  ASSERT_TRUE(pipe.ok());
  const size_t filled = pipe.Fill();  // a stalled reader: lines are dropped
  LineWriter writer(pipe.write_end(), /*timestamps=*/true);
  const std::string before = StderrTimestamp(absl::Now());
  for (int i = 0; i < 2000; ++i) writer.Say(Line(i));
  ASSERT_GT(writer.dropped(), 0u);
  const std::string text = ReadWhileFlushing(writer, pipe);
  const std::string after = StderrTimestamp(absl::Now());
  ASSERT_GE(text.size(), filled);
  int dropped_lines = 0;
  for (const std::string& line : SaidLines(text.substr(filled))) {
    ASSERT_GT(line.size(), before.size()) << line;
    const std::string stamp = line.substr(0, before.size());
    EXPECT_LE(before, stamp) << line;  // the format sorts as time does
    EXPECT_LE(stamp, after) << line;
    EXPECT_EQ(line[before.size()], ' ') << line;
    const std::string said = line.substr(before.size() + 1);
    if (said.find("diagnostic lines dropped") != std::string::npos) {
      ++dropped_lines;
    } else {
      EXPECT_EQ(said.rfind("line ", 0), 0u) << line;
    }
  }
  EXPECT_GE(dropped_lines, 1);
}

TEST(StderrTimestampTest, EachSaidLineBeginsWithTheTimeItWasSaid) {
  Pipe pipe;
  ASSERT_TRUE(pipe.ok());
  ASSERT_TRUE(Stderr().Flush(seconds(20)));
  const int saved = dup(STDERR_FILENO);
  ASSERT_GE(saved, 0);
  ASSERT_EQ(dup2(pipe.write_end(), STDERR_FILENO), STDERR_FILENO);
  const std::string before = StderrTimestamp(absl::Now());
  SayOnStderr("reload %s", "done");
  const std::string after = StderrTimestamp(absl::Now());
  const bool flushed = Stderr().Flush(seconds(20));
  dup2(saved, STDERR_FILENO);
  close(saved);
  ASSERT_TRUE(flushed);
  const std::string line = pipe.ReadUntil("reload done\n");
  ASSERT_EQ(line.size(), before.size() + sizeof(" reload done\n") - 1) << line;
  const std::string stamp = line.substr(0, before.size());
  EXPECT_EQ(line.substr(before.size()), " reload done\n");
  EXPECT_LE(before, stamp);  // the format sorts as time does
  EXPECT_LE(stamp, after);
}

}  // namespace
}  // namespace brisk::internal
