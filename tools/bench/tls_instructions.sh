#!/usr/bin/env bash
# Instructions per TLS handshake, brisk against nginx, counted rather than
# timed: each server runs alone under `valgrind --tool=callgrind` (nginx
# with master_process off: one process), tools/bench/tls_connect opens one
# connection per request (TLS 1.3, ECDSA P-256) for a SHORT and a LONG
# window, and the difference of the two totals over the difference of the
# connections is what one more handshake costs (start-up and exit cancel
# out). User-space instructions of the server process with libcrypto,
# libssl and libc included; the client is not counted. A shared VM's noise
# changes how many connections fit in a window, not what each one costs.
#
# Usage: tools/bench/tls_instructions.sh [SHORT=5] [LONG=30] [MODES="resumed full"]
# Loopback only (port 18543: refuses to run if it is in use); bounded in
# time; stops what it started (by pid), also on Ctrl-C or SIGTERM, and
# removes its files.
set -euo pipefail
cd "$(dirname "$0")/../.."
SHORT=${1:-5}
LONG=${2:-30}
MODES=${3:-"resumed full"}
PORT=18543

# shellcheck source=tools/bench/bench_lib.sh
source tools/bench/bench_lib.sh
need_packages valgrind nginx-light curl openssl

tools/bazel build -c opt //server:server //tools/bench:tls_connect >&2
WORK=$(mktemp -d /tmp/brisk-tls-instr.XXXXXX)
cp -f bazel-bin/server/server "$WORK/brisk"
cp -f bazel-bin/tools/bench/tls_connect "$WORK/tls_connect"
tools/bazel shutdown >&2
PID=""
cleanup() {
  if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

make_ecdsa_cert "$WORK"
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
master_process off;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err warn;
events { worker_connections 4096; use epoll; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$PORT ssl backlog=4096;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location = /hello { default_type text/plain; return 200 "Hello, World!\n"; }
  }
}
CONF

# name mode seconds -> MEASURED="CONNECTIONS INSTRUCTIONS". Run in this
# shell, not in $(...) or <(...): PID must be this shell's for cleanup.
measure() {
  local out="$WORK/$1.$2.$3.cg" log="$WORK/$1.log" arg="" n t
  port_free "$PORT" || exit 1
  case $1 in
    brisk) valgrind --tool=callgrind --callgrind-out-file="$out" "$WORK/brisk" \
             --address=127.0.0.1 --port=$PORT --reactors=1 --workers=1 \
             --tls_cert="$WORK/cert.pem" --tls_key="$WORK/key.pem" >"$log" 2>&1 & ;;
    nginx) valgrind --tool=callgrind --callgrind-out-file="$out" nginx -c "$WORK/nginx.conf" \
             >"$log" 2>&1 & ;;
  esac
  PID=$!
  # valgrind starts slowly
  server_started "$1" "$PID" "https://127.0.0.1:$PORT/hello" "$log" 300 || exit 1
  [[ $2 == resumed ]] && arg=--resume
  n=$(timeout --foreground $(($3 + 60)) "$WORK/tls_connect" --port=$PORT --connections=4 \
        --seconds="$3" $arg 2>&1 | awk '/^requests/{print $2}')
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  t=$(awk '/^(summary|totals):/{print $2; exit}' "$out")
  MEASURED="${n:-0} ${t:-0}"
}

printf '%-6s %-8s %12s %16s\n' server mode connections instr/handshake
for m in $MODES; do
  declare -A per=()
  for s in brisk nginx; do
    measure "$s" "$m" "$SHORT"
    read -r n1 t1 <<< "$MEASURED"
    measure "$s" "$m" "$LONG"
    read -r n2 t2 <<< "$MEASURED"
    if (( n2 <= n1 )); then echo "$s $m: no more connections in the long window" >&2; exit 1; fi
    per[$s]=$(( (t2 - t1) / (n2 - n1) ))
    printf '%-6s %-8s %12d %16d\n' "$s" "$m" $((n2 - n1)) "${per[$s]}"
  done
  awk -v m="$m" -v b="${per[brisk]}" -v n="${per[nginx]}" \
    'BEGIN{printf "%s: brisk/nginx instructions per handshake %.3f\n", m, b / n}'
  unset per
done
