#!/usr/bin/env bash
# HTTPS side by side: brisk against nginx and h2o, each with TLS on the same
# ECDSA P-256 certificate (made here with `openssl req`), one worker/thread
# pinned to CPU 0, the clients pinned to CPU 1, on /hello. Servers take
# turns (A B C A B C ...) for ROUNDS rounds; medians are printed, then each
# server's req/s and p99 relative to the best peer of the same run.
#
# Usage: [ROUNDS=3] [CONNS=16] [MODES="c64 full resumed close"] \
#          tools/bench/tls_peers.sh [SECONDS=5] [SERVERS="brisk nginx h2o"]
# Modes (all TLS 1.3, the clients' default):
#   c64      keep-alive, 64 connections (wrk)
#   full     a new connection per request, full handshake every time
#            (tools/bench/tls_connect, CONNS connections; wrk cannot do it:
#            it resumes its previous session on every reconnect)
#   resumed  a new connection per request, resuming the slot's previous
#            session with a ticket (tls_connect --resume)
#   close    wrk -H 'Connection: close' (CONNS connections): a new connection
#            per request as wrk does it, i.e. resumed
# The `resumed` column is the share of handshakes the server resumed, as the
# client saw it. Loopback only (ports 18443-18445: refuses to start a server
# whose port is in use); bounded in time; stops every process it started (by
# pid), also on Ctrl-C or SIGTERM, and removes its files.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${1:-5}
SERVERS=${2:-"brisk nginx h2o"}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-16}
MODES=${MODES:-"c64 full resumed close"}
declare -A PORTS=([brisk]=18445 [nginx]=18443 [h2o]=18444)

# shellcheck source=tools/bench/bench_lib.sh
source tools/bench/bench_lib.sh
need_packages wrk nginx-light h2o curl openssl

tools/bazel build -c opt //server:server //tools/bench:tls_connect >&2
WORK=$(mktemp -d /tmp/brisk-tls-peers.XXXXXX)
cp -f bazel-bin/server/server "$WORK/brisk"
cp -f bazel-bin/tools/bench/tls_connect "$WORK/tls_connect"
tools/bazel shutdown >&2  # no JVM running beside the measurements
PID=""
cleanup() {
  if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One certificate for everyone (no key is kept: the directory is removed).
make_ecdsa_cert "$WORK"
mkdir -p "$WORK/root"
printf 'Hello, World!\n' > "$WORK/root/hello"
# h2o started as root serves files as "nobody" (it reads the key first).
chmod 755 "$WORK" "$WORK/root"
chmod 644 "$WORK/root/hello"
cat > "$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err warn;
events { worker_connections 4096; use epoll; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${PORTS[nginx]} ssl reuseport backlog=4096;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location = /hello { default_type text/plain; return 200 "Hello, World!\n"; }
  }
}
EOF
cat > "$WORK/h2o.conf" <<EOF
num-threads: 1
listen:
  host: 127.0.0.1
  port: ${PORTS[h2o]}
  ssl:
    certificate-file: $WORK/cert.pem
    key-file: $WORK/key.pem
    minimum-version: TLSv1.2
hosts:
  default:
    paths:
      /:
        file.dir: $WORK/root
EOF

