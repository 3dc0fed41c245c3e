#!/usr/bin/env bash
# Soak run (docs/safety.md, "Limits"): start nrfprov-mock on free loopback ports with the
# demo fixtures, abuse it on every front at once for SOAK_SECONDS (default 60) with
# bench/soak_load.py — 1000 slow-header HTTP connections, Block1 uploads from 2000 CoAP
# sessions, oversized reports — while checking that GET /_mock/health answers within
# 100 ms throughout and that the server's RSS stays under 64 MB. Prints one line of
# figures; exits non-zero when a bound is crossed or the server dies.
#
# For: scripts/test.sh (short: SOAK_SECONDS=10) and a longer run by hand. Not a
# benchmark. Loopback only (the slow connections come from 127.0.0.2..5); everything is
# bounded in time and count; the server started here is stopped here, by its pid.
#
# Environment: BUILD_DIR (build), SOAK_SECONDS (60), SOAK_SLOW (1000), SOAK_COAP_SESSIONS
# (2000), SOAK_MOCK_ARGS (extra server options, e.g. "--header-timeout-ms 2000").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
MOCK=$BUILD/nrfprov-mock
SECONDS_RUN=${SOAK_SECONDS:-60}
[ -x "$MOCK" ] || { echo "soak: $MOCK not built (scripts/build.sh first)" >&2; exit 2; }
# 1000 + 2000 sockets on the client side, and as many on the server side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

TMP=$(mktemp -d "${TMPDIR:-/tmp}/nrfprov-soak.XXXXXX")
PID=
cleanup() {
  if [ -n "$PID" ]; then
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# shellcheck disable=SC2086  # SOAK_MOCK_ARGS is a list of options
"$MOCK" --in-memory --bind 127.0.0.1 --http-port 0 --https-port -1 --coap-port 0 --coaps-port -1 \
  --log-level warn --fixtures "$ROOT/fixtures/demo.json" --ready-file "$TMP/ready.json" \
  ${SOAK_MOCK_ARGS:-} >"$TMP/mock.log" 2>&1 &
PID=$!
for _ in $(seq 1 200); do
  [ -s "$TMP/ready.json" ] && break
  kill -0 "$PID" 2>/dev/null || { echo "soak: the server did not start:" >&2; cat "$TMP/mock.log" >&2; exit 1; }
  sleep 0.05 # polling the ready file, bounded (10 s)
done
[ -s "$TMP/ready.json" ] || { echo "soak: the server was not ready within 10 s" >&2; exit 1; }
port() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["port"])' "$TMP/ready.json" "$1"; }
HTTP_PORT=$(port http)
COAP_PORT=$(port coap)
# The demo fixtures' device claimed with a public attestation token (fixtures/demo.json).
TOKEN=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(next(c["claimToken"] for c in d["claimedDevices"] if "claimToken" in c))' "$ROOT/fixtures/demo.json")

status=0
SOAK_DEVICE_CRED="att.$TOKEN" python3 "$ROOT/bench/soak_load.py" "$HTTP_PORT" "$COAP_PORT" "$PID" "$SECONDS_RUN" || status=$?
if ! kill -0 "$PID" 2>/dev/null; then
  echo "soak: the server died:" >&2
  tail -20 "$TMP/mock.log" >&2
  status=1
fi
exit $status
