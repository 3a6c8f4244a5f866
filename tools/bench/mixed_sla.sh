#!/usr/bin/env bash
# Mixed-SLA overload: a fast route (GET /cpu?us=1000: ~1 ms of CPU, 20 ms
# budget) and a slow route (GET /report?us=20000: ~20 ms of CPU, 500 ms
# budget) offered together by tools/loadgen (open loop, one class per route,
# each with its own rate, X-Request-Budget-Ms and SLA), against:
#   brisk    the default admission (deadline-driven, EDF, bulkhead)
#   codel    brisk --admission=codel (CoDel + adaptive LIFO)
#   httplib  cpp-httplib's default thread-pool server (same handlers)
# Every server pinned to CPU 0, the load generator to CPU 1; loopback only;
# bounded in time; stops by itself; servers take turns, ROUNDS rounds,
# medians printed.
#
# Scenarios (capacity measured on brisk, closed loop, per route alone):
#   mix 0.5x/1x/2x/4x  each route offered L/2 of its own capacity (so the
#                      total CPU demand is L cores-worth of one core)
#   protect            the slow route at 4x its capacity, the fast at 0.5x
#
# Figures per server, scenario and route: offered/s, goodput/s (2xx within
# the route's budget), goodput/offered, 2xx answered after the budget (timed
# from when the request was due, and from when it was sent: the budget in
# X-Request-Budget-Ms starts at the send, so the generator's own lateness is
# not the server's), p99 of 2xx, p99 of refusals (non-2xx); and for brisk
# the share of worker time that went to 2xx answers
# (brisk_worker_seconds_total, counted from after the warm-up). Then the
# goal check for the default: useful work >= 90%, no 2xx after its
# deadline, refusal p99 <= 1 ms, and in `protect` the fast route's goodput
# >= 95% of what it offers. One latency
# plot per scenario (both routes, every server) is written to OUT (default
# docs/bench/).
#
# A third class, `probe`, asks for GET /hello (a few bytes, answered on the
# reactor in brisk, by a pool thread in cpp-httplib) at 100/s in every run:
# its p99 is the floor under any answer on this machine at that moment (the
# client's own lateness in sending and the VM's scheduling included), which
# is what a refusal's p99 has to be read against.
#
# Both brisk variants run the slow route on BACKGROUND background workers
# (RouteOptions::background, at nice BACKGROUND_NICE) beside WORKERS
# workers (at nice WORKER_NICE); BACKGROUND=0 puts it on the workers like
# the fast one.
#
# Usage: [ROUNDS=3] [WORKERS=2] [WORKER_NICE=0] [BACKGROUND=1] [BACKGROUND_NICE=10] \
#          [SCENARIOS="mix0.5 mix1 mix2 mix4 protect"] [OUT=docs/bench] \
#          tools/bench/mixed_sla.sh [SECONDS=10]
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${1:-10}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-2}
BACKGROUND=${BACKGROUND:-1}
BACKGROUND_NICE=${BACKGROUND_NICE:-10}
WORKER_NICE=${WORKER_NICE:-0}
LANES="--worker_nice=$WORKER_NICE --background_workers=$BACKGROUND --background_nice=$BACKGROUND_NICE"
OUT=${OUT:-docs/bench}

need=()
for p in wrk libcpp-httplib-dev curl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
fi

tools/bazel build -c opt //server:server //tools/loadgen:loadgen >&2
WORK=$(mktemp -d /tmp/brisk-mixed.XXXXXX)
cp -f bazel-bin/server/server "$WORK/brisk"
cp -f bazel-bin/tools/loadgen/loadgen "$WORK/loadgen"
g++ -O2 -std=c++17 tools/bench/httplib_cpu.cc -o "$WORK/httplib_cpu" -lcpp-httplib -lpthread
tools/bazel shutdown >&2  # no JVM beside the measurements
mkdir -p "$OUT"
PID=""
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free port for each start (a fixed one can be held by the TIME_WAIT
# sockets of the run before).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {  # name -> sets PID and PORT
  PORT=$(free_port)
  case $1 in
    brisk) taskset -c 0 "$WORK/brisk" --address=127.0.0.1 --port=$PORT \
             --reactors=1 --workers=$WORKERS $LANES >"$WORK/server.log" 2>&1 & ;;
    codel) taskset -c 0 "$WORK/brisk" --address=127.0.0.1 --port=$PORT \
             --reactors=1 --workers=$WORKERS $LANES --admission=codel >"$WORK/server.log" 2>&1 & ;;
    httplib) taskset -c 0 "$WORK/httplib_cpu" $PORT >"$WORK/server.log" 2>&1 & ;;
  esac
  PID=$!
  for _ in $(seq 100); do
    if ! kill -0 "$PID" 2>/dev/null; then
      echo "$1 exited: $(cat "$WORK/server.log")" >&2
      return 1
    fi
    curl -s -o /dev/null "http://127.0.0.1:$PORT/hello" && return 0
    sleep 0.05
  done
  echo "$1 did not start" >&2; return 1
}
stop() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; PID=""; }

