#!/usr/bin/env bash
# Side-by-side throughput/latency of brisk against peer servers on /hello,
# using ../shared/bench/peers/run.sh (server pinned to CPU 0, wrk to CPU 1,
# servers taking turns, medians of ROUNDS rounds), then the ratio of each
# server's req/s and p99 to nginx's from the same run.
#
# Usage: tools/bench/peers.sh [SECONDS=5] [PEERS="nginx h2o"]
#   ROUNDS=3 (env) rounds per server. Loopback only; stops by itself.
# Modes: c64 (keep-alive, 64 connections), pipe16 (16 requests per write),
#        close (a new connection per request).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_RUN=${1:-5}
PEERS=${2:-"nginx h2o"}
export ROUNDS=${ROUNDS:-3}
RUN_SH=${RUN_SH:-../shared/bench/peers/run.sh}
[[ -x "$RUN_SH" || -f "$RUN_SH" ]] || { echo "missing $RUN_SH" >&2; exit 1; }

need=()
for p in wrk nginx-light h2o libcpp-httplib-dev libevent-dev curl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  echo "installing: ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
fi

tools/bazel build -c opt //server:server >&2
BIN=$(mktemp /tmp/brisk-bench-server.XXXXXX)
cp -f bazel-bin/server/server "$BIN"
tools/bazel shutdown >&2  # no JVM running beside the measurements
chmod +x "$BIN"
trap 'rm -f "$BIN"' EXIT
PORT=${SELF_PORT:-18080}
export SELF_PORT=$PORT
export SELF_CMD="$BIN --address=127.0.0.1 --port=$PORT --reactors=1 --workers=1"

OUT=$(bash "$RUN_SH" "$SECONDS_PER_RUN" $PEERS self)
echo "$OUT"
echo
echo "$OUT" | python3 <(cat <<'PY'
import sys
rows = {}
for line in sys.stdin:
    p = line.split()
    if len(p) >= 6 and p[1] in ("c64", "pipe16", "close"):
        rows[(p[0], p[1])] = (float(p[2]), float(p[4]))
names = sorted({n for n, _ in rows}, key=lambda n: (n != "self", n))
print("%-8s %-7s %10s %8s %8s %12s" % ("server", "mode", "req/s", "x nginx", "p99_us", "p99 x nginx"))
for n in names:
    for m in ("c64", "pipe16", "close"):
        if (n, m) not in rows:
            continue
        r, p99 = rows[(n, m)]
        base = rows.get(("nginx", m))
        rr = "%.2f" % (r / base[0]) if base and base[0] else "-"
        pr = "%.2f" % (p99 / base[1]) if base and base[1] and p99 == p99 else "-"
        print("%-8s %-7s %10.0f %8s %8.0f %12s" % ("brisk" if n == "self" else n, m, r, rr, p99, pr))
PY
)
