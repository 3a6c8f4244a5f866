// AccessLog writes whole lines whoever else writes to the same file or
// pipe (several processes often do: the two of a binary upgrade, instances
// sharing one --access_log).
#include "server/access_log.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "testing/temp_dir.h"

namespace brisk {
namespace {

// A line of 79 bytes plus "\n" (PIPE_BUF, 4096, is no multiple of 80).
void LogOne(AccessLog& log, int writer, int i) {
  log.Log("127.0.0.1", "-", "GET", "/w" + std::to_string(writer) + "/" + std::to_string(100000 + i),
          1, 200, 14, std::chrono::microseconds(0));
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(text.substr(start, nl - start));
  }
  EXPECT_EQ(start, text.size()) << "text after the last newline";
  return lines;
}

// Every line the test logs has the same length (the numbers have as many
// digits): a whole one is exactly that long, with its start and its end.
bool WholeLine(const std::string& line) {
  constexpr std::string_view kStart = "127.0.0.1 - - [";
  constexpr std::string_view kEnd = "\" 200 14 0 -";
  constexpr size_t kSize = 79;  // 127.0.0.1 - - [02/Dec/2026:08:30:22 +0000] "GET /w0/100000 HTTP/1.1" 200 14 0 -
  return line.size() == kSize && line.compare(0, kStart.size(), kStart) == 0 &&
         line.compare(line.size() - kEnd.size(), kEnd.size(), kEnd) == 0;
}

// stdout as a packet-mode pipe (O_DIRECT): each write(2) is read back as
// one packet, so the test sees where the log cut its writes. A pipe keeps
// PIPE_BUF bytes together; each write must hold whole lines. Through
// stdio, a batch went out in writes of its 4096-byte buffer, cut mid-line.
TEST(AccessLogTest, WritesToAPipeAreWholeLinesOfAtMostPipeBuf) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_DIRECT | O_CLOEXEC), 0);
  std::fflush(stdout);
  const int saved_stdout = dup(STDOUT_FILENO);
  ASSERT_GE(saved_stdout, 0);
  ASSERT_EQ(dup2(p[1], STDOUT_FILENO), STDOUT_FILENO);
  {
    auto log = AccessLog::Open("-");
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 200; ++i) LogOne(**log, 0, i);  // 16 KB: 4 pieces
    (*log)->Flush();
  }
  std::fflush(stdout);
  dup2(saved_stdout, STDOUT_FILENO);
  close(saved_stdout);
  close(p[1]);
  std::string all;
  char packet[65536];
  for (ssize_t n; (n = read(p[0], packet, sizeof(packet))) > 0;) {
    const std::string piece(packet, static_cast<size_t>(n));
    EXPECT_LE(piece.size(), static_cast<size_t>(PIPE_BUF));
    EXPECT_EQ(piece.back(), '\n') << "a write ended mid-line: ..."
                                  << piece.substr(piece.size() - 40);
    all += piece;
  }
  close(p[0]);
  const std::vector<std::string> lines = Lines(all);
  ASSERT_EQ(lines.size(), 200u);
  for (const std::string& line : lines) EXPECT_TRUE(WholeLine(line)) << line;
}

// Two logs appending to one file (as two processes would), each flushing
// batches of several KB: every line arrives whole. Through stdio a batch
// was two write(2)s (its buffer, then the rest), and the other writer's
// batch could land between them, inside a line.
TEST(AccessLogTest, TwoWritersOfOneFileNeverSplitALine) {
  const ::brisk::testing::TempDir dir;
  const std::string path = dir.path() + "/access.log";
  constexpr int kBatches = 3000, kLinesPerBatch = 60;  // 4.8 KB per batch
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&path, w] {
      auto log = AccessLog::Open(path);
      ASSERT_TRUE(log.ok());
      for (int b = 0; b < kBatches; ++b) {
        for (int i = 0; i < kLinesPerBatch; ++i) LogOne(**log, w, b * kLinesPerBatch + i);
        (*log)->Flush();
      }
    });
  }
  for (std::thread& t : writers) t.join();
  std::ifstream in(path);
  const std::vector<std::string> lines =
      Lines(std::string(std::istreambuf_iterator<char>(in), {}));
  EXPECT_EQ(lines.size(), 2u * kBatches * kLinesPerBatch);
  int torn = 0;
  for (const std::string& line : lines) {
    if (!WholeLine(line) && ++torn <= 3) ADD_FAILURE() << "torn line: " << line;
  }
  EXPECT_EQ(torn, 0);
}

