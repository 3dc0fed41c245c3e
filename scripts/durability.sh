#!/usr/bin/env bash
# scripts/durability.sh: nothing acknowledged is lost when the server is killed
# (docs/safety.md, "Durability"). Each trial starts nrfprov-mock on a fresh data dir,
# runs WORKERS concurrent claim loops against it (one curl per claim), kills the server
# with SIGKILL at a random moment, restarts it on the same data dir and checks that
# every claim that was answered 201 is listed. Prints one line per trial and a summary;
# exits 1 when any acknowledged claim is missing.
#
# usage: scripts/durability.sh [BUILD_DIR] [TRIALS]   (defaults: build, 20)
# env:   WORKERS (4), TOKENS (1200; bench_tokens when built, else nrfprov-sim, fewer)
set -euo pipefail
B=${1:-build}
TRIALS=${2:-20}
WORKERS=${WORKERS:-4}
MOCK=$B/nrfprov-mock
[ -x "$MOCK" ] || { echo "no $MOCK: build first" >&2; exit 1; }
command -v jq >/dev/null || { echo "needs jq" >&2; exit 1; }
TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
KEY='Authorization: Bearer durability-team'

# Claim tokens, reused by every trial (each trial has its own data dir).
if [ -x "$B/bench/bench_tokens" ]; then
  TOKENS=${TOKENS:-1200}
  "$B/bench/bench_tokens" --count "$TOKENS" --csv --out "$TMP/tokens"
else
  TOKENS=${TOKENS:-300}
  for i in $(seq 1 "$TOKENS"); do
    "$B/nrfprov-sim" create --dir "$TMP/dev$i" >/dev/null
    "$B/nrfprov-sim" token --dir "$TMP/dev$i"
  done >"$TMP/tokens"
fi
mkdir "$TMP/slices" "$TMP/acked"
split -n "l/$WORKERS" -d "$TMP/tokens" "$TMP/slices/slice."

start_mock() { # data dir, ready file
  rm -f "$2"
  "$MOCK" --data-dir "$1" --http-port 0 --https-port -1 --coap-port -1 --coaps-port -1 --journal-size 0 \
    --log-level warn --ready-file "$2" >>"$TMP/mock.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 400); do [ -s "$2" ] && return 0; sleep 0.025; done
  echo "the mock did not start" >&2; cat "$TMP/mock.log" >&2; exit 1
}

# One worker: claim each token of its slice; record the id of every 201; stop at the
# first request that gets no answer at all (the server is gone).
worker() { # slice file, api, acked file
  while read -r tok; do
    code=$(curl -s -o "$3.body" -w '%{http_code}' -H "$KEY" -H 'Content-Type: application/json' \
      -d "{\"claimToken\":\"$tok\"}" "$2/v1/claimed-devices") || break
    [ "$code" = 201 ] && jq -r .id "$3.body" >>"$3"
    [ "$code" = 000 ] && break
  done <"$1"
  return 0
}

# Every claimed device id of the team, following pageNextToken.
listed() { # api
  local next="" page
  while :; do
    page=$(curl -sf -H "$KEY" "$1/v1/claimed-devices?pageLimit=100${next:+&pageNextToken=$next}")
    jq -r '.items[].id' <<<"$page"
    next=$(jq -r '.pageNextToken // empty' <<<"$page")
    [ -n "$next" ] || break
  done
}

total_acked=0 total_lost=0
for t in $(seq 1 "$TRIALS"); do
  dir="$TMP/data$t"
  start_mock "$dir" "$TMP/ready.json"
  api="http://127.0.0.1:$(jq -r .http.port "$TMP/ready.json")"
  pids=()
  for s in "$TMP"/slices/slice.*; do
    a="$TMP/acked/$(basename "$s").$t"
    : >"$a"
    worker "$s" "$api" "$a" &
    pids+=($!)
  done
  # A random moment 0.2..2.0 s into the run.
  sleep "$(awk -v seed="$RANDOM" 'BEGIN {srand(seed); printf "%.3f", 0.2 + rand() * 1.8}')"
  kill -9 "$PID"
  wait "$PID" 2>/dev/null || true
  PID=
  wait "${pids[@]}" 2>/dev/null || true
  cat "$TMP"/acked/slice.*."$t" | sort -u >"$TMP/acked$t"

  start_mock "$dir" "$TMP/ready.json"
  api="http://127.0.0.1:$(jq -r .http.port "$TMP/ready.json")"
  listed "$api" | sort -u >"$TMP/listed$t"
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=

  acked=$(wc -l <"$TMP/acked$t")
  present=$(wc -l <"$TMP/listed$t")
  lost=$(comm -23 "$TMP/acked$t" "$TMP/listed$t" | wc -l)
  total_acked=$((total_acked + acked))
  total_lost=$((total_lost + lost))
  echo "trial $t: $acked claims answered 201 before kill -9, $present listed after restart, $lost lost"
  rm -rf "$dir"
done
echo "durability: $TRIALS trials, $WORKERS concurrent workers, $total_acked acknowledged claims, $total_lost lost"
[ "$total_lost" = 0 ]
