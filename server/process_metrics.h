// The process's own figures in the Prometheus client libraries' standard
// names (process_cpu_seconds_total, process_open_fds, process_max_fds,
// process_resident_memory_bytes, process_virtual_memory_bytes,
// process_start_time_seconds), read from /proc at each scrape: what an
// operator watches for a descriptor leak or a file limit about to be hit
// before connections wait in the backlog (brisk_accept_fd_limit_total
// counts them only after the fact).
//
// Thread-safe (reads /proc only). Linux only; a figure /proc does not give
// is left out rather than written as 0.

#ifndef BRISK_SERVER_PROCESS_METRICS_H_
#define BRISK_SERVER_PROCESS_METRICS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace brisk::internal {

// What /proc/self/stat gives (fields 14, 15, 22, 23, 24 of proc(5)), in
// its own units: clock ticks and pages.
struct ProcStat {
  uint64_t utime_ticks = 0;
  uint64_t stime_ticks = 0;
  uint64_t start_ticks = 0;  // since boot
  uint64_t vsize_bytes = 0;
  uint64_t rss_pages = 0;
};

// Parses a /proc/PID/stat line; the command name (field 2, in parentheses)
// may hold spaces and ')' (the last ')' ends it). nullopt if malformed.
std::optional<ProcStat> ParseProcStat(std::string_view line);

// The `btime` line of /proc/stat (boot time, Unix seconds); nullopt if
// absent or malformed.
std::optional<int64_t> ParseBootTime(std::string_view proc_stat);

// Appends the families above, reading /proc/self. Counting open
// descriptors lists /proc/self/fd: about 1 µs per descriptor, so ~10 ms
// with 8,000 connections open, once per scrape.
void AppendProcessMetrics(std::string* out);

}  // namespace brisk::internal

#endif  // BRISK_SERVER_PROCESS_METRICS_H_