// A log that cannot be written (/dev/full: ENOSPC on every write) loses
// its lines, and says so: counted, and reported once (not once a batch).
TEST(AccessLogTest, LinesLostToAFullDiskAreCountedAndReported) {
  std::atomic<uint64_t> lost{0};
  std::vector<std::string> reports;
  auto log = AccessLog::Open(
      "/dev/full", AccessLogHooks{.lost_lines = &lost,
                                  .on_error = [&](std::string_view m) {
                                    reports.emplace_back(m);
                                  }});
  ASSERT_TRUE(log.ok());
  for (int batch = 0; batch < 3; ++batch) {
    for (int i = 0; i < 10; ++i) LogOne(**log, 0, i);
    (*log)->Flush();
  }
  EXPECT_EQ(lost.load(), 30u);
  ASSERT_EQ(reports.size(), 1u);  // at most one every 10 s
  EXPECT_NE(reports[0].find("/dev/full"), std::string::npos) << reports[0];
  EXPECT_NE(reports[0].find("No space left on device"), std::string::npos) << reports[0];
  EXPECT_NE(reports[0].find("10 lines lost"), std::string::npos) << reports[0];
  // The losses after that report are told at the end (or when a write
  // succeeds again), so stderr tells the whole loss.
  log->reset();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_NE(reports[1].find("20 more lines were lost"), std::string::npos) << reports[1];
}

// A write the disk cut mid-line (here the file size limit, which lets a
// write through up to the limit, as a filling disk does) leaves that line
// unfinished; the next batch starts on a line of its own instead of being
// glued to it.
TEST(AccessLogTest, ALineCutByAFullDiskIsNotGluedToTheNext) {
  const ::brisk::testing::TempDir dir;
  const std::string path = dir.path() + "/access.log";
  std::atomic<uint64_t> lost{0};
  auto log = AccessLog::Open(path, AccessLogHooks{.lost_lines = &lost,
                                                  .on_error = [](std::string_view) {}});
  ASSERT_TRUE(log.ok());
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = 120;  // one line and a half
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  for (int i = 0; i < 3; ++i) LogOne(**log, 0, i);  // 240 bytes
  (*log)->Flush();
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  signal(SIGXFSZ, old_handler);
  EXPECT_EQ(lost.load(), 2u);  // the cut one and the one after it
  LogOne(**log, 0, 3);
  (*log)->Flush();
  std::ifstream in(path);
  const std::vector<std::string> lines =
      Lines(std::string(std::istreambuf_iterator<char>(in), {}));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(WholeLine(lines[0])) << lines[0];
  EXPECT_EQ(lines[1].size(), 120u - 80u);  // what fit of the second
  EXPECT_TRUE(WholeLine(lines[2])) << lines[2];
  EXPECT_NE(lines[2].find("/w0/100003"), std::string::npos) << lines[2];
}

// A rotation after a cut line: the new file starts clean (the newline that
// ends the cut line belongs to the old file, which keeps the cut line).
TEST(AccessLogTest, AFileOpenedByARotationAfterACutLineStartsClean) {
  const ::brisk::testing::TempDir dir;
  const std::string path = dir.path() + "/access.log";
  auto log = AccessLog::Open(path, AccessLogHooks{.on_error = [](std::string_view) {}});
  ASSERT_TRUE(log.ok());
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = 120;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  for (int i = 0; i < 2; ++i) LogOne(**log, 0, i);
  (*log)->Flush();  // the second line is cut
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  signal(SIGXFSZ, old_handler);
  ASSERT_EQ(rename(path.c_str(), (path + ".1").c_str()), 0);
  ASSERT_TRUE((*log)->Reopen().ok());
  LogOne(**log, 0, 2);
  (*log)->Flush();
  std::ifstream in(path);
  const std::string fresh(std::istreambuf_iterator<char>(in), {});
  const std::vector<std::string> lines = Lines(fresh);
  ASSERT_EQ(lines.size(), 1u) << fresh;
  EXPECT_TRUE(WholeLine(lines[0])) << lines[0];
}

