#!/usr/bin/env bash
# The fraud-scoring service (examples/fraud_scoring, XGBoost) under an
# open-loop load of POST /score (one JSON transaction, a 10 ms client budget
# in X-Request-Budget-Ms), from light load to past saturation, with each
# batching policy of the same binary:
#   off       one request per model call (an ordinary offloaded route)
#   fixed     Triton's dynamic batcher: wait MAX_DELAY (1 ms) for MAX_BATCH
#   deadline  brisk's deadline-aware batching (the default)
# Server pinned to CPU 0 (--reactors=1 --workers=1), tools/loadgen to
# CPU 1; loopback only; bounded in time; stops by itself; policies take
# turns at every rate, ROUNDS rounds, medians printed.
#
# Per policy and rate: p50 and p99 of every answer, goodput (2xx within the
# 10 ms budget, per second) and its share of the offered rate; then per
# policy the largest rate whose p99 <= 10 ms with >= 99% of the offered
# requests answered 2xx within 10 ms, and the goal check:
#   deadline's sustainable rate >= 3x off's; at every rate deadline's p99 <=
#   fixed's and its goodput >= fixed's; at the lightest rate deadline adds
#   <= 100 us to off's p50.
# One latency plot (the three policies) at the lightest rate and at the
# highest rate off sustains, written to OUT (default docs/bench/).
#
# Usage: [ROUNDS=3] [RATES="1000 5000 ..."] [OUT=docs/bench] tools/bench/fraud_batching.sh [SECONDS=5]
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${1:-5}
ROUNDS=${ROUNDS:-3}
RATES=${RATES:-"1000 5000 10000 20000 30000 40000 60000 80000 100000 120000"}
MAX_BATCH=${MAX_BATCH:-32}
MAX_DELAY=${MAX_DELAY:-1ms}
OUT=${OUT:-docs/bench}
POLICIES="off fixed deadline"

tools/bazel build -c opt //examples/fraud_scoring:fraud_server //tools/loadgen:loadgen >&2
WORK=$(mktemp -d /tmp/brisk-fraud.XXXXXX)
cp -f bazel-bin/examples/fraud_scoring/fraud_server "$WORK/fraud_server"
cp -f examples/fraud_scoring/model.json "$WORK/model.json"
cp -f bazel-bin/tools/loadgen/loadgen "$WORK/loadgen"
tools/bazel shutdown >&2  # no JVM beside the measurements
mkdir -p "$OUT"
# One transaction (a held-out row of the training data), as clients send it.
python3 - "$WORK/body.json" <<'PY'
import csv, json, sys
rows = list(csv.reader(open("examples/fraud_scoring/testdata/golden.csv")))
names, row = rows[0][:-1], rows[1][:-1]
features = [None if v == "nan" else float(v) for v in row]
json.dump({"id": "txn-1", "features": features}, open(sys.argv[1], "w"))
PY
PID=""
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() {  # policy -> PID, PORT
  # Emptied here, not by the background job's redirection, which may run
  # after the first read below: that read would find the previous server's
  # port (a stale "listening on" line, then "connection refused").
  : >"$WORK/server.log"
  taskset -c 0 "$WORK/fraud_server" --address=127.0.0.1 --port=0 --reactors=1 \
    --workers=1 --model="$WORK/model.json" --batching="$1" \
    --max_batch="$MAX_BATCH" --max_delay="$MAX_DELAY" >>"$WORK/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 200); do
    PORT=$(sed -n 's/^listening on http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$WORK/server.log" 2>/dev/null || true)
    [[ -n "$PORT" ]] && return 0
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.log" >&2; return 1; }
    sleep 0.05
  done
  echo "fraud_server did not start" >&2; return 1
}
stop() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; PID=""; }

