#!/usr/bin/env bash
# The test of deploy/brisk-upgrade (run by .ci/run, beside the deploy test):
# the script as it is, against the stand-in systemctl in deploy/testing/,
# with the units' own ExecStart lines: a good upgrade, a new binary that
# exits 1, one that crashes after taking over, an old process that drains
# longer than BRISK_UPGRADE_TIMEOUT, a wrong port. Loopback only; about
# 25 s. See deploy/brisk_upgrade_test.py.
#
# Usage: deploy/brisk_upgrade_test.sh [brisk_upgrade_test.py flags]
# BRISK_SERVER=PATH tests with that server binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
server=${BRISK_SERVER:-}
work=$(mktemp -d /tmp/brisk-upgrade-bin.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [[ -z $server ]]; then
  tools/bazel build //server:server >&2
  # A copy: later builds (another configuration) may replace bazel-bin's.
  cp bazel-bin/server/server "$work/"
  server="$work/server"
fi
py=/usr/bin/python3
[[ -x $py ]] || py=python3
timeout 300 "$py" deploy/brisk_upgrade_test.py --server="$server" "$@"