// A request refused before its head was read: the line shows what came as
// its request line, escaped as nginx escapes $request, so a log reader
// sees what the client sent (and a quote in it cannot end the field).
TEST(AccessLogTest, AnUnparsedRequestShowsItsLineEscaped) {
  const ::brisk::testing::TempDir dir;
  const std::string path = dir.path() + "/access.log";
  auto log = AccessLog::Open(path);
  ASSERT_TRUE(log.ok());
  (*log)->LogUnparsed("127.0.0.1", "-", "GET / HTTP/2.0", 505, 27,
                      std::chrono::microseconds(3));
  (*log)->LogUnparsed("127.0.0.1", "-", std::string_view("\x16\x03\x01\x00\xfc", 5),
                      400, 12, std::chrono::microseconds(0));
  (*log)->LogUnparsed("::1", "CN=a", "GET /\"a\\ HTTP/1.1", 400, 12,
                      std::chrono::microseconds(0));
  (*log)->LogUnparsed("127.0.0.1", "-", "", 408, 16, std::chrono::seconds(1));
  (*log)->Flush();
  std::ifstream in(path);
  const std::vector<std::string> lines =
      Lines(std::string(std::istreambuf_iterator<char>(in), {}));
  ASSERT_EQ(lines.size(), 4u);
  auto after_time = [](const std::string& line) {
    return line.substr(line.find("] ") + 2);
  };
  EXPECT_EQ(lines[0].substr(0, 15), "127.0.0.1 - - [");
  EXPECT_EQ(after_time(lines[0]), "\"GET / HTTP/2.0\" 505 27 3 -");
  EXPECT_EQ(after_time(lines[1]), "\"\\x16\\x03\\x01\\x00\\xFC\" 400 12 0 -");
  EXPECT_EQ(lines[2].substr(0, 10), "::1 - CN=a");
  EXPECT_EQ(after_time(lines[2]), "\"GET /\\x22a\\x5C HTTP/1.1\" 400 12 0 -");
  EXPECT_EQ(after_time(lines[3]), "\"-\" 408 16 1000000 -");
}


// A FIFO at `path` whose reader is open (so opening it for writing does
// not wait) and reads nothing until Drain(): a log shipper that stopped.
class StalledFifo {
 public:
  explicit StalledFifo(const std::string& path) {
    EXPECT_EQ(mkfifo(path.c_str(), 0600), 0);
    reader_ = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    EXPECT_GE(reader_, 0);
  }
  ~StalledFifo() {
    if (drainer_.joinable()) drainer_.join();
    if (reader_ >= 0) close(reader_);
  }
  // Reads everything, from now on, in a thread; the text read so far.
  void Drain() {
    drainer_ = std::thread([this] {
      char buf[65536];
      for (;;) {
        const ssize_t n = read(reader_, buf, sizeof(buf));
        if (n > 0) {
          std::lock_guard<std::mutex> lock(mu_);
          text_.append(buf, static_cast<size_t>(n));
          continue;
        }
        if (n == 0) return;  // every writer closed
        pollfd p{reader_, POLLIN, 0};
        poll(&p, 1, 100);
      }
    });
  }
  // The reader goes (the shipper died): a blocked write fails, EPIPE.
  void CloseReader() {
    close(reader_);
    reader_ = -1;
  }
  // Waits for the drainer (it ends when every writer has closed) and
  // returns all it read.
  std::string Join() {
    if (drainer_.joinable()) drainer_.join();
    return text_;
  }

 private:
  int reader_ = -1;
  std::thread drainer_;
  std::mutex mu_;
  std::string text_;
};

// Lost lines and stderr reports of a log, as its hooks tell them (from
// the log's writer thread).
struct LossWatch {
  AccessLogHooks Hooks() {
    return AccessLogHooks{.lost_lines = &lost, .on_error = [this](std::string_view m) {
                            std::lock_guard<std::mutex> l(mu);
                            reports.emplace_back(m);
                          }};
  }
  std::atomic<uint64_t> lost{0};
  std::mutex mu;
  std::vector<std::string> reports;
};

// A log whose destination stops reading (a full pipe) costs lines, never
// the callers: Log() returns at once whatever the pipe does, lines past
// the buffer's bound are counted lost and reported, and once the reader
// is back the rest arrives whole. The reactors used to write the batches
// themselves: a full pipe froze the server, /healthz and /metrics
// included (an outside review). The bounded waits below only detect a
// hang (the old code blocked forever); they measure no speed.
TEST(AccessLogTest, AStalledPipeCostsLinesNotTheCallers) {
  const ::brisk::testing::TempDir dir;
  const std::string path = dir.path() + "/fifo";
  StalledFifo fifo(path);
  LossWatch watch;
  auto log = AccessLog::Open(path, watch.Hooks());
  ASSERT_TRUE(log.ok()) << log.status();
  constexpr int kLines = 100000;  // 8 MB: twice the bound
  auto logging = std::async(std::launch::async, [&] {
    for (int i = 0; i < kLines; ++i) LogOne(**log, 0, i);
  });
  const bool returned = logging.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  EXPECT_TRUE(returned) << "Log() blocked on the full pipe";
  EXPECT_FALSE((*log)->Flush(std::chrono::milliseconds(10)));  // the writer is blocked
  fifo.Drain();
  logging.wait();
  ASSERT_TRUE((*log)->Flush());
  const uint64_t dropped = watch.lost.load();
  EXPECT_GT(dropped, 0u);
  EXPECT_LT(dropped, static_cast<uint64_t>(kLines));
  log->reset();  // closes the FIFO's only writer: the drainer ends
  const std::string text = fifo.Join();
  const std::vector<std::string> lines = Lines(text);
  EXPECT_EQ(lines.size() + dropped, static_cast<uint64_t>(kLines));
  int torn = 0;
  for (const std::string& line : lines) {
    if (!WholeLine(line) && ++torn <= 3) ADD_FAILURE() << "torn line: " << line;
  }
  std::lock_guard<std::mutex> l(watch.mu);
  ASSERT_FALSE(watch.reports.empty());
  EXPECT_NE(watch.reports[0].find("not keeping up"), std::string::npos) << watch.reports[0];
}

