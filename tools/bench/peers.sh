#!/usr/bin/env bash
# Side-by-side throughput/latency of brisk against peer servers on /hello,
# using tools/bench/peers/run.sh (server pinned to CPU 0, wrk to CPU 1,
# servers taking turns, medians of ROUNDS rounds), then the ratio of each
# server's req/s and p99 to nginx's from the same run.
#
# Usage: tools/bench/peers.sh [SECONDS=5] [PEERS="nginx h2o"]
#   ROUNDS=3 (env) rounds per server. Loopback only; stops by itself.
#   BIN=path (env): a brisk server binary built beforehand (else one is
#   built with -c opt).
#   IO="epoll io_uring" (env): the brisk backends measured in the same run
#   ("brisk" = --io=epoll, "brisk-uring" = --io=io_uring).
#   OUT=docs/bench (env): where the pictures go (below); OUT=none: none.
#   QUOTA=PCT (env): every server (nginx's workers and h2o's threads too) is
#   held to PCT percent of its core by a CPU cgroup (bench_lib.sh's
#   cpu_quota_cgroup; root), so the server, not wrk's core, limits each
#   mode: req/s then compares the servers' CPU cost. Latency includes the
#   throttling (up to 10 ms periods), the same for every server. A server
#   that cannot join the group is not started, and the run stops.
# Ports: run.sh's (nginx 18081, h2o 18082, httplib 18083, evhttp 18084),
# brisk SELF_PORT=18080 and brisk on io_uring URING_PORT=18091; a port
# already in use stops the run (it would measure whatever holds it). On
# exit, Ctrl-C or SIGTERM the run.sh it started is stopped (and stops its
# server), then the cgroup is removed.
# Modes: c64 (keep-alive, 64 connections), pipe16 (16 requests per write),
#        close (a new connection per request).
# Pictures: one latency percentile spectrum per mode (c64, close) with every
# server of the run, from wrk's own histogram of the middle round
# (wrk_spectrum.lua), as OUT/peers_c64.svg and OUT/peers_close.svg. None for
# pipe16: wrk's latency figures for pipelined requests are not meaningful
# (it times a pipeline's first request).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tools/bench/bench_lib.sh
source tools/bench/bench_lib.sh
SECONDS_PER_RUN=${1:-5}
PEERS=${2:-"nginx h2o"}
export ROUNDS=${ROUNDS:-3}
RUN_SH=${RUN_SH:-tools/bench/peers/run.sh}
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

if [[ -n "${BIN:-}" ]]; then  # a brisk server binary built beforehand
  cp -f "$BIN" "${BIN}.bench"
  BIN="${BIN}.bench"
else
  tools/bazel build -c opt //server:server >&2
  BIN=$(mktemp /tmp/brisk-bench-server.XXXXXX)
  cp -f bazel-bin/server/server "$BIN"
  tools/bazel shutdown >&2  # no JVM running beside the measurements
fi
chmod +x "$BIN"
trap 'rm -f "$BIN"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
PORT=${SELF_PORT:-18080}
export SELF_PORT=$PORT
export SELF_CMD="$BIN --address=127.0.0.1 --port=$PORT --reactors=1 --workers=1 --io=epoll"
IO=${IO:-"epoll io_uring"}
SELVES=()
for io in $IO; do
  case $io in
    epoll) SELVES+=(self) ;;
    io_uring) SELVES+=(uring) ;;
    *) echo "IO: epoll or io_uring, not $io" >&2; exit 2 ;;
  esac
done
# run.sh knows one brisk ("self"); a copy taught a second one ("uring", the
# same binary with --io=io_uring) takes turns with the rest in the same run.
# Not PORT + 1: that is nginx's 18081 in run.sh.
export URING_PORT=${URING_PORT:-18091}
export URING_CMD="$BIN --address=127.0.0.1 --port=$URING_PORT --reactors=1 --workers=1 --io=io_uring"
RUN_DIR=$(cd "$(dirname "$RUN_SH")" && pwd)
RUN_COPY=$(mktemp /tmp/brisk-bench-run.XXXXXX)
OUT=${OUT:-docs/bench}
export SPECTRUM_DIR=$(mktemp -d /tmp/brisk-bench-spectra.XXXXXX)
export SPECTRUM_LUA="$PWD/tools/bench/wrk_spectrum.lua"
export QUOTA_PROCS=""
RUN_PID=""
cleanup() {
  if [[ -n "$RUN_PID" ]]; then
    kill "$RUN_PID" 2>/dev/null || true
    wait "$RUN_PID" 2>/dev/null || true
  fi
  rm -rf "$BIN" "$RUN_COPY" "$SPECTRUM_DIR"
  cpu_quota_cgroup_remove "$QUOTA_PROCS" || true  # says so if it could not
}
trap cleanup EXIT
if [[ -n "${QUOTA:-}" ]]; then
  QUOTA_PROCS=$(cpu_quota_cgroup "$QUOTA")
  echo "servers held to ${QUOTA}% of CPU 0 (cgroup $(dirname "$QUOTA_PROCS"))" >&2
