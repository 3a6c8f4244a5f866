#!/usr/bin/env bash
# Writes docs/status.png (the README's picture of the status page): builds
# the server and the load generator, installs Debian's chromium if missing,
# then runs status_screenshot.py (about 75 s, loopback only).
#
# Usage: tools/browser/status_screenshot.sh [--out=docs/status.png] [--seconds=60]
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v chromium >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2
fi
tools/bazel build //server:server //tools/loadgen:loadgen >&2
exec python3 tools/browser/status_screenshot.py bazel-bin/server/server \
  bazel-bin/tools/loadgen/loadgen "$@"