// Lines lost to two causes (a shipper that stopped reading, then died)
// are reported with a count for each: the report blamed them all on the
// last cause ("write failed: Broken pipe; 3648 lines lost", most of which
// the full pipe had cost; an outside review).
TEST(AccessLogTest, AReportNamesEachCauseOfItsLosses) {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction previous {};
  ASSERT_EQ(sigaction(SIGPIPE, &ignore, &previous), 0);
  const ::brisk::testing::TempDir dir;
  const std::string path = dir.path() + "/fifo";
  StalledFifo fifo(path);
  LossWatch watch;
  auto log = AccessLog::Open(path, watch.Hooks());
  ASSERT_TRUE(log.ok()) << log.status();
  for (int i = 0; i < 100000; ++i) LogOne(**log, 0, i);  // 8 MB: twice the bound
  EXPECT_GT(watch.lost.load(), 0u);  // the buffer is full: the writer is blocked
  fifo.CloseReader();                // its write fails: what it held is lost too
  log->reset();
  ASSERT_EQ(sigaction(SIGPIPE, &previous, nullptr), 0);
  std::lock_guard<std::mutex> l(watch.mu);
  ASSERT_FALSE(watch.reports.empty());
  EXPECT_NE(watch.reports[0].find(" lines: the destination is not keeping up"), std::string::npos)
      << watch.reports[0];
  EXPECT_NE(watch.reports[0].find(" lines: write failed: Broken pipe"), std::string::npos)
      << watch.reports[0];
}

// Runs `call` on another thread; when it has not returned within 10 s (an
// open(2) of `fifo` waiting for a reader), gives the FIFO a reader so that
// it ends, and says it waited.
template <typename Call>
bool ReturnsWithoutAReader(const std::string& fifo, Call call) {
  auto done = std::async(std::launch::async, std::move(call));
  if (done.wait_for(std::chrono::seconds(10)) == std::future_status::ready) return true;
  const int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  done.wait();
  if (reader >= 0) close(reader);
  return false;
}

// A FIFO that no process reads: opening it to write waits for a reader.
// That held the start, or the thread that takes SIGHUP and then SIGTERM,
// for as long as no reader came (a server that ignored SIGTERM after its
// log shipper went away). Open and Reopen now refuse it at once, and a
// Reopen keeps the destination it had.
TEST(AccessLogTest, AFifoWithoutAReaderIsRefusedNotWaitedFor) {
  const ::brisk::testing::TempDir dir;
  const std::string path = dir.path() + "/fifo";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  absl::StatusOr<std::unique_ptr<AccessLog>> refused = absl::UnknownError("not run");
  ASSERT_TRUE(ReturnsWithoutAReader(path, [&] { refused = AccessLog::Open(path); }));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("no process reads"), std::string::npos)
      << refused.status();

  int reader = open(path.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  auto log = AccessLog::Open(path);
  ASSERT_TRUE(log.ok()) << log.status();
  close(reader);  // the shipper goes away
  absl::Status reopened = absl::UnknownError("not run");
  ASSERT_TRUE(ReturnsWithoutAReader(path, [&] { reopened = (*log)->Reopen(); }));
  EXPECT_NE(reopened.message().find("no process reads"), std::string::npos) << reopened;

  reader = open(path.c_str(), O_RDONLY | O_NONBLOCK);  // it comes back
  ASSERT_GE(reader, 0);
  LogOne(**log, 0, 1);
  ASSERT_TRUE((*log)->Flush());  // through the descriptor it kept
  char buf[256];
  const ssize_t n = read(reader, buf, sizeof(buf));
  ASSERT_GT(n, 0);
  EXPECT_TRUE(WholeLine(std::string(buf, static_cast<size_t>(n) - 1)));
  log->reset();
  close(reader);
}

