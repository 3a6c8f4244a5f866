#!/usr/bin/env bash
# The outside check of the server's TLS, by sslscan (Debian's sslscan 2.0,
# on OpenSSL 3): with an ECDSA P-256 and then an RSA-2048 certificate (made
# here with `openssl req`), the server binary must offer TLS 1.2 and 1.3
# only, only ECDHE key exchange with AEAD ciphers of at least 128 bits, no
# renegotiation, no compression, and not be vulnerable to Heartbleed.
# Loopback, port 0; bounded; stops the servers it started (by pid).
set -euo pipefail
SERVER=${1:-server/server}
WORK=${TEST_TMPDIR:-$(mktemp -d)}/sslscan
mkdir -p "$WORK"
PID=""
cleanup() {
  if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
}
trap cleanup EXIT
for tool in sslscan openssl; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (tools/bazel installs it)"; exit 1; }
done

failures=0
fail() { echo "FAIL ($1): $2"; failures=$((failures + 1)); }

scan() {  # key-type name, openssl req -newkey argument...
  local name=$1; shift
  openssl req -x509 -newkey "$@" -nodes -keyout "$WORK/$name.key" -out "$WORK/$name.pem" \
    -days 2 -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
  # Made here, not by the background job's redirection: the wait loop below
  # must never read a file that does not exist yet (sed would exit 2).
  : >"$WORK/$name.out"; : >"$WORK/$name.err"
  "$SERVER" --address=127.0.0.1 --port=0 --workers=1 --tls_cert="$WORK/$name.pem" \
    --tls_key="$WORK/$name.key" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PID=$!
  local port=""
  for _ in $(seq 200); do
    port=$(sed -n 's#^listening on https://127.0.0.1:\([0-9]*\)$#\1#p' "$WORK/$name.out")
    [[ -n "$port" ]] && break
    sleep 0.05
  done
  [[ -n "$port" ]] || { fail "$name" "the server did not start: $(cat "$WORK/$name.err")"; return; }
  timeout 120 sslscan --no-colour "127.0.0.1:$port" > "$WORK/$name.scan" 2>&1 || true
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  local s="$WORK/$name.scan"
  echo "=== sslscan, $name certificate"
  sed -n '/SSL\/TLS Protocols:/,/Server Key Exchange Group/p' "$s"
  for p in SSLv2 SSLv3 TLSv1.0 TLSv1.1; do
    grep -Eq "^$p +disabled" "$s" || fail "$name" "$p is not disabled"
  done
  for p in TLSv1.2 TLSv1.3; do
    grep -Eq "^$p +enabled" "$s" || fail "$name" "$p is not enabled"
  done
  grep -q "Session renegotiation not supported" "$s" || fail "$name" "renegotiation is not refused"
  grep -Eq "Compression disabled|does not support compression" "$s" || fail "$name" "compression"
  if grep "heartbleed" "$s" | grep -vq "not vulnerable"; then fail "$name" "heartbleed"; fi
  local ciphers
  ciphers=$(grep -E "^(Preferred|Accepted) " "$s" || true)
  [[ -n "$ciphers" ]] || fail "$name" "no cipher listed"
  while read -r _ version bits _ cipher _; do
    [[ -z "$version" ]] && continue
    ((bits >= 128)) || fail "$name" "$version $cipher: $bits bits"
    [[ $cipher =~ (GCM|CHACHA20-POLY1305|CHACHA20_POLY1305) ]] || fail "$name" "$version $cipher is not AEAD"
    [[ $version == TLSv1.3 || $cipher == ECDHE-* ]] || fail "$name" "$version $cipher is not ECDHE"
  done <<< "$ciphers"
}

scan ecdsa ec -pkeyopt ec_paramgen_curve:P-256
scan rsa rsa:2048
if ((failures > 0)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "PASS: TLS 1.2 and 1.3 only; ECDHE + AEAD suites of >= 128 bits only; no renegotiation, no compression"