RESULTS="$WORK/results.jsonl"
for round in $(seq "$ROUNDS"); do
  for rate in $RATES; do
    for policy in $POLICIES; do
      start "$policy"
      conns=$(( rate / 200 + 64 ))
      csv="$WORK/$policy.$rate.r$round.csv"
      json=$(taskset -c 1 "$WORK/loadgen" --port="$PORT" --method=POST --path=/score \
               --body_file="$WORK/body.json" \
               --header="Content-Type: application/json" \
               --header="X-Request-Budget-Ms: 10" --sla=10ms \
               --rate="$rate" --duration=${D}s --warmup=1s --timeout=5s \
               --connections="$conns" --latency_out="$csv" --json)
      sizes=$(curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^brisk_batch_size_(sum|count)' || true)
      stop
      python3 - "$policy" "$rate" "$round" "$csv" "$json" "$sizes" >> "$RESULTS" <<'PY'
import json, sys
policy, rate, rnd, csv, run, sizes = sys.argv[1:]
s = {}
for line in sizes.splitlines():
    name, value = line.rsplit(" ", 1)
    s["sum" if "_sum" in name else "count"] = float(value)
mean_batch = s.get("sum", 0) / s["count"] if s.get("count") else 1.0
print(json.dumps(dict(policy=policy, rate=int(rate), round=int(rnd), csv=csv,
                      run=json.loads(run), mean_batch=mean_batch)))
PY
    done
  done
done

python3 - "$RESULTS" "$D" "$OUT" <<'PY'
import json, os, statistics as st, subprocess, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
D, out_dir = float(sys.argv[2]), sys.argv[3]
groups = {}
for r in rows:
    groups.setdefault((r["policy"], r["rate"]), []).append(r)
policies = ["off", "fixed", "deadline"]
rates = sorted({r["rate"] for r in rows})
med = st.median
def m(g, f):
    return med(f(r) for r in g)
table = {}
print(f"{'rate':>7} {'policy':9} {'p50_us':>8} {'p99_us':>9} {'goodput':>8} {'good%':>6} {'batch':>6} {'errors':>6}")
for rate in rates:
    for p in policies:
        g = groups.get((p, rate))
        if not g:
            continue
        p50 = m(g, lambda r: r["run"]["latency_us"]["p50"])
        p99 = m(g, lambda r: r["run"]["latency_us"]["p99"])
        good = m(g, lambda r: r["run"]["ok_within_sla"] / D)
        errs = m(g, lambda r: sum(r["run"]["errors"].values()))
        batch = m(g, lambda r: r["mean_batch"])
        # The generator could not keep the schedule (its own ceiling is
        # ~55-60k/s on one core): such a rate measured the client, and
        # ends a policy's sustainable range (it is not a result).
        behind = min(r["run"].get("send_rate", rate) for r in g) < 0.97 * rate
        table[(p, rate)] = dict(p50=p50, p99=p99, good=good, behind=behind)
        print(f"{rate:7d} {p:9} {p50:8.0f} {p99:9.0f} {good:8.0f} {100 * good / rate:5.1f}% {batch:6.1f} {errs:6.0f}"
              + ("  generator behind" if behind else ""))
print(f"(medians of {len(next(iter(groups.values())))} rounds of {D:.0f} s; latency "
      "from the scheduled send time; goodput = 2xx within the 10 ms budget per "
      "second; batch = mean batch size)")
print()
sustained = {}
for p in policies:
    # The largest rate below which every tested rate kept p99 <= 10 ms AND
    # answered >= 99% of what was offered 2xx within it: p99 alone counts
    # fast refusals as success (admission sheds in microseconds).
    best = 0
    for rate in rates:
        t = table.get((p, rate))
        if t is not None and t["p99"] <= 10000 and t["good"] >= 0.99 * rate and not t["behind"]:
            best = rate
        else:
            break
    sustained[p] = best
    following = next((r for r in rates if r > best), None)
    capped = best and following is not None and table.get((p, following), {}).get("behind")
    print(f"{p:9} largest rate with p99 <= 10 ms and goodput >= 99%: {best}/s"
          + (" or more (the generator fell behind at the next rate)" if capped else ""))
print()
print("goal check:")
goals = []
if sustained["off"]:
    ratio = sustained["deadline"] / sustained["off"]
    goals.append(("deadline sustains >= 3x off", ratio >= 3, f"{ratio:.2f}x"))
else:
    # Not evaluated is not met: off sustained no tested rate.
    goals.append(("deadline sustains >= 3x off", False, "off: none"))
# A p99 of 0 is no answer at all (the percentile of an empty set), not a
# fast one: it does not pass "p99 <= fixed's".
worse_p99 = [rate for rate in rates if ("fixed", rate) in table and
             (table[("deadline", rate)]["p99"] > table[("fixed", rate)]["p99"] or
              table[("deadline", rate)]["p99"] == 0)]
goals.append(("deadline p99 <= fixed p99 at every rate", not worse_p99,
              "all" if not worse_p99 else f"not at {worse_p99}"))
# Goodput within 1% of fixed's counts as equal (round-to-round noise).
worse_good = [rate for rate in rates if ("fixed", rate) in table and
              table[("deadline", rate)]["good"] < 0.99 * table[("fixed", rate)]["good"]]
goals.append(("deadline goodput >= 99% of fixed's at every rate", not worse_good,
              "all" if not worse_good else f"not at {worse_good}"))
light = rates[0]
added = table[("deadline", light)]["p50"] - table[("off", light)]["p50"]
goals.append((f"deadline adds <= 100 us to p50 at {light}/s", added <= 100, f"{added:+.0f} us"))
for name, ok, value in goals:
    print(f"  {name:42} {value:>14}  {'met' if ok else 'NOT met'}")

plot = "tools/bench/plot_latency.py"
for label, rate in (("light", light), ("saturation", sustained["off"] or rates[-1])):
    args = []
    for p in policies:
        g = groups.get((p, rate))
        if g:
            r = sorted(g, key=lambda r: r["round"])[len(g) // 2]
            args.append(f"{p}={r['csv']}")
    if args:
        subprocess.run(["python3", plot, f"--out={out_dir}/fraud_batching_{label}.svg",
                        f"--title=Fraud scoring at {rate}/s: batching off, fixed 1 ms, deadline-aware"] + args,
                       check=False)
        print(f"wrote {out_dir}/fraud_batching_{label}.svg")
PY
