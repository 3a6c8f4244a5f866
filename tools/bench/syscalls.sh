#!/usr/bin/env bash
# Kernel work per request, side by side: each server (brisk on epoll, brisk
# on io_uring, nginx, h2o; pinned to CPU 0, wrk on CPU 1, the peers' configs
# from tools/bench/peers) serves /hello for D seconds per mode while
#   - perf counts its system calls (raw_syscalls:sys_enter tracepoint),
#   - /proc/PID/stat gives its user and system CPU time,
# and the figures are divided by the requests wrk completed. Then, with
# STRACE=1, one more short run per server and mode under strace -c -f gives
# the calls by name (strace slows the server; only the counts are used).
# This VM exposes no hardware counters, so "kernel cycles" are given as
# system CPU microseconds per request.
#
# Usage: tools/bench/syscalls.sh [D=5] [SERVERS="epoll io_uring nginx h2o"]
#   MODES="c64 close" (env), BIN=path (a built brisk server binary),
#   BRISK_FLAGS="--defer_accept=false" (env: more flags for brisk).
# Loopback only; stops by itself. Ports 18080 (brisk), 18081 (nginx), 18082
# (h2o): refuses to start a server whose port is in use. Stops what it
# started (by pid), also on Ctrl-C or SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tools/bench/bench_lib.sh
source tools/bench/bench_lib.sh
D=${1:-5}
SERVERS=${2:-"epoll io_uring nginx h2o"}
MODES=${MODES:-"c64 close"}
PEERS_DIR=$(cd "${PEERS_DIR:-tools/bench/peers}" && pwd)
BUILT=""  # the binary built here, removed at the end
pid=""
perf_pid=""
st_pid=""
cleanup() {
  local p
  for p in $st_pid $perf_pid; do kill -INT "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -f "$BUILT"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [[ -z "${BIN:-}" ]]; then
  tools/bazel build -c opt //server:server >&2
  BIN=$(mktemp /tmp/brisk-sys-server.XXXXXX)
  BUILT=$BIN
  cp -f bazel-bin/server/server "$BIN"
  chmod +x "$BIN"
  tools/bazel shutdown >&2
fi
TICK=$(getconf CLK_TCK)

start() {
  case $1 in
    epoll|io_uring)
      exec taskset -c 0 "$BIN" --address=127.0.0.1 --port=18080 --reactors=1 \
        --workers=1 --io=$1 ${BRISK_FLAGS:-} ;;
    nginx) exec taskset -c 0 nginx -c "$PEERS_DIR/nginx.conf" ;;
    h2o)
      sed "s#H2O_ROOT#$PEERS_DIR/h2o-root#" "$PEERS_DIR/h2o.conf" > /tmp/sys-h2o.conf
      exec taskset -c 0 h2o -c /tmp/sys-h2o.conf ;;
  esac
}
port_of() { case $1 in nginx) echo 18081;; h2o) echo 18082;; *) echo 18080;; esac; }
# The process serving requests (nginx: its worker).
serving_pid() { if [[ $1 == nginx ]]; then pgrep -P "$2" | head -1; else echo "$2"; fi; }
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
load() {
  local mode=$1 url=$2 d=$3
  case $mode in
    c64) taskset -c 1 wrk -t1 -c64 -d${d}s "$url" ;;
    pipe16) taskset -c 1 wrk -t1 -c64 -d${d}s -s "$PEERS_DIR/pipeline.lua" "$url" ;;
    close) taskset -c 1 wrk -t1 -c16 -d${d}s -H 'Connection: close' "$url" ;;
  esac 2>&1
}
requests_of() { awk '/requests in/{print $1}'; }

printf "%-9s %-6s %10s %12s %12s %12s\n" server mode requests "syscalls/req" "sys_us/req" "user_us/req"
for name in $SERVERS; do
  for mode in $MODES; do
    port=$(port_of "$name")
    url=http://127.0.0.1:$port/hello
    port_free "$port"
    start "$name" >/tmp/sys-$name.log 2>&1 &
    pid=$!
    server_started "$name" "$pid" "$url" /tmp/sys-$name.log 50
    spid=$(serving_pid "$name" "$pid")
    read -r u0 s0 < <(cpu_ticks "$spid")
    perf stat -e raw_syscalls:sys_enter -p "$spid" -x, -o /tmp/sys-perf.txt &
    perf_pid=$!
    sleep 0.2
    out=$(load "$mode" "$url" "$D")
    kill -INT $perf_pid; wait $perf_pid 2>/dev/null || true
    perf_pid=""
    read -r u1 s1 < <(cpu_ticks "$spid")
    n=$(echo "$out" | requests_of)
    calls=$(awk -F, '/raw_syscalls/{print $1}' /tmp/sys-perf.txt)
    awk -v name="$name" -v mode="$mode" -v n="$n" -v c="$calls" \
        -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v t="$TICK" 'BEGIN {
      printf "%-9s %-6s %10d %12.2f %12.2f %12.2f\n", name, mode, n, c / n,
             s * 1e6 / t / n, u * 1e6 / t / n }'
    if [[ "${STRACE:-0}" == 1 ]]; then
      strace -c -f -p "$spid" -o /tmp/sys-strace-$name-$mode.txt &
      st_pid=$!
      sleep 0.3
      out=$(load "$mode" "$url" 2)
      kill -INT $st_pid; wait $st_pid 2>/dev/null || true
      st_pid=""
      n=$(echo "$out" | requests_of)
      echo "  strace -c ($name $mode, $n requests): calls per request"
      awk -v n="$n" '$1 ~ /^[0-9.]+$/ && NF >= 5 {
        name = $NF; calls = ($4 ~ /^[0-9]+$/) ? $4 : $3
        if (name != "total") printf "    %-16s %8.3f\n", name, calls / n }' \
        /tmp/sys-strace-$name-$mode.txt | sort -k2 -nr | head -8
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
    sleep 0.5
  done
done
