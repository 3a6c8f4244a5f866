#include "server/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace brisk::internal {
namespace {

std::optional<std::string> ReadSmallFile(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Open descriptors of this process, or -1 if /proc/self/fd cannot be read.
int64_t CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int64_t n = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the directory's own descriptor, open while it is read
}

}  // namespace

std::optional<ProcStat> ParseProcStat(std::string_view line) {
  const size_t close = line.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  // Fields from 3 (state) on, after the command name.
  const std::string rest(line.substr(close + 1));
  const std::vector<absl::string_view> f = absl::StrSplit(rest, ' ', absl::SkipEmpty());
  // Field k of proc(5) is f[k - 3].
  if (f.size() < 22) return std::nullopt;
  ProcStat s;
  const auto field = [&f](int k, uint64_t* v) {
    return absl::SimpleAtoi(std::string(f[k - 3]), v);
  };
  if (!field(14, &s.utime_ticks) || !field(15, &s.stime_ticks) || !field(22, &s.start_ticks) ||
      !field(23, &s.vsize_bytes) || !field(24, &s.rss_pages)) {
    return std::nullopt;
  }
  return s;
}

std::optional<int64_t> ParseBootTime(std::string_view proc_stat) {
  const std::string text(proc_stat);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.substr(0, 6) != "btime ") continue;
    int64_t t;
    if (absl::SimpleAtoi(std::string(line.substr(6)), &t)) return t;
    return std::nullopt;
  }
  return std::nullopt;
}

void AppendProcessMetrics(std::string* out) {
  const long ticks = sysconf(_SC_CLK_TCK);
  const long page = sysconf(_SC_PAGESIZE);
  const std::optional<std::string> stat_line = ReadSmallFile("/proc/self/stat");
  const std::optional<ProcStat> stat =
      stat_line.has_value() ? ParseProcStat(*stat_line) : std::nullopt;
  if (stat.has_value() && ticks > 0) {
    absl::StrAppendFormat(out,
                          "# HELP process_cpu_seconds_total User and system CPU time spent, "
                          "seconds.\n# TYPE process_cpu_seconds_total counter\n"
                          "process_cpu_seconds_total %.2f\n",
                          static_cast<double>(stat->utime_ticks + stat->stime_ticks) / ticks);
  }
  const int64_t open_fds = CountOpenFds();
  if (open_fds >= 0) {
    absl::StrAppendFormat(out,
                          "# HELP process_open_fds Open file descriptors (connections, "
                          "listeners, files).\n# TYPE process_open_fds gauge\n"
                          "process_open_fds %d\n",
                          open_fds);
  }
  if (rlimit lim; getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    absl::StrAppendFormat(out,
                          "# HELP process_max_fds The open-file limit (RLIMIT_NOFILE, soft).\n"
                          "# TYPE process_max_fds gauge\nprocess_max_fds %d\n",
                          static_cast<uint64_t>(lim.rlim_cur));
  }
  if (!stat.has_value()) return;
  absl::StrAppendFormat(out,
                        "# HELP process_virtual_memory_bytes Virtual memory size, bytes.\n"
                        "# TYPE process_virtual_memory_bytes gauge\n"
                        "process_virtual_memory_bytes %d\n",
                        stat->vsize_bytes);
  if (page > 0) {
    absl::StrAppendFormat(out,
                          "# HELP process_resident_memory_bytes Resident memory size, bytes.\n"
                          "# TYPE process_resident_memory_bytes gauge\n"
                          "process_resident_memory_bytes %d\n",
                          stat->rss_pages * static_cast<uint64_t>(page));
  }
  // Fixed for the process's life: /proc/stat is read at the first scrape
  // only.
  static const std::optional<double> start_time = [&]() -> std::optional<double> {
    const std::optional<std::string> proc_stat = ReadSmallFile("/proc/stat");
    const std::optional<int64_t> boot =
        proc_stat.has_value() ? ParseBootTime(*proc_stat) : std::nullopt;
    if (!boot.has_value() || ticks <= 0) return std::nullopt;
    return static_cast<double>(*boot) + static_cast<double>(stat->start_ticks) / ticks;
  }();
  if (start_time.has_value()) {
    absl::StrAppendFormat(out,
                          "# HELP process_start_time_seconds When the process started, Unix "
                          "time.\n# TYPE process_start_time_seconds gauge\n"
                          "process_start_time_seconds %.2f\n",
                          *start_time);
  }
}

}  // namespace brisk::internal