fi
# The copy also runs wrk with wrk_spectrum.lua in the c64 and close modes, so
# each run leaves its latency distribution in SPECTRUM_DIR/MODE.NAME.rROUND.csv.
sed -e "s#^cd \"\$(dirname \"\$0\")\"#cd \"$RUN_DIR\"#" \
    -e '/^ *c64) /s#wrk -t1#env WRK_SPECTRUM_OUT=${SPECTRUM_DIR}/$mode.$n.r$round.csv wrk -s ${SPECTRUM_LUA} -t1#' \
    -e '/^ *close) /s#wrk -t1#env WRK_SPECTRUM_OUT=${SPECTRUM_DIR}/$mode.$n.r$round.csv wrk -s ${SPECTRUM_LUA} -t1#' \
    -e 's#self) echo ${SELF_PORT:-8080};;#self) echo ${SELF_PORT:-8080};; uring) echo ${URING_PORT};;#' \
    -e 's#^\(    self) .*\)$#\1\n    uring)   exec taskset -c 0 ${URING_CMD} ;;#' \
    -e 's#^start() {$#start() {\n  if [ -n "${QUOTA_PROCS:-}" ] \&\& ! echo $BASHPID > "$QUOTA_PROCS"; then echo "cannot join $QUOTA_PROCS" >\&2; exit 1; fi#' \
    "$RUN_SH" > "$RUN_COPY"

# In the background and waited for, so that a signal here stops it at once.
# shellcheck disable=SC2086
bash "$RUN_COPY" "$SECONDS_PER_RUN" $PEERS "${SELVES[@]}" > "$SPECTRUM_DIR/results" &
RUN_PID=$!
wait "$RUN_PID"
RUN_PID=""
RESULTS=$(cat "$SPECTRUM_DIR/results")
echo "$RESULTS"
echo
echo "$RESULTS" | python3 <(cat <<'PY'
import sys
rows = {}
for line in sys.stdin:
    p = line.split()
    if len(p) >= 6 and p[1] in ("c64", "pipe16", "close"):
        rows[(p[0], p[1])] = (float(p[2]), float(p[4]))
label = {"self": "brisk", "uring": "brisk-ur"}
names = sorted({n for n, _ in rows}, key=lambda n: (n not in label, n != "self", n))
peers = [n for n in names if n not in label]
print("%-8s %-7s %10s %8s %8s %8s %12s %10s" % ("server", "mode", "req/s", "x nginx", "x best", "p99_us", "p99 x nginx", "p99 x best"))
for n in names:
    for m in ("c64", "pipe16", "close"):
        if (n, m) not in rows:
            continue
        r, p99 = rows[(n, m)]
        base = rows.get(("nginx", m))
        peer_r = [rows[(q, m)][0] for q in peers if (q, m) in rows]
        peer_p = [rows[(q, m)][1] for q in peers if (q, m) in rows and rows[(q, m)][1] == rows[(q, m)][1]]
        rr = "%.2f" % (r / base[0]) if base and base[0] else "-"
        pr = "%.2f" % (p99 / base[1]) if base and base[1] and p99 == p99 else "-"
        rb = "%.2f" % (r / max(peer_r)) if peer_r and max(peer_r) else "-"
        pb = "%.2f" % (p99 / min(peer_p)) if peer_p and min(peer_p) and p99 == p99 else "-"
        print("%-8s %-7s %10.0f %8s %8s %8.0f %12s %10s" % (label.get(n, n), m, r, rr, rb, p99, pr, pb))
PY
)

if [[ "$OUT" != none ]]; then
  mkdir -p "$OUT"
  middle=$(( (ROUNDS + 1) / 2 ))
  for mode in c64 close; do
    args=()
    for n in "${SELVES[@]}" $PEERS; do
      csv="$SPECTRUM_DIR/$mode.$n.r$middle.csv"
      case $n in self) label="brisk (epoll)" ;; uring) label="brisk (io_uring)" ;; *) label=$n ;; esac
      [[ -s "$csv" ]] && args+=("$label=$csv")
    done
    case $mode in
      c64) title="/hello, keep-alive, 64 connections (wrk, closed loop, 1 core each; round $middle of $ROUNDS)" ;;
      close) title="/hello, a new connection per request, 16 at a time (wrk, 1 core each; round $middle of $ROUNDS)" ;;
    esac
    if ((${#args[@]})); then
      python3 tools/bench/plot_latency.py --out="$OUT/peers_$mode.svg" --title="$title" "${args[@]}"
      echo "wrote $OUT/peers_$mode.svg"
    fi
  done
fi
