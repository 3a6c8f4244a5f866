#!/usr/bin/env bash
# Overload behaviour of brisk (its default, deadline-driven admission, and
# --admission=codel) vs cpp-httplib's default (thread-pool) server: a
# handler costing ~1 ms of CPU (GET /cpu?us=1000), offered by tools/loadgen
# (open-loop, latency from the scheduled send time) at 0.5x, 1x and 2x of
# each server's measured capacity. Server pinned to CPU 0, load generator and
# wrk to CPU 1. Loopback only; bounded in time; stops by itself.
#
# The clients state the SLA as their budget (X-Request-Budget-Ms, BUDGET ms,
# default the SLA): the deadline-driven policy uses it, CoDel only as the
# deadline timer, cpp-httplib not at all. BUDGET=0 sends none (brisk's
# request deadline, 5 s, then rules).
#
# SLA: a number and us, ms or s (100ms, 1.5s, 250us); BUDGET: whole ms, by
# default the SLA rounded up (at least 1).
# Usage: [SLA=100ms] [BUDGET=100] [ROUNDS=3] [OUT=docs/bench] tools/bench/overload.sh [SECONDS=10]
# Each (server, load) is run ROUNDS times, servers taking turns; medians are
# printed, because one run on a shared 2-core VM can catch a stray stall.
# Prints one row per server and load: offered rate, 2xx answered per second,
# goodput (2xx answered within the SLA, per second of the run) as a fraction
# of capacity, latency percentiles of the admitted (2xx) requests, 503s and
# errors; then the goal check:
#   at 2x, goodput >= 90% of capacity, and p99(2x) <= 5 x p99(0.5x).
# One picture per load (OUT/overload_0.5x.svg, _1x, _2x; OUT=none: none):
# the latency percentile spectrum of the 2xx answers, every server, from the
# middle round.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${1:-10}
CPU_US=${CPU_US:-1000}
SLA=${SLA:-100ms}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-docs/bench}
if ! [[ "$SLA" =~ ^[0-9]+(\.[0-9]+)?(us|ms|s)$ ]]; then
  echo "SLA: a number and us, ms or s (100ms, 1.5s, 250us), not '$SLA'" >&2; exit 2
fi
BUDGET=${BUDGET:-$(python3 -c "import math, re, sys; m = re.fullmatch(r'([0-9.]+)(us|ms|s)', sys.argv[1]); print(max(1, math.ceil(float(m.group(1)) * {'us': 1e-3, 'ms': 1, 's': 1e3}[m.group(2)])))" "$SLA")}
if ! [[ "$BUDGET" =~ ^[0-9]+$ ]]; then
  echo "BUDGET: whole milliseconds (0: none), not '$BUDGET'" >&2; exit 2
fi
BUDGET_FLAGS=()
if [[ "$BUDGET" != "0" ]]; then BUDGET_FLAGS=(--header="X-Request-Budget-Ms: $BUDGET"); fi
BPORT=18180
HPORT=18183

need=()
for p in wrk libcpp-httplib-dev curl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
fi

tools/bazel build //server:server //tools/loadgen:loadgen >&2
WORK=$(mktemp -d /tmp/brisk-overload.XXXXXX)
cp -f bazel-bin/server/server "$WORK/brisk"
cp -f bazel-bin/tools/loadgen/loadgen "$WORK/loadgen"
g++ -O2 -std=c++17 tools/bench/httplib_cpu.cc -o "$WORK/httplib_cpu" -lcpp-httplib -lpthread
# No JVM (the Bazel server) left running beside the measurements.
tools/bazel shutdown >&2
PID=""
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# shellcheck source=tools/bench/bench_lib.sh
source tools/bench/bench_lib.sh

start() {  # name -> sets PID and PORT
  case $1 in brisk) PORT=$BPORT ;; codel) PORT=$((BPORT + 1)) ;; httplib) PORT=$HPORT ;; esac
  port_free "$PORT" || return 1
  case $1 in
    brisk)   taskset -c 0 "$WORK/brisk" --address=127.0.0.1 --port=$BPORT \
               --reactors=1 --workers=1 >"$WORK/brisk.log" 2>&1 &
             PORT=$BPORT ;;
    codel)   taskset -c 0 "$WORK/brisk" --address=127.0.0.1 --port=$((BPORT + 1)) \
               --reactors=1 --workers=1 --admission=codel >"$WORK/codel.log" 2>&1 &
             PORT=$((BPORT + 1)) ;;
    httplib) taskset -c 0 "$WORK/httplib_cpu" $HPORT >"$WORK/httplib.log" 2>&1 &
             PORT=$HPORT ;;
  esac
  PID=$!
  server_started "$1" "$PID" "http://127.0.0.1:$PORT/hello" "$WORK/$1.log" 100 0.05
}
stop() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; PID=""; }

# Capacity: closed-loop wrk with a few connections (enough to keep the
# worker busy, few enough that nothing queues past the CoDel target); 2xx/s.
capacity() {
  local out total non2xx secs
  out=$(taskset -c 1 wrk -t1 -c4 -d${D}s "http://127.0.0.1:$PORT/cpu?us=$CPU_US" 2>&1)
  total=$(echo "$out" | awk '/requests in/{print $1}')
  non2xx=$(echo "$out" | awk '/Non-2xx/{print $NF}')
  secs=$(echo "$out" | awk '/requests in/{sub(/s,?$/,"",$4); print $4}')
  python3 -c "print(int((${total:-0} - ${non2xx:-0}) / float('${secs:-1}')))"
}

