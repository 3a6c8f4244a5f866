#!/usr/bin/env bash
# Same-run A/B of two brisk server binaries on plain HTTP /hello: does a
# change cost throughput? Each binary in turn (A B A B ...) for ROUNDS
# rounds, pinned to CPU 0 with one reactor and one worker, wrk on CPU 1;
# modes c64 (keep-alive, 64 connections), pipe16 (16 requests per write)
# and, when MODES asks for it, close (a new connection per request, the
# server closing after each answer). Prints medians (req/s, p99, and the server's CPU time per
# request, which the noise of a shared VM moves far less) and B/A.
#
# Usage: [ROUNDS=5] [MODES="c64 pipe16"] [RAW_OUT=file] tools/bench/ab.sh BINARY_A BINARY_B [SECONDS=5] [EXTRA_FLAGS]
#   e.g. A = a build of main, B = a build of the branch.
# Loopback only; bounded in time; stops what it started (by pid), also on
# Ctrl-C or SIGTERM; refuses to run if PORT (18190) is already in use.
set -euo pipefail
A=$1
B=$2
D=${3:-5}
EXTRA=${4:-}
ROUNDS=${ROUNDS:-5}
MODES=${MODES:-"c64 pipe16"}
PORT=${PORT:-18190}
WORK=$(mktemp -d /tmp/brisk-ab.XXXXXX)
PID=""
cleanup() {
  if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# The peer harness's wrk script: 16 GETs per write.
PIPELINE_LUA=$(cd "$(dirname "$0")/peers" && pwd)/pipeline.lua
# shellcheck source=tools/bench/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"
: > "$WORK/raw"
for round in $(seq "$ROUNDS"); do
  # A then B in odd rounds, B then A in even ones: whatever the second of a
  # pair gains or loses for being second (a warmer cache, a busier host)
  # does not go to one side only.
  order="A B"
  ((round % 2 == 0)) && order="B A"
  for name in $order; do
    bin=$A
    [[ $name == B ]] && bin=$B
    port_free "$PORT"
    # shellcheck disable=SC2086
    taskset -c 0 "$bin" --address=127.0.0.1 --port=$PORT --reactors=1 --workers=1 $EXTRA \
      >"$WORK/server.log" 2>&1 &
    PID=$!
    server_started "$name ($bin)" "$PID" "http://127.0.0.1:$PORT/hello" "$WORK/server.log" 100 0.05
    for mode in $MODES; do
      args=(-t1 -c64 -d${D}s --latency)
      [[ $mode == pipe16 ]] && args+=(-s "$PIPELINE_LUA")
      [[ $mode == close ]] && args+=(-H "Connection: close")
      c0=$(cpu_ns "$PID")
      read -r requests rps p99 errors < <(taskset -c 1 timeout --foreground $((D + 20)) \
        wrk "${args[@]}" "http://127.0.0.1:$PORT/hello" 2>&1 | wrk_fields)
      c1=$(cpu_ns "$PID")
      # Errors (socket errors, non-2xx) are kept: a build that fails fast
      # must not read as a faster one.
      echo "$name $mode $rps $p99 $(((c1 - c0) / (requests > 0 ? requests : 1))) $errors" >> "$WORK/raw"
    done
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
    sleep 0.5
  done
done
[[ -n "${RAW_OUT:-}" ]] && cp "$WORK/raw" "$RAW_OUT"  # per-round rows, if asked
python3 - "$WORK/raw" "$MODES" <<'PY'
import sys, statistics as st
rows = {}
for line in open(sys.argv[1]):
    n, m, r, p99, cpu, errors = line.split()
    rows.setdefault((n, m), []).append((float(r), float(p99), float(cpu), int(errors)))
print(f"{'binary':6} {'mode':7} {'req/s':>10} {'p99_us':>8} {'cpu_ns/req':>10} {'errors':>7}  "
      f"(median of {len(next(iter(rows.values())))} rounds; req/s min-max; errors: all rounds)")
failed = []
for m in sys.argv[2].split():
    for n in ("A", "B"):
        v = rows[(n, m)]
        r = [x[0] for x in v]
        errors = sum(x[3] for x in v)
        if errors:
            failed.append(f"{n} {m}")
        print(f"{n:6} {m:7} {st.median(r):10.0f} {st.median(x[1] for x in v):8.0f} "
              f"{st.median(x[2] for x in v):10.0f} {errors:7d}  ({min(r):.0f}-{max(r):.0f})")
    med = lambda n, i: st.median(x[i] for x in rows[(n, m)])
    # Rounds are paired (A and B under the same conditions): the median of
    # the per-round ratios is steadier than the ratio of the medians.
    paired = st.median(b[0] / a[0] for a, b in zip(rows[("A", m)], rows[("B", m)]) if a[0])
    print(f"B/A    {m:7} req/s {med('B', 0) / med('A', 0):.3f} (paired rounds {paired:.3f}), "
          f"cpu/req {med('B', 2) / med('A', 2):.3f}")
if failed:
    # Socket errors or non-2xx answers: the ratios compare unlike work.
    print("INVALID: errors or non-2xx answers in " + ", ".join(failed) +
          "; the ratios above do not compare like with like")
    sys.exit(1)
PY
