#!/usr/bin/env bash
# The deploy test (run by .ci/run): checks the deploy/ files, then HAProxy
# (deploy/haproxy.cfg) + 3 brisk processes + tools/loadgen on loopback,
# rolling restarts and a binary upgrade under a constant load; zero failed
# requests, zero non-2xx, p99 during <= 2 x p99 before. See deploy_test.py
# and deploy/README.md. Installs Debian's haproxy if missing; builds the
# server and the load generator (the default, optimized configuration);
# 1.5-3 minutes (5 to 9 pairs of 12 s runs; longer on a busy machine);
# prints the figures and "deploy test: PASS" or "FAIL".
#
# Usage: deploy/deploy_test.sh [deploy_test.py flags, e.g. --seconds=20 --keep]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v haproxy >/dev/null && [[ ! -x /usr/sbin/haproxy ]]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy >&2
fi
tools/bazel build //server:server //tools/loadgen:loadgen >&2
work=$(mktemp -d /tmp/brisk-deploy-bin.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Copies: later builds (another configuration) may replace bazel-bin's.
cp bazel-bin/server/server bazel-bin/tools/loadgen/loadgen "$work/"
# Debian's python3 (its python3-yaml reads kubernetes.yaml); any python3 else.
py=/usr/bin/python3
[[ -x $py ]] || py=python3
"$py" deploy/deploy_test.py --server="$work/server" --loadgen="$work/loadgen" \
  --haproxy="$(command -v haproxy || echo /usr/sbin/haproxy)" "$@"
