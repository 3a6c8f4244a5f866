// Request mix: how loadgen's command line describes the request classes of a
// run. One class is one line of text, the same in a `--request=` flag and in
// a line of a `--mix_file`:
//
//   NAME key=value key=value ...
//
//   fast rate=450 target=/cpu?us=1000 sla=20ms header="X-Request-Budget-Ms: 20"
//   score rate=800 method=POST target=/score body_file=tx.json
//         header="Content-Type: application/json" sla=5ms   (one line)
//
// NAME: letters, digits, '_', '-', '.' (it names output files and JSON
// entries). Keys: rate (requests per second, required), method, target
// (path and query), header (repeatable), body, body_file (read whole, as
// is; a relative path is relative to the working directory), sla (goodput
// budget, e.g. 20ms), connections (the class's own pool). A value is either
// bare (up to the next space or tab) or "double-quoted" with \" and \\ as
// the only escapes. A key not given takes its value from `defaults` (the
// global flags); the class's headers come after the default headers.
//
//   ClassSpec defaults{.method = "GET", .target = "/hello", .connections = 64};
//   absl::StatusOr<ClassSpec> c = ParseClassSpec("fast rate=100", defaults);
//   absl::StatusOr<std::vector<ClassSpec>> mix =
//       ParseMixFile(*ReadFile("mix.txt"), defaults);
//
// Pure functions over values, except that `body_file` is read while parsing.
// Thread-compatible.
#ifndef BRISK_TOOLS_LOADGEN_REQUEST_MIX_H_
#define BRISK_TOOLS_LOADGEN_REQUEST_MIX_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "net/clock.h"

namespace brisk::loadgen {

struct ClassSpec {
  std::string name;
  uint64_t rate = 0;
  std::string method = "GET";
  std::string target = "/hello";
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  net::Duration sla{0};  // 0: no goodput figure
  int connections = 64;
};

// The longest goodput threshold: the longest latency the recorders hold
// (2^32 - 1 us, about 71.6 minutes).
inline constexpr absl::Duration kMaxSla = absl::Microseconds(UINT32_MAX);

// Whether `sla` can be a goodput threshold: from 0 (none) up to kMaxSla;
// `inf` and negative values are not.
bool ValidSla(absl::Duration sla);

// Parses one class (see above). InvalidArgument, naming the offending part,
// for a missing or malformed NAME, an unknown or repeated key (header
// excepted), a missing or malformed value, body together with body_file, or
// a body_file that cannot be read.
absl::StatusOr<ClassSpec> ParseClassSpec(std::string_view text,
                                         const ClassSpec& defaults);

// Parses a mix file: one class per line; blank lines and lines whose first
// non-blank character is '#' are skipped. Errors say the line number. Does
// not check that names are unique (CheckClassNames does).
absl::StatusOr<std::vector<ClassSpec>> ParseMixFile(std::string_view text,
                                                    const ClassSpec& defaults);

// InvalidArgument when two classes share a name.
absl::Status CheckClassNames(const std::vector<ClassSpec>& classes);

// The whole content of a file, as is.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// The per-class output file: the class name inserted before the extension
// of the last path component, or appended when it has none:
// ("lat.csv", "fast") -> "lat.fast.csv"; ("out.d/lat", "fast") ->
// "out.d/lat.fast".
std::string ClassFileName(std::string_view path, std::string_view name);

}  // namespace brisk::loadgen

#endif  // BRISK_TOOLS_LOADGEN_REQUEST_MIX_H_