capacity() {  # target -> 2xx/s, closed loop, 4 connections
  local out total non2xx secs
  out=$(taskset -c 1 wrk -t1 -c4 -d${D}s "http://127.0.0.1:$PORT$1" 2>&1)
  total=$(echo "$out" | awk '/requests in/{print $1}')
  non2xx=$(echo "$out" | awk '/Non-2xx/{print $NF}')
  secs=$(echo "$out" | awk '/requests in/{sub(/s,?$/,"",$4); print $4}')
  python3 -c "print(int((${total:-0} - ${non2xx:-0}) / float('${secs:-1}')))"
}

start brisk
CF=$(capacity "/cpu?us=1000")
CS=$(capacity "/report?us=20000")
stop
echo "capacity (brisk, closed loop, each route alone): fast $CF/s, slow $CS/s" >&2

RESULTS="$WORK/results.jsonl"
SCENARIOS=${SCENARIOS:-"mix0.5 mix1 mix2 mix4 protect"}
for round in $(seq "$ROUNDS"); do
  for scenario in $SCENARIOS; do
    case $scenario in
      mix*) L=${scenario#mix}
            FR=$(python3 -c "print(max(1, round($CF * $L / 2)))")
            SR=$(python3 -c "print(max(1, round($CS * $L / 2)))") ;;
      protect) FR=$(python3 -c "print(max(1, round($CF * 0.5)))")
               SR=$(python3 -c "print(max(1, round($CS * 4)))") ;;
    esac
    for server in brisk codel httplib; do
      start $server
      taskset -c 1 "$WORK/loadgen" --port=$PORT --path="/cpu?us=1000" --rate=100 \
        --duration=1s --connections=8 >/dev/null  # warm-up (estimates, caches)
      # Worker time is counted from here: the warm-up's (all of it useful
      # work at a light load) is taken off the end's figures.
      before=$(curl -s "http://127.0.0.1:$PORT/metrics" | grep '^brisk_worker_seconds_total' || true)
      csv="$WORK/$scenario.$server.r$round.csv"
      json=$(taskset -c 1 "$WORK/loadgen" --port=$PORT --duration=${D}s --warmup=1s \
               --timeout=10s --json --latency_out="$csv" \
               --request="fast rate=$FR target=/cpu?us=1000 sla=20ms header=\"X-Request-Budget-Ms: 20\" connections=128" \
               --request="slow rate=$SR target=/report?us=20000 sla=500ms header=\"X-Request-Budget-Ms: 500\" connections=512" \
               --request="probe rate=100 target=/hello sla=20ms connections=16")
      metrics=$(curl -s "http://127.0.0.1:$PORT/metrics" | grep '^brisk_worker_seconds_total' || true)
      stop
      python3 - "$server" "$scenario" "$round" "$FR" "$SR" "$csv" "$json" "$metrics" "$before" >> "$RESULTS" <<'PY'
import json, sys
server, scenario, rnd, fr, sr, csv, run, metrics, before = sys.argv[1:]
work = {}
for text, sign in ((metrics, 1.0), (before, -1.0)):
    for line in text.splitlines():
        # brisk_worker_seconds_total{route="/cpu",outcome="useful"} 1.23
        labels, value = line.split("} ")
        outcome = labels.split('outcome="')[1].rstrip('"')
        work[outcome] = work.get(outcome, 0.0) + sign * float(value)
print(json.dumps(dict(server=server, scenario=scenario, round=int(rnd),
                      rates=dict(fast=int(fr), slow=int(sr)), csv=csv,
                      run=json.loads(run), work=work)))
PY
    done
  done
done

python3 - "$RESULTS" "$D" "$OUT" "$CF" "$CS" <<'PY'
import json, os, statistics as st, subprocess, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
D, out_dir, cf, cs = float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
med = st.median
groups = {}
for r in rows:
    groups.setdefault((r["scenario"], r["server"]), []).append(r)
servers = ["brisk", "codel", "httplib"]
scenarios = ["mix0.5", "mix1", "mix2", "mix4", "protect"]
print(f"capacity on one core (brisk, each route alone): fast {cf}/s, slow {cs}/s; "
      f"{D:.0f} s per run, medians of {len(next(iter(groups.values())))} rounds")
print(f"{'scenario':8} {'server':8} {'route':5} {'offered':>8} {'goodput':>8} {'good%':>6} "
      f"{'late2xx':>7} {'late_snd':>8} {'p99_2xx':>9} {'p99_ref':>9} {'refused':>8} {'errors':>6} {'useful%':>8} {'floor':>7}")