// A log file it creates is 0644, as nginx's, whatever the umask lets
// through: under `umask 000` it was 0666, and any local user could write
// lines into it. Reopened after a rotation, the new file too.
TEST(AccessLogTest, ANewFileIsWritableByItsOwnerOnly) {
  const ::brisk::testing::TempDir dir;
  const std::string path = dir.path() + "/access.log";
  const mode_t old_umask = umask(0);
  auto log = AccessLog::Open(path);
  umask(old_umask);
  ASSERT_TRUE(log.ok()) << log.status();
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  umask(0);
  const absl::Status reopened = (*log)->Reopen();
  umask(old_umask);
  ASSERT_TRUE(reopened.ok()) << reopened;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

// open(2) fails with ENXIO on a Unix socket too (say /dev/log): that is
// said as the system says it, not as a FIFO without its reader.
TEST(AccessLogTest, AUnixSocketIsNotCalledAFifo) {
  const auto dir = ::brisk::testing::TempDir::Short("brisk-log");  // a socket path's 108 bytes
  const std::string path = dir.path() + "/s.sock";
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(a.sun_path));
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)), 0);
  auto log = AccessLog::Open(path);
  close(fd);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().message().find("FIFO"), std::string::npos) << log.status();
}

// Destroying a log whose destination is blocked (a server's shutdown with
// its log shipper gone quiet) returns after a bounded wait instead of
// hanging the process's exit; the lines still buffered are counted lost.
TEST(AccessLogTest, DestructionDoesNotWaitForABlockedDestinationForever) {
  const ::brisk::testing::TempDir dir;
  const std::string path = dir.path() + "/fifo";
  StalledFifo fifo(path);
  std::atomic<uint64_t> lost{0};
  auto log = AccessLog::Open(path, AccessLogHooks{.lost_lines = &lost,
                                                  .on_error = [](std::string_view) {}});
  ASSERT_TRUE(log.ok()) << log.status();
  // Fill the pipe (the writer then blocks), then buffer more behind it.
  for (int i = 0; i < 20000; ++i) LogOne(**log, 0, i);
  ASSERT_FALSE((*log)->Flush(std::chrono::milliseconds(10)));
  for (int i = 0; i < 100; ++i) LogOne(**log, 0, i);
  auto destroying = std::async(std::launch::async, [&] { log->reset(); });
  EXPECT_EQ(destroying.wait_for(std::chrono::seconds(60)), std::future_status::ready)
      << "the destructor waited for the blocked write";
  fifo.Drain();  // lets the abandoned writer finish and exit
  destroying.wait();
  EXPECT_GE(lost.load(), 100u);
}


// Whether a thread named brisk-accesslog (a log's writer) still runs.
bool AWriterThreadRuns() {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return false;
  bool found = false;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name == "brisk-accesslog") found = true;
  }
  closedir(dir);
  return found;
}

// A writer the destruction gave up on while it was blocked reporting (a
// stalled stderr), with a rotation pending, ends cleanly once unblocked:
// it took the emptied buffer and cut it where the rotation had been,
// past its end (std::out_of_range, the process aborted; white-box
// review). And the destruction after a Flush() that timed out waits
// 100 ms, not 2 s more (a drain's exit came 4 s after its timeout).
TEST(AccessLogTest, AWriterAbandonedWhileReportingEndsCleanly) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> reports{0};
  auto log = AccessLog::Open(
      "/dev/full", AccessLogHooks{.on_error = [&reports, released](std::string_view) {
        if (reports.fetch_add(1) == 0) released.wait();  // stderr stalled
      }});
  ASSERT_TRUE(log.ok()) << log.status();
  for (int i = 0; i < 10; ++i) LogOne(**log, 0, i);
  EXPECT_FALSE((*log)->Flush(std::chrono::milliseconds(50)));  // blocked reporting
  for (int i = 0; i < 10; ++i) LogOne(**log, 1, i);
  ASSERT_TRUE((*log)->Reopen().ok());
  auto destroying = std::async(std::launch::async, [&] { log->reset(); });
  EXPECT_EQ(destroying.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  release.set_value();
  destroying.wait();
  // The abandoned writer ends (it used to abort the process here).
  bool ended = false;
  for (int i = 0; i < 10000 && !(ended = !AWriterThreadRuns()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_TRUE(ended);
}

}  // namespace
}  // namespace brisk
