#!/usr/bin/env bash
# bench/bulk_lock.sh: how long another team waits while a 1000-row bulk claim of badly
# signed tokens runs (docs/control-api.md §5: the signature checks run outside the store
# lock). Starts nrfprov-mock (in memory, free ports), registers an identity key for 1000
# devices, then measures team B's `GET /v1/claimed-devices`:
#   baseline  N sequential requests with nothing else running;
#   during    the same requests, sent over and over while team A's bulk claim runs.
# Prints the bulk claim's duration, baseline and during latencies (median, max), and the
# ratio of during to baseline (same run, same client). Not a test: tests/integration/
# test_bulk_lock.c asserts a bound; this reports the time.
#
# usage: bench/bulk_lock.sh [BUILD_DIR]   (default: build; needs BENCH=ON for bench_tokens)
set -euo pipefail
B=${1:-build}
MOCK=$B/nrfprov-mock
TOK=$B/bench/bench_tokens
[ -x "$MOCK" ] && [ -x "$TOK" ] || { echo "build with -DBENCH=ON first ($MOCK, $TOK)" >&2; exit 1; }
command -v jq >/dev/null || { echo "needs jq" >&2; exit 1; }
TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

"$MOCK" --in-memory --http-port 0 --https-port -1 --coap-port -1 --coaps-port -1 --threads 4 \
  --journal-size 0 --log-level warn --ready-file "$TMP/ready.json" >"$TMP/mock.log" 2>&1 &
PID=$!
for _ in $(seq 1 200); do [ -s "$TMP/ready.json" ] && break; sleep 0.05; done
API="http://127.0.0.1:$(jq -r .http.port "$TMP/ready.json")"
JSON='Content-Type: application/json'

"$TOK" --count 1000 --csv --out "$TMP/bulk.csv" --ids "$TMP/bulk.ids"
PEM=$'-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/zdbf8Ag+81OCYJczWM8QFdYSeiv\n9trmEohABSTuqy6qU7OyDNgdcChqPMYzNzbVpl8TdDn0iRdT1uJUmPVubA==\n-----END PUBLIC KEY-----\n'
jq -R --arg pem "$PEM" '{deviceId: ., publicKeyPem: $pem}' "$TMP/bulk.ids" | jq -s '{identities: .}' >"$TMP/fixtures.json"
curl -sf -H "$JSON" --data-binary @"$TMP/fixtures.json" "$API/_mock/fixtures" >/dev/null

list() { curl -s -o /dev/null -w '%{time_total}\n' -H 'Authorization: Bearer bench-team-b' "$API/v1/claimed-devices"; }
stats() { sort -n "$1" | awk '{v[NR]=$1*1000} END {printf "n=%d median=%.2fms max=%.2fms", NR, v[int((NR+1)/2)], v[NR]}'; }
median() { sort -n "$1" | awk '{v[NR]=$1*1000} END {print v[int((NR+1)/2)]}'; }

for _ in $(seq 1 20); do list >/dev/null; done # warm up
for _ in $(seq 1 200); do list; done >"$TMP/baseline"

start=$(date +%s%N)
curl -s -o "$TMP/bulk.out" -H 'Authorization: Bearer bench-team-a' -H 'Content-Type: text/csv' \
  --data-binary @"$TMP/bulk.csv" "$API/v1/claimed-devices" &
BULK=$!
sleep 0.05 # the CSV is uploaded; what follows is the claim's processing
: >"$TMP/during"
while kill -0 "$BULK" 2>/dev/null; do list >>"$TMP/during"; done
wait "$BULK"
bulk_ms=$(( ($(date +%s%N) - start) / 1000000 ))
refused=$(jq '[.failed[] | select(.code == 40003)] | length' "$TMP/bulk.out")

echo "bulk claim: 1000 rows, $refused refused with 40003 (bad signature), ${bulk_ms} ms"
echo "team B baseline: $(stats "$TMP/baseline")"
echo "team B during the bulk claim: $(stats "$TMP/during")"
awk -v d="$(median "$TMP/during")" -v b="$(median "$TMP/baseline")" \
  'BEGIN {printf "median ratio during/baseline: %.2f\n", d / b}'
