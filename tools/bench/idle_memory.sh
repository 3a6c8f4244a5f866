#!/usr/bin/env bash
# Memory per idle keep-alive connection: each server (brisk on epoll, brisk
# on io_uring, nginx with one worker) is started in turn, N keep-alive
# connections are opened to it, a quarter of them after one request each,
# and the growth of the serving process's resident memory (VmRSS) is divided
# by N. Loopback only; bounded; stops by itself.
#
# Usage: tools/bench/idle_memory.sh [N=8000] [SERVERS="epoll io_uring nginx"]
#   BIN=path  use this brisk server binary instead of building one.
# Port 18090: refuses to start a server if it is in use. Stops what it
# started (by pid), also on Ctrl-C or SIGTERM.
# Prints one line per server: name, connections, RSS before/after (KiB),
# bytes per connection.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-8000}
SERVERS=${2:-"epoll io_uring nginx"}
ulimit -n $((N + 2048))  # for this script's client and the servers it starts

# shellcheck source=tools/bench/bench_lib.sh
source tools/bench/bench_lib.sh

BUILT=""  # the binary built here, removed at the end
NGINX_CONF=""
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -f "$BUILT" "$NGINX_CONF"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [[ -z "${BIN:-}" ]]; then
  tools/bazel build -c opt //server:server >&2
  BIN=$(mktemp /tmp/brisk-idle-server.XXXXXX)
  BUILT=$BIN
  cp -f bazel-bin/server/server "$BIN"
  chmod +x "$BIN"
  tools/bazel shutdown >&2
fi
need_packages nginx-light curl

PORT=18090
NGINX_CONF=$(mktemp /tmp/brisk-idle-nginx.XXXXXX)
cat > "$NGINX_CONF" <<EOF
worker_processes 1;
daemon off;
pid /tmp/brisk-idle-nginx.pid;
error_log /tmp/brisk-idle-nginx.err warn;
worker_rlimit_nofile $((N + 2048));
events { worker_connections $((N + 1024)); use epoll; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 600s;
  server {
    listen 127.0.0.1:$PORT backlog=4096;
    location = /hello { default_type text/plain; return 200 "Hello, world!\n"; }
  }
}
EOF

# The process that holds the connections: brisk itself, nginx's worker.
serving_pid() {
  local name=$1 pid=$2
  if [[ $name == nginx ]]; then
    pgrep -P "$pid" | head -1
  else
    echo "$pid"
  fi
}

for name in $SERVERS; do
  port_free "$PORT"
  case $name in
    epoll|io_uring)
      "$BIN" --address=127.0.0.1 --port=$PORT --reactors=1 --workers=1 \
        --io=$name --idle_timeout=600s --max_connections=$((N + 1000)) \
        >/tmp/brisk-idle-$name.log 2>&1 &
      ;;
    nginx) nginx -c "$NGINX_CONF" >/tmp/brisk-idle-nginx.log 2>&1 & ;;
    *) echo "unknown server $name" >&2; exit 2 ;;
  esac
  pid=$!
  server_started "$name" "$pid" "http://127.0.0.1:$PORT/hello" "/tmp/brisk-idle-$name.log"
  spid=$(serving_pid "$name" "$pid")
  /usr/bin/python3 - "$name" "$spid" "$PORT" "$N" <<'PY'
import socket, sys, time

name, pid, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

def one_request(s):
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got or not got.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed")
        got += chunk
        if got.count(b"\n") >= 2 and got.endswith(b"world!\n"):
            break

# Warm the server with the same shape of traffic first (allocator pools,
# first-touch of buffers), so the delta is what the connections hold.
warm = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
for s in warm:
    one_request(s)
for s in warm:
    s.close()
time.sleep(0.5)
before = rss_kib()
conns = []
deadline = time.time() + 120
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if i % 4 == 0:
        one_request(s)
    conns.append(s)
    if time.time() > deadline:
        raise SystemExit("too slow")
# brisk defers accepting a connection that sent nothing (TCP_DEFER_ACCEPT,
# about 1 s): wait until every connection is in the server.
time.sleep(4.0)
after = rss_kib()
print(f"{name:9} conns={n} rss_before_kib={before} rss_after_kib={after} "
      f"bytes_per_conn={(after - before) * 1024 / n:.0f}")
for s in conns:
    s.close()
PY
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
  sleep 0.5
done
