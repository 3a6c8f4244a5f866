#!/usr/bin/env bash
# --reactors scaling on this machine: brisk with 1 and 2 reactors (each its
# own SO_REUSEPORT listener and loop), taking turns for ROUNDS rounds, with
# wrk (2 threads) sharing the same cores, nothing pinned; medians printed.
# On a 2-core VM the load generator competes with the server for the CPUs,
# so this measures the overhead and the direction, not N-core scaling.
#
# Usage: tools/bench/reactors.sh [D=5] [IO="epoll io_uring"]
#   ROUNDS=3, BIN=path (a built brisk server binary). Loopback only; port
#   18085 (refuses to run if it is in use); stops what it started (by pid),
#   also on Ctrl-C or SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tools/bench/bench_lib.sh
source tools/bench/bench_lib.sh
D=${1:-5}
IO=${2:-"epoll io_uring"}
ROUNDS=${ROUNDS:-3}
BUILT=""  # the binary built here, removed at the end
RAW=""
LOG=""
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -f "$BUILT" "$RAW" "$LOG"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [[ -z "${BIN:-}" ]]; then
  tools/bazel build -c opt //server:server >&2
  BIN=$(mktemp /tmp/brisk-reactors-server.XXXXXX)
  BUILT=$BIN
  cp -f bazel-bin/server/server "$BIN"
  chmod +x "$BIN"
  tools/bazel shutdown >&2
fi
RAW=$(mktemp /tmp/brisk-reactors.XXXXXX)
LOG=$(mktemp /tmp/brisk-reactors-log.XXXXXX)  # the server's
URL=http://127.0.0.1:18085/hello
for _ in $(seq "$ROUNDS"); do
  for io in $IO; do
    for n in 1 2; do
      port_free 18085
      "$BIN" --address=127.0.0.1 --port=18085 --reactors=$n --workers=1 \
        --io=$io >"$LOG" 2>&1 &
      pid=$!
      server_started "brisk --io=$io --reactors=$n" "$pid" $URL "$LOG" 50
      for mode in c64 close; do
        case $mode in
          c64) out=$(wrk -t2 -c64 -d${D}s $URL 2>&1) ;;
          close) out=$(wrk -t2 -c16 -d${D}s -H 'Connection: close' $URL 2>&1) ;;
        esac
        echo "$io $n $mode $(echo "$out" | awk '/Requests\/sec/{print $2}')" >> "$RAW"
      done
      kill $pid; wait $pid 2>/dev/null || true
      pid=""
      sleep 0.5
    done
  done
done
/usr/bin/python3 - "$RAW" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    io, n, mode, rps = line.split()
    rows.setdefault((io, mode, n), []).append(float(rps))
print("%-9s %-6s %12s %12s %8s" % ("io", "mode", "1 reactor", "2 reactors", "2 / 1"))
for io, mode in sorted({(k[0], k[1]) for k in rows}):
    one = statistics.median(rows[(io, mode, "1")])
    two = statistics.median(rows[(io, mode, "2")])
    print("%-9s %-6s %12.0f %12.0f %8.2f" % (io, mode, one, two, two / one))
PY