start() {  # name -> PID
  port_free "${PORTS[$1]}" || return 1
  case $1 in
    brisk) taskset -c 0 "$WORK/brisk" --address=127.0.0.1 --port=${PORTS[brisk]} \
             --reactors=1 --workers=1 --tls_cert="$WORK/cert.pem" \
             --tls_key="$WORK/key.pem" >"$WORK/brisk.log" 2>&1 & ;;
    nginx) taskset -c 0 nginx -c "$WORK/nginx.conf" >"$WORK/nginx.log" 2>&1 & ;;
    h2o)   taskset -c 0 h2o -c "$WORK/h2o.conf" >"$WORK/h2o.log" 2>&1 & ;;
  esac
  PID=$!
  for _ in $(seq 100); do
    pid_alive "$PID" || break
    [[ $(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:${PORTS[$1]}/hello") == 200 ]] &&
      pid_alive "$PID" && return 0
    sleep 0.05
  done
  # Gone (it could not bind?) or never answered 200: what answered, if
  # anything, is not it.
  echo "$1 (pid $PID) did not start on port ${PORTS[$1]}; end of $WORK/$1.log:" >&2
  tail -n 20 "$WORK/$1.log" >&2 || true
  return 1
}
stop() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; }

RAW="$WORK/raw"
: > "$RAW"
# Each row: name mode req/s p99_us resumed errors server_cpu_ns_per_request
wrk_row() {  # name mode wrk-args...
  local n=$1 m=$2; shift 2
  local c0 c1 requests rps p99 err
  c0=$(cpu_ns "$PID")
  read -r requests rps p99 err < <(taskset -c 1 timeout --foreground $((D + 20)) \
    wrk -t1 -d${D}s --latency "$@" 2>&1 | wrk_fields)
  c1=$(cpu_ns "$PID")
  echo "$n $m $rps $p99 nan $err $(((c1 - c0) / (requests > 0 ? requests : 1)))" >> "$RAW"
}
connect_row() {  # name mode tls_connect-args...
  local n=$1 m=$2; shift 2
  local c0 c1 out
  c0=$(cpu_ns "$PID")
  out=$(taskset -c 1 timeout --foreground $((D + 20)) "$WORK/tls_connect" --seconds="$D" "$@" 2>&1 || true)
  c1=$(cpu_ns "$PID")
  echo "$out" | awk -v n="$n" -v m="$m" -v cpu=$((c1 - c0)) \
    '/^requests/{printf "%s %s %s %s %s %s %d\n", n, m, $4, $8, $10, $12, cpu / ($2 > 0 ? $2 : 1)}' >> "$RAW"
}

for round in $(seq "$ROUNDS"); do
  for n in $SERVERS; do
    start "$n"
    url="https://127.0.0.1:${PORTS[$n]}/hello"
    for m in $MODES; do
      case $m in
        c64) wrk_row "$n" c64 -c64 "$url" ;;
        full) connect_row "$n" full --port="${PORTS[$n]}" --connections="$CONNS" ;;
        resumed) connect_row "$n" resumed --port="${PORTS[$n]}" --connections="$CONNS" --resume ;;
        close) wrk_row "$n" close -c"$CONNS" -H 'Connection: close' "$url" ;;
      esac
    done
    stop
    sleep 0.5
  done
done

python3 - "$RAW" $SERVERS <<'PY'
import sys, statistics as st
raw, names = sys.argv[1], sys.argv[2:]
rows = {}
for line in open(raw):
    n, m, rps, p99, resumed, err, cpu = line.split()
    rows.setdefault((n, m), []).append(
        (float(rps), float(p99), float(resumed), int(float(err)), float(cpu) / 1000))
modes = ("c64", "full", "resumed", "close")
med = {}
for k, v in rows.items():
    med[k] = dict(rps=st.median(x[0] for x in v), p99=st.median(x[1] for x in v),
                  res=st.median(x[2] for x in v), err=sum(x[3] for x in v),
                  cpu=st.median(x[4] for x in v), lo=min(x[0] for x in v),
                  hi=max(x[0] for x in v))
rounds = len(next(iter(rows.values())))
print(f"median of {rounds} rounds. x peer: against the best other server of the same mode "
      "(req/s: >1 is faster; p99: <1 is better; CPU: the peer's CPU per request over this "
      "one's, >1 is cheaper)")
print(f"{'server':7} {'mode':8} {'req/s':>9} {'min-max':>15} {'p99_us':>8} {'resumed':>8} "
      f"{'errors':>6} {'cpu_us/req':>10} {'req/s x':>8} {'p99 x':>6} {'cpu x':>6}")
def fmt(v, spec):
    return format(v, spec) if v == v else format("-", ">" + spec.split(".")[0])
for n in names:
    for m in modes:
        if (n, m) not in med:
            continue
        r = med[(n, m)]
        peers = [med[(p, m)] for p in names if p != n and (p, m) in med]
        fast = max(peers, key=lambda x: x["rps"]) if peers else None
        cheap = min(peers, key=lambda x: x["cpu"]) if peers else None
        ratio = f"{r['rps'] / fast['rps']:.2f}" if fast and fast["rps"] else "-"
        p99r = f"{r['p99'] / fast['p99']:.2f}" if fast and fast["p99"] and r["p99"] == r["p99"] else "-"
        cpur = f"{cheap['cpu'] / r['cpu']:.2f}" if cheap and r["cpu"] else "-"
        span = f"{r['lo']:.0f}-{r['hi']:.0f}"
        print(f"{n:7} {m:8} {r['rps']:9.0f} {span:>15} {fmt(r['p99'], '8.0f')} "
              f"{fmt(r['res'], '8.2f')} {r['err']:6d} {r['cpu']:10.1f} {ratio:>8} {p99r:>6} {cpur:>6}")
PY