goals = []
for sc in scenarios:
    for sv in servers:
        g = groups.get((sc, sv))
        if not g:
            continue
        useful = [r["work"].get("useful", 0) / max(1e-9, sum(r["work"].values()))
                  for r in g if r["work"]]
        # The probe's p99 (every answer, whatever its status): the floor;
        # None when the probe got no answer at all (cpp-httplib's threads
        # are all held by keep-alive connections of the other classes).
        probes = [next(c for c in r["run"]["classes"] if c["name"] == "probe")
                  for r in g]
        floor = (med(p["latency_us"]["p99"] for p in probes)
                 if all(p["completed"] > 0 for p in probes) else None)
        floor_text = f"{floor:7.0f}" if floor is not None else f"{'none':>7}"
        for cls in ("fast", "slow"):
            def each(f):
                return [f(next(c for c in r["run"]["classes"] if c["name"] == cls), r) for r in g]
            def stat(f):
                return med(each(f))
            def two(c):
                return sum(v for k, v in c["status"].items() if k.startswith("2"))
            offered = stat(lambda c, r: c["scheduled"] / D)
            good = stat(lambda c, r: c["ok_within_sla"] / D)
            ok = stat(lambda c, r: sum(v for k, v in c["status"].items() if k.startswith("2")))
            late = stat(lambda c, r: sum(v for k, v in c["status"].items() if k.startswith("2")) - c["ok_within_sla"])
            # Any round counts: a median would hide one bad round of three.
            late_snd = max(each(lambda c, r: two(c) - c["ok_within_sla_from_send"]))
            # Refused: answered, not 2xx. Errors (no answer: a timeout, a
            # closed connection, an unparsable answer) are apart: a server
            # that drops connections must not read as one that refuses fast.
            refused = stat(lambda c, r: sum(c["status"].values()) - two(c))
            errors = max(each(lambda c, r: sum(c["errors"].values())))
            # The generator could not keep its schedule: the run measured it.
            behind = min(each(lambda c, r: c.get("send_rate", c["scheduled"] / D)
                              / max(1e-9, c["scheduled"] / D)))
            p99ok = stat(lambda c, r: c["latency_ok_us"]["p99"])
            p99ref = stat(lambda c, r: c["latency_non2xx_us"]["p99"])
            u = f"{100 * med(useful):7.1f}%" if useful and cls == "fast" else ""
            print(f"{sc:8} {sv:8} {cls:5} {offered:8.0f} {good:8.0f} {100 * good / max(1, offered):5.1f}% "
                  f"{late:7.0f} {late_snd:8.0f} {p99ok:9.0f} {p99ref:9.0f} {refused:8.0f} {errors:6.0f} {u:>8} {floor_text}"
                  + ("  generator behind" if behind < 0.97 else ""))
            if sv == "brisk":
                goals.append((sc, cls, good / max(1, offered), late, late_snd, p99ref, refused,
                              med(useful) if useful else None, floor, errors, behind))
print("(goodput: 2xx answered within the route's budget, per second; late2xx: 2xx "
      "answered after it, timed from when the request was due; late_snd: the same timed "
      "from when it was sent, where its X-Request-Budget-Ms starts (the worst round); refused: answered, not 2xx; "
      "errors: no answer (timeouts, closes), the worst round; p99 in us from the scheduled send "
      "time; useful%: share of brisk's worker time spent on 2xx answers, both routes; "
      "floor: p99 of GET /hello at 100/s in the same run, the least any answer took)")
print()
print("goal check, brisk's default admission:")
ok_all = True
for sc, cls, frac, late, late_snd, p99ref, refused, useful, floor, errors, behind in goals:
    checks = []
    checks.append(("every request answered", errors == 0, f"{errors:.0f} errors"))
    checks.append(("generator kept its schedule", behind >= 0.97, f"{100 * behind:.1f}% of offered sent"))
    if useful is not None and cls == "fast":
        checks.append(("useful work >= 90%", useful >= 0.90, f"{100 * useful:.1f}%"))
    # The deadline is the send plus the budget the request carried; the
    # client's own lateness before sending is shown beside it.
    checks.append(("no 2xx after its deadline", late_snd == 0,
                   f"{late_snd:.0f} ({late:.0f} from due time)"))
    if refused > 0:
        floor_note = f" (floor {floor:.0f} us)" if floor is not None else ""
        checks.append(("refusal p99 <= 1 ms", p99ref <= 1000,
                       f"{p99ref:.0f} us{floor_note}"))
    if sc == "protect" and cls == "fast":
        checks.append(("fast goodput >= 95% of offered", frac >= 0.95, f"{100 * frac:.1f}%"))
    for name, passed, value in checks:
        ok_all &= passed
        print(f"  {sc:8} {cls:5} {name:32} {value:>24}  {'met' if passed else 'NOT met'}")
print("all goals met" if ok_all else "some goals not met (see above)")

# One picture per scenario: both routes' latency percentiles, every server
# (the CSV of the middle round by round number, not of the round with the
# median figures).
plot = "tools/bench/plot_latency.py"
for sc in scenarios:
    args = []
    for sv in servers:
        g = groups.get((sc, sv))
        if not g:
            continue
        r = sorted(g, key=lambda r: r["round"])[len(g) // 2]
        base = r["csv"][:-4]
        for cls in ("fast", "slow"):
            path = f"{base}.{cls}.csv"
            if os.path.exists(path):
                args.append(f"{sv} {cls}={path}")
    if args:
        subprocess.run(["python3", plot, f"--out={out_dir}/mixed_sla_{sc}.svg",
                        f"--title=Mixed SLA, {sc}: latency of every answer (1 core)"] + args,
                       check=False)
        print(f"wrote {out_dir}/mixed_sla_{sc}.svg")
PY