RESULTS="$WORK/results.jsonl"
for round in $(seq $ROUNDS); do
for server in brisk codel httplib; do
  start $server
  taskset -c 1 "$WORK/loadgen" --port=$PORT --path="/cpu?us=$CPU_US" --rate=200 \
    --duration=1s --connections=16 >/dev/null  # warm-up
  cap=$(capacity)
  echo "$server capacity: $cap req/s (2xx, closed loop, 4 connections)" >&2
  for factor in 0.5 1 2; do
    rate=$(python3 -c "print(max(1, int($cap * $factor)))")
    json=$(taskset -c 1 "$WORK/loadgen" --port=$PORT --path="/cpu?us=$CPU_US" \
             --rate=$rate --duration=${D}s --warmup=1s --connections=64 \
             --timeout=30s --sla=$SLA "${BUDGET_FLAGS[@]}" --json \
             --latency_out="$WORK/${factor}x.$server.r$round.csv" --latency_answers=2xx --plot_out=none)
    echo "{\"server\":\"$server\",\"round\":$round,\"factor\":$factor,\"capacity\":$cap,\"rate\":$rate,\"run\":$json}" >> "$RESULTS"
  done
  stop
done
done

python3 - "$RESULTS" "$D" "$SLA" "$OUT" "$WORK" "$ROUNDS" <<'PY'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
D = float(sys.argv[2])
groups = {}
for r in rows:
    run = r["run"]
    status = {int(k): v for k, v in run["status"].items()}
    ok = sum(v for k, v in status.items() if 200 <= k < 300)
    lat = run["latency_ok_us"]
    groups.setdefault((r["server"], r["factor"]), []).append(dict(
        capacity=r["capacity"], rate=r["rate"],
        answered=ok / D,                      # 2xx per second of the run, however late
        good=run["ok_within_sla"] / D,        # 2xx within the SLA
        p50=lat["p50"], p99=lat["p99"], p999=lat["p99.9"], max=lat["max"],
        shed=status.get(503, 0), errors=sum(run["errors"].values())))
med = lambda g, k: st.median(x[k] for x in g)
print(f"{'server':8} {'load':>5} {'offered':>8} {'2xx/s':>8} {'goodput':>8} {'good/cap':>8} "
      f"{'p50_ok':>8} {'p99_ok':>9} {'p99.9_ok':>9} {'max_ok':>9} {'503':>6} {'errors':>6}")
summary = {}
order = {"brisk": 0, "codel": 1, "httplib": 2}
for (server, factor), g in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1])):
    cap = med(g, "capacity")
    summary[(server, factor)] = (med(g, "good") / cap, med(g, "p99"))
    print(f"{server:8} {factor:>4}x {med(g, 'rate'):8.0f} {med(g, 'answered'):8.0f} "
          f"{med(g, 'good'):8.0f} {med(g, 'good') / cap:8.2f} {med(g, 'p50'):8.0f} "
          f"{med(g, 'p99'):9.0f} {med(g, 'p999'):9.0f} {med(g, 'max'):9.0f} "
          f"{med(g, 'shed'):6.0f} {med(g, 'errors'):6.0f}")
print(f"(medians of {len(next(iter(groups.values())))} rounds; goodput: 2xx within the SLA of "
      f"{sys.argv[3]} per second; latencies in us of 2xx answers, from the scheduled send time;"
      f" p99 per round: " + "; ".join(
          f"{s} {f}x " + "/".join(str(x["p99"]) for x in g) for (s, f), g in sorted(groups.items())) + ")")
for s in ("brisk", "codel", "httplib"):
    if (s, 2) in summary and (s, 0.5) in summary:
        g, p99 = summary[(s, 2)]
        # No 2xx at 2x: a p99 of 0 is no answer, not a fast one.
        ratio = p99 / max(1, summary[(s, 0.5)][1]) if p99 > 0 else float("inf")
        print(f"{s}: at 2x goodput {g:.2f} of capacity (goal >= 0.90), "
              f"p99(2x)/p99(0.5x) = {ratio:.1f} (goal <= 5)")

# One picture per load: the 2xx latency spectrum of every server, middle round.
import os, subprocess
out_dir, work, rounds = sys.argv[4], sys.argv[5], int(sys.argv[6])
if out_dir != "none":
    os.makedirs(out_dir, exist_ok=True)
    middle = (rounds + 1) // 2
    labels = {"brisk": "brisk (deadline)", "codel": "brisk (CoDel)", "httplib": "cpp-httplib"}
    for factor in ("0.5", "1", "2"):
        args = [f"{labels[s]}={work}/{factor}x.{s}.r{middle}.csv" for s in ("brisk", "codel", "httplib")
                if os.path.exists(f"{work}/{factor}x.{s}.r{middle}.csv")]
        if args:
            path = f"{out_dir}/overload_{factor}x.svg"
            done = subprocess.run(["python3", "tools/bench/plot_latency.py", f"--out={path}",
                                   f"--title=1 ms CPU handler at {factor}x capacity: latency of 2xx answers "
                                   f"(open loop, SLA {sys.argv[3]}, round {middle} of {rounds})"] + args)
            if done.returncode == 0:
                print(f"wrote {path}")
PY
