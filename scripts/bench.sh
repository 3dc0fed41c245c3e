#!/usr/bin/env bash
# Run the benchmarks of bench/ and compare the mock with its baselines measured in the
# same run: scripts/bench.sh [startup|claims|device_poll|coap_poll|scale|fleet|all] (scale and
# fleet are not part of all: they take minutes)
#
# For: a person or a separate CI step measuring performance by hand. Not for the test
# suite (tests never time anything). Builds build/ (or $BUILD_DIR) with -DBENCH=ON when
# needed, runs each benchmark as alternating baseline/mock rounds and takes medians,
# prints a short table per benchmark and writes bench/results/<name>.json. Everything
# runs on 127.0.0.1, every load loop is bounded, and every server started here is
# stopped here (by its pid). What the mock cannot do yet is reported as "skipped: why".
#
# Environment: BUILD_DIR (build), BENCH_RUNS (3 rounds), BENCH_DURATION (3 s per load
# run), BENCH_NO_BUILD=1 (use the binaries as they are), BENCH_STRICT=1 (exit 1 when a
# target is missed).
# shellcheck disable=SC2317  # cleanup, le and ge are called indirectly (trap, verdict).
# Not `set -e`: a benchmark that cannot run is reported as skipped, not fatal.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUNS=${BENCH_RUNS:-3}
DURATION=${BENCH_DURATION:-3}
RESULTS=$ROOT/bench/results
B=$BUILD/bench
MOCK=$BUILD/nrfprov-mock
KEY="Authorization: Bearer bench-key"
WHAT=${1:-all}
MISSED=0

case $WHAT in
  startup | claims | device_poll | coap_poll | scale | fleet | all) ;;
  *) echo "usage: scripts/bench.sh [startup|claims|device_poll|coap_poll|scale|fleet|all]" >&2; exit 2 ;;
esac

TMP=$(mktemp -d "${TMPDIR:-/tmp}/nrfprov-bench.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------
# Build.

build() {
  [ "${BENCH_NO_BUILD:-}" = 1 ] && return 0
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DBENCH=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
  elif ! grep -q '^BENCH:BOOL=ON' "$BUILD/CMakeCache.txt"; then
    cmake "$BUILD" -DBENCH=ON >/dev/null || exit 1
  fi
  if grep -Eq '^(ASAN|UBSAN):BOOL=ON' "$BUILD/CMakeCache.txt"; then
    echo "bench: warning: $BUILD is a sanitizer build; numbers will be meaningless" >&2
  fi
  cmake --build "$BUILD" -j2 --target bench_tools >"$TMP/build-bench.log" 2>&1 || {
    cat "$TMP/build-bench.log" >&2
    exit 1
  }
  # The mock may be mid-edit; its benchmarks are skipped when it does not build.
  if ! cmake --build "$BUILD" -j2 --target nrfprov-mock >"$TMP/build-mock.log" 2>&1; then
    echo "bench: nrfprov-mock does not build; its side of every benchmark is skipped" >&2
    rm -f "$MOCK"
  fi
}

# ---------------------------------------------------------------------------------------
# Small helpers: numbers out of one-line JSON, medians, ratios, servers.

# The number under "key" in a one-line JSON text (the first occurrence).
num() { grep -o "\"$2\":[-0-9][-0-9.eE+]*" <<<"$1" | head -1 | cut -d: -f2; }
# The count of one status in a loadgen/coap_load "statuses" object (0 when absent).
status_count() { local n; n=$(sed -n "s/.*\"statuses\":{[^}]*\"$2\":\([0-9]*\).*/\1/p" <<<"$1"); echo "${n:-0}"; }
# The statuses object itself, for messages.
statuses() { sed -n 's/.*"statuses":\({[^}]*}\).*/\1/p' <<<"$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {if (NR == 0) print 0; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a/b; else print 0}'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a <= b)}'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a >= b)}'; }
# verdict VAR CHECK...: VAR becomes ok, or MISSED (and the run remembers a miss).
verdict() {
  local var=$1
  shift
  if "$@"; then printf -v "$var" ok; else printf -v "$var" MISSED; MISSED=1; fi
}
bool() { if [ "$1" = ok ]; then echo true; else echo false; fi; }
# A shell string as the inside of a JSON string.
jstr() { printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g'; }
have_mock() { [ -x "$MOCK" ]; }
mock_has() { grep -q -- "$1" <<<"$MOCK_HELP"; }

# The port of one listener ("http", "coap") in a ready file, whatever its spacing.
ready_port() { tr -d ' \n\t' <"$1" | sed -n "s/.*\"$2\":{[^}]*\"port\":\([0-9]*\).*/\1/p"; }

# start NAME -- CMD...: start a server with --ready-file appended, wait (bounded) for the
# file; sets SERVER_PID and READY (the ready file). Returns 1 if it never got ready.
start() {
  local name=$1
  shift 2
  READY=$TMP/$name.ready
  rm -f "$READY"
  "$@" --ready-file "$READY" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local _
  for _ in $(seq 200); do
    [ -s "$READY" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "bench: $name did not get ready:" >&2
  sed 's/^/  | /' "$TMP/$name.err" >&2
  stop "$SERVER_PID"
  return 1
}

# stop PID: SIGTERM, then SIGKILL after 5 s; the pid leaves the list cleanup stops.
stop() {
  local pid=$1 p _ left=()
  for p in "${PIDS[@]}"; do
    [ "$p" = "$pid" ] || left+=("$p")
  done
  PIDS=("${left[@]}")
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; fi
  wait "$pid" 2>/dev/null || true
}

# The mock's arguments for the listeners a benchmark needs (http, or http and coap); only
# the flags this build of the mock knows are passed.
mock_args() {
  local want=$1 a=(--log-level warn --http-port 0)
  mock_has --bind && a+=(--bind 127.0.0.1)
  mock_has --https-port && a+=(--https-port -1)
  mock_has --coaps-port && a+=(--coaps-port -1)
  if mock_has --coap-port; then
    if [ "$want" = coap ]; then a+=(--coap-port 0); else a+=(--coap-port -1); fi
  fi
  echo "${a[@]}"
}

# One HTTP request with the load generator; prints the status (0 when none), body in $TMP/body.
call() {
  local url=$1 out
  shift
  out=$("$B/bench_loadgen" --url "$url" --connections 1 --max-requests 1 --duration 30 \
    --body-out "$TMP/body" "$@" 2>/dev/null) || true
  sed -n 's/.*"statuses":{"\([0-9]*\)".*/\1/p' <<<"$out" | grep . || echo 0
}

# loadgen ARGS...: one load run; prints its JSON line (exit status ignored: the caller
# reads the statuses).
loadgen() { "$B/bench_loadgen" "$@" 2>>"$TMP/loadgen.err" || true; }

write_result() { mkdir -p "$RESULTS"; echo "$2" >"$RESULTS/$1.json"; echo "  -> bench/results/$1.json"; }

# ---------------------------------------------------------------------------------------
# startup: exec to first 200 and idle RSS, mock vs bare libmicrohttpd.

startup_ok() { le "$1" 15 && le "$2" 1.5; }

bench_startup() {
  echo "== startup: exec -> first 200 on GET /_mock/health, idle RSS (${RUNS} rounds x 5 runs)"
  local r out base_ms=() base_rss=() mock_ms=() mock_rss=() skip=""
  have_mock || skip="nrfprov-mock is not built"
  local margs=()
  [ -z "$skip" ] && read -ra margs <<<"$(mock_args http)"
  for r in $(seq "$RUNS"); do
    out=$("$B/bench_startup" --runs 5 --path /_mock/health -- "$B/bench_bare_mhd" --port 0)
    base_ms+=("$(num "$out" ready_ms)")
    base_rss+=("$(num "$out" rss_kb)")
    if [ -z "$skip" ]; then
      if out=$("$B/bench_startup" --runs 5 --path /_mock/health -- "$MOCK" --in-memory "${margs[@]}" 2>"$TMP/startup.err"); then
        mock_ms+=("$(num "$out" ready_ms)")
        mock_rss+=("$(num "$out" rss_kb)")
      else
        skip="mock did not answer 200 on /_mock/health: $(head -3 "$TMP/startup.err" | tr '\n' ' ')"
      fi
    fi
  done
  local bm br
  bm=$(median "${base_ms[@]}")
  br=$(median "${base_rss[@]}")
  printf '  %-34s %12s %12s %8s  %s\n' "" baseline mock ratio target
  if [ -n "$skip" ]; then
    printf '  %-34s %12.2f %12s\n' "ready (exec -> first 200), ms" "$bm" -
    printf '  %-34s %12.1f %12s\n' "idle RSS, MB" "$(awk -v k="$br" 'BEGIN{print k/1024}')" -
    echo "  mock: skipped: $skip"
    write_result startup "{\"baseline\":{\"ready_ms\":$bm,\"rss_kb\":$br},\"mock\":null,\"skipped\":\"$(jstr "$skip")\"}"
    return
  fi
  local mm mr ra v1 v2
  mm=$(median "${mock_ms[@]}")
  mr=$(median "${mock_rss[@]}")
  ra=$(ratio "$mm" "$bm")
  verdict v1 startup_ok "$mm" "$ra"
  verdict v2 le "$mr" 6144
  printf '  %-34s %12.2f %12.2f %8s  %s\n' "ready (exec -> first 200), ms" "$bm" "$mm" "$ra" "<= 15 ms and <= 1.5x: $v1"
  printf '  %-34s %12.1f %12.1f %8s  %s\n' "idle RSS, MB" "$(awk -v k="$br" 'BEGIN{print k/1024}')" \
    "$(awk -v k="$mr" 'BEGIN{print k/1024}')" "$(ratio "$mr" "$br")" "<= 6 MB: $v2"
  write_result startup "{\"baseline\":{\"ready_ms\":$bm,\"rss_kb\":$br},\"mock\":{\"ready_ms\":$mm,\"rss_kb\":$mr},\"ratio_ready\":$ra,\"targets\":{\"ready_ms\":15,\"ratio_ready\":1.5,\"rss_kb\":6144},\"ready_ok\":$(bool "$v1"),\"rss_ok\":$(bool "$v2")}"
}

# ---------------------------------------------------------------------------------------
# claims: raw SQLite commits/s vs single claims/s; bulk claim latency; GET one device.

bench_claims() {
  echo "== claims: single claims/s vs raw SQLite commits/s, bulk claim of 1000, GET one device"
  local r out sqlite=() c1=() c8=() skip="" single_skip="" bulk=() get=() bare=()
  local url mport dir tokens_per_run=$((DURATION * 15000))
  have_mock || skip="nrfprov-mock is not built"
  [ -z "$skip" ] && [ ! -x "$B/bench_tokens" ] && skip="bench_tokens is not built (no server/proto/attest.h)"

  local mock_pid="" has_reset=0
  if [ -z "$skip" ]; then
    dir=$(mktemp -d "$TMP/data.XXXXXX")
    # shellcheck disable=SC2046
    if start mock -- "$MOCK" --data-dir "$dir" $(mock_args http); then
      mock_pid=$SERVER_PID
      mport=$(ready_port "$READY" http)
      url=http://127.0.0.1:$mport
    else
      skip="the mock did not start with --data-dir"
    fi
  fi
  if [ -z "$skip" ]; then
    "$B/bench_tokens" --count 1 --out "$TMP/probe.jsonl"
    local st
    st=$(call "$url/v1/claimed-devices" --header "$KEY" --body-file "$TMP/probe.jsonl" --content-type application/json)
    case $st in
      201) ;;
      404 | 405) skip="the mock has no POST /v1/claimed-devices yet ($st)" ;;
      *) skip="probe claim answered $st: $(head -c 300 "$TMP/body")" ;;
    esac
    [ "$(call "$url/_mock/reset" --method POST)" = 204 ] && has_reset=1
  fi

  for r in $(seq "$RUNS"); do
    out=$("$B/bench_raw_sqlite" --dir "$TMP" --duration "$DURATION")
    sqlite+=("$(num "$out" rps)")
    [ -n "$skip$single_skip" ] && continue
    local conns
    for conns in 1 8; do
      "$B/bench_tokens" --count "$tokens_per_run" --out "$TMP/claims.jsonl"
      out=$(loadgen --url "$url/v1/claimed-devices" --connections "$conns" --duration "$DURATION" \
        --header "$KEY" --body-list "$TMP/claims.jsonl" --content-type application/json --expect 201)
      if [ "$(status_count "$out" 201)" = 0 ]; then
        single_skip="single claims did not answer 201: $(statuses "$out") $(tail -1 "$TMP/loadgen.err")"
        break
      fi
      if [ "$conns" = 1 ]; then c1+=("$(num "$out" rps)"); else c8+=("$(num "$out" rps)"); fi
      if [ "$has_reset" = 1 ]; then call "$url/_mock/reset" --method POST >/dev/null; fi
    done
  done

  # Bulk claim: 1000 tokens as text/csv, median of 5, reset in between (fresh tokens
  # when the mock has no reset yet).
  local bulk_skip=$skip
  if [ -z "$bulk_skip" ]; then
    for r in 1 2 3 4 5; do
      if [ "$has_reset" = 1 ]; then
        call "$url/_mock/reset" --method POST >/dev/null
        [ "$r" = 1 ] && "$B/bench_tokens" --count 1000 --csv --out "$TMP/bulk.csv"
      else
        "$B/bench_tokens" --count 1000 --csv --out "$TMP/bulk.csv"
      fi
      out=$(loadgen --url "$url/v1/claimed-devices" --connections 1 --max-requests 1 --duration 60 \
        --header "$KEY" --body-file "$TMP/bulk.csv" --content-type text/csv --body-out "$TMP/bulk.out")
      if [ "$(status_count "$out" 200)" = 0 ] || ! grep -q '"claimedIds"' "$TMP/bulk.out"; then
        bulk_skip="bulk claim answered $(statuses "$out") $(head -c 200 "$TMP/bulk.out")"
        break
      fi
      bulk+=("$(awk -v us="$(num "$out" p50_us)" 'BEGIN{printf "%.2f", us/1000}')")
    done
  fi

  # GET one device: the mock at 64 connections vs bare MHD answering a same-sized JSON.
  local get_skip=$skip id
  if [ -z "$get_skip" ]; then
    "$B/bench_tokens" --count 1 --out "$TMP/one.jsonl" --ids "$TMP/one.ids"
    id=$(head -1 "$TMP/one.ids")
    [ "$(call "$url/v1/claimed-devices" --header "$KEY" --body-file "$TMP/one.jsonl" --content-type application/json)" = 201 ] ||
      get_skip="claiming the device failed"
    if [ -z "$get_skip" ]; then
      st=$(call "$url/v1/claimed-devices/$id" --header "$KEY")
      [ "$st" = 200 ] || get_skip="the mock has no GET /v1/claimed-devices/{id} yet ($st)"
    fi
  fi
  start bare_json -- "$B/bench_bare_mhd" --json --port 0 || return
  local bare_pid=$SERVER_PID bport
  bport=$(ready_port "$READY" http)
  for r in $(seq "$RUNS"); do
    out=$(loadgen --url "http://127.0.0.1:$bport/v1/claimed-devices/x" --connections 64 --duration "$DURATION" --header "$KEY" --expect 200)
    bare+=("$(num "$out" rps)")
    if [ -z "$get_skip" ]; then
      out=$(loadgen --url "$url/v1/claimed-devices/$id" --connections 64 --duration "$DURATION" --header "$KEY" --expect 200)
      get+=("$(num "$out" rps)")
    fi
  done
  stop "$bare_pid"
  [ -n "$mock_pid" ] && stop "$mock_pid"

  local sq m1 m8 r1 r8 bm v json
  sq=$(median "${sqlite[@]}")
  bm=$(median "${bare[@]}")
  printf '  %-34s %12s %12s %8s  %s\n' "" baseline mock ratio target
  json="{\"baseline\":{\"sqlite_commits_per_s\":$sq,\"bare_mhd_json_rps\":$bm}"
  if [ -n "$skip$single_skip" ] || [ ${#c1[@]} -eq 0 ]; then
    printf '  %-34s %12.0f %12s\n' "single claims/s (raw SQLite)" "$sq" -
    echo "  single claims: skipped: ${skip:-${single_skip:-no run}}"
    json+=",\"single\":null"
  else
    m1=$(median "${c1[@]}")
    m8=$(median "${c8[@]}")
    r1=$(ratio "$m1" "$sq")
    r8=$(ratio "$m8" "$sq")
    verdict v ge "$r8" 0.5
    printf '  %-34s %12.0f %12.0f %8s  %s\n' "single claims/s, 1 connection" "$sq" "$m1" "$r1" "(information)"
    printf '  %-34s %12.0f %12.0f %8s  %s\n' "single claims/s, 8 connections" "$sq" "$m8" "$r8" ">= 0.50: $v"
    json+=",\"single\":{\"claims_per_s_1\":$m1,\"claims_per_s_8\":$m8,\"ratio_1\":$r1,\"ratio_8\":$r8,\"target\":0.5,\"ok\":$(bool "$v")}"
  fi
  if [ -n "$bulk_skip" ] || [ ${#bulk[@]} -eq 0 ]; then
    echo "  bulk claim: skipped: ${bulk_skip:-no run}"
    json+=",\"bulk\":null"
  else
    local bl
    bl=$(median "${bulk[@]}")
    verdict v le "$bl" 30
    printf '  %-34s %12s %12.2f %8s  %s\n' "bulk claim of 1000 rows, ms" - "$bl" - "<= 30 ms: $v"
    json+=",\"bulk\":{\"ms\":$bl,\"all_ms\":[$(IFS=,; echo "${bulk[*]}")],\"target_ms\":30,\"ok\":$(bool "$v")}"
  fi
  if [ -n "$get_skip" ] || [ ${#get[@]} -eq 0 ]; then
    printf '  %-34s %12.0f %12s\n' "GET one device, req/s, 64 conns" "$bm" -
    echo "  GET one device: skipped: ${get_skip:-no run}"
    json+=",\"get_one\":null"
  else
    local gm gr
    gm=$(median "${get[@]}")
    gr=$(ratio "$gm" "$bm")
    verdict v ge "$gr" 0.6
    printf '  %-34s %12.0f %12.0f %8s  %s\n' "GET one device, req/s, 64 conns" "$bm" "$gm" "$gr" ">= 0.60: $v"
    json+=",\"get_one\":{\"rps\":$gm,\"ratio\":$gr,\"target\":0.6,\"ok\":$(bool "$v")}"
  fi
  write_result claims "$json}"
}

# ---------------------------------------------------------------------------------------
# device_poll: GET /v1/provisioning/commands with nothing queued (204), mock vs bare MHD.

# Lists, resets and a bulk claim at 1k, 100k and 1M devices (docs/performance.md); the
# baseline of each page is the same page at 1k devices, measured in this run.
# BENCH_SCALE_SIZES overrides the sizes (comma-separated).
bench_scale() {
  echo "== scale: list pages by store size, reset, bulk claim"
  if ! have_mock || [ ! -x "$B/bench_scale" ]; then
    echo "skipped: nrfprov-mock or bench_scale is not built"
    return 0
  fi
  "$B/bench_tokens" --count 1000 --csv --out "$TMP/scale-bulk.csv" || return 0
  mkdir -p "$RESULTS"
  "$B/bench_scale" --mock "$MOCK" --tokens "$TMP/scale-bulk.csv" --sizes "${BENCH_SCALE_SIZES:-1000,100000,1000000}" \
    --json "$RESULTS/scale.json"
}

# A fleet of BENCH_FLEET_COUNT (1000) simulated devices through a 5-command onboarding
# rule, over HTTP and over CoAPs, BENCH_FLEET_CONCURRENCY (16) at a time; the mock runs
# from a file store with every listener on. Figures: devices/s, per-device p50/p95/p99,
# the mock's CPU time per device (docs/performance.md).
bench_fleet() {
  echo "== fleet: simulated devices through a 5-command onboarding rule"
  local sim=$BUILD/nrfprov-sim
  if ! have_mock || [ ! -x "$sim" ]; then
    echo "skipped: nrfprov-mock or nrfprov-sim is not built"
    return 0
  fi
  local data=$TMP/fleet-data count=${BENCH_FLEET_COUNT:-1000} conc=${BENCH_FLEET_CONCURRENCY:-16}
  start fleet-mock -- "$MOCK" --data-dir "$data" --http-port 0 --https-port -1 --coap-port -1 --coaps-port 0 \
    --log-level error || return 0
  local pid=$SERVER_PID http coaps
  http=$(ready_port "$READY" http)
  coaps=$(ready_port "$READY" coaps)
  curl -sf -X POST "http://127.0.0.1:$http/v1/provisioning-rules" -H 'Authorization: Bearer fleet' \
    -H 'Content-Type: application/json' -d '{"name": "onboarding", "active": true, "tags": ["fleet"], "commands": [
      {"request": {"clientPrivateKeyGeneration": {"secTag": 16842753}}},
      {"request": {"certificateSigningRequest": {"secTag": 16842754, "attributes": ""}}},
      {"request": {"cloudAccessKeyGeneration": {"secTag": 16842755}}},
      {"request": {"config": {"properties": {"provisioning/mode": "lab"}}}},
      {"request": {"finished": {}}}]}' >/dev/null || { echo "skipped: cannot create the rule"; return 0; }
  mkdir -p "$RESULTS"
  : >"$RESULTS/fleet.txt"
  local proto url
  for proto in http coaps; do
    if [ "$proto" = http ]; then url=http://127.0.0.1:$http; else url=coaps://127.0.0.1:$coaps; fi
    printf '%-6s ' "$proto" | tee -a "$RESULTS/fleet.txt"
    "$sim" fleet --dir "$TMP/fleet-$proto" --count "$count" --concurrency "$conc" --url "$url" \
      --api "http://127.0.0.1:$http" --ca "$data/pki/ca.pem" --key fleet --tags fleet --mock-pid "$pid" \
      2>/dev/null | tee -a "$RESULTS/fleet.txt"
  done
  stop "$pid"
}

bench_device_poll() {
  echo "== device_poll: GET /v1/provisioning/commands, nothing queued (204), keep-alive and close"
  local r out skip="" url tok bport base_ka=() base_cl=() mock_ka=() mock_cl=()
  local path="/v1/provisioning/commands?after=&rxMaxSize=2048"
  have_mock || skip="nrfprov-mock is not built"
  [ -z "$skip" ] && [ ! -x "$B/bench_tokens" ] && skip="bench_tokens is not built (no server/proto/attest.h)"
  local mock_pid=""
  if [ -z "$skip" ]; then
    # shellcheck disable=SC2046
    if start mock -- "$MOCK" --in-memory $(mock_args http); then
      mock_pid=$SERVER_PID
      url=http://127.0.0.1:$(ready_port "$READY" http)
      "$B/bench_tokens" --count 1 --out "$TMP/dev.jsonl"
      tok=$(sed -n 's/.*"claimToken":"\([^"]*\)".*/\1/p' "$TMP/dev.jsonl")
      local st
      st=$(call "$url/v1/claimed-devices" --header "$KEY" --body-file "$TMP/dev.jsonl" --content-type application/json)
      [ "$st" = 201 ] || skip="claiming the device answered $st"
      if [ -z "$skip" ]; then
        st=$(call "$url$path" --header "Authorization: Bearer att.$tok")
        [ "$st" = 204 ] || skip="the device poll answered $st, not 204 (endpoint missing?)"
      fi
    else
      skip="the mock did not start"
    fi
  fi
  start bare -- "$B/bench_bare_mhd" --port 0 || return
  local bare_pid=$SERVER_PID
  bport=$(ready_port "$READY" http)
  for r in $(seq "$RUNS"); do
    out=$(loadgen --url "http://127.0.0.1:$bport$path" --connections 64 --duration "$DURATION" --header "Authorization: Bearer att.x" --expect 204)
    base_ka+=("$(num "$out" rps)")
    out=$(loadgen --url "http://127.0.0.1:$bport$path" --connections 16 --duration "$DURATION" --header "Authorization: Bearer att.x" --expect 204 --close)
    base_cl+=("$(num "$out" rps)")
    [ -n "$skip" ] && continue
    out=$(loadgen --url "$url$path" --connections 64 --duration "$DURATION" --header "Authorization: Bearer att.$tok" --expect 204)
    mock_ka+=("$(num "$out" rps)")
    out=$(loadgen --url "$url$path" --connections 16 --duration "$DURATION" --header "Authorization: Bearer att.$tok" --expect 204 --close)
    mock_cl+=("$(num "$out" rps)")
  done
  stop "$bare_pid"
  [ -n "$mock_pid" ] && stop "$mock_pid"

  local bk bc mk mc rk rc v
  bk=$(median "${base_ka[@]}")
  bc=$(median "${base_cl[@]}")
  printf '  %-34s %12s %12s %8s  %s\n' "" baseline mock ratio target
  if [ -n "$skip" ]; then
    printf '  %-34s %12.0f %12s\n' "polls/s, 64 conns keep-alive" "$bk" -
    printf '  %-34s %12.0f %12s\n' "polls/s, 16 conns, close each" "$bc" -
    echo "  mock: skipped: $skip"
    write_result device_poll "{\"baseline\":{\"keepalive_rps\":$bk,\"close_rps\":$bc},\"mock\":null,\"skipped\":\"$(jstr "$skip")\"}"
    return
  fi
  mk=$(median "${mock_ka[@]}")
  mc=$(median "${mock_cl[@]}")
  rk=$(ratio "$mk" "$bk")
  rc=$(ratio "$mc" "$bc")
  verdict v ge "$rk" 0.5
  printf '  %-34s %12.0f %12.0f %8s  %s\n' "polls/s, 64 conns keep-alive" "$bk" "$mk" "$rk" ">= 0.50: $v"
  printf '  %-34s %12.0f %12.0f %8s  %s\n' "polls/s, 16 conns, close each" "$bc" "$mc" "$rc" "(information)"
  write_result device_poll "{\"baseline\":{\"keepalive_rps\":$bk,\"close_rps\":$bc},\"mock\":{\"keepalive_rps\":$mk,\"close_rps\":$mc},\"ratio_keepalive\":$rk,\"ratio_close\":$rc,\"target\":0.5,\"ok\":$(bool "$v")}"
}

# ---------------------------------------------------------------------------------------
# coap_poll: GET p/cmd with nothing queued (2.05, empty), mock vs bare libcoap.

bench_coap_poll() {
  echo "== coap_poll: GET p/cmd, nothing queued (2.05), 16 sessions after p/auth-jwt"
  local r out skip="" sessions=16 cport url="" base=() mock=()
  local query="p/cmd?after=&rxMaxSize=2048"
  have_mock || skip="nrfprov-mock is not built"
  [ -z "$skip" ] && ! mock_has --coap-port && skip="the mock has no --coap-port yet"
  [ -z "$skip" ] && [ ! -x "$B/bench_tokens" ] && skip="bench_tokens is not built (no server/proto/attest.h)"
  if [ -z "$skip" ] && ! "$B/bench_tokens" --count "$sessions" --out "$TMP/coap.jsonl" --jwts "$TMP/coap.jwts" 2>"$TMP/tokens.err"; then
    skip="$(cat "$TMP/tokens.err")"
  fi
  local mock_pid=""
  if [ -z "$skip" ]; then
    # shellcheck disable=SC2046
    if start mock -- "$MOCK" --in-memory $(mock_args coap); then
      mock_pid=$SERVER_PID
      url=http://127.0.0.1:$(ready_port "$READY" http)
      cport=$(ready_port "$READY" coap)
      [ -n "$cport" ] || skip="the mock's ready file names no coap listener"
    else
      skip="the mock did not start with --coap-port 0"
    fi
  fi
  if [ -z "$skip" ]; then
    out=$(loadgen --url "$url/v1/claimed-devices" --connections 1 --duration 30 --header "$KEY" \
      --body-list "$TMP/coap.jsonl" --content-type application/json --expect 201)
    [ "$(status_count "$out" 201)" = "$sessions" ] || skip="claiming the devices answered $(statuses "$out")"
  fi
  if [ -z "$skip" ]; then
    out=$("$B/bench_coap_load" --url "coap://127.0.0.1:$cport/$query" --sessions "$sessions" --duration 1 \
      --max-requests 100 --auth-jwt-file "$TMP/coap.jwts" --expect 2.05 2>"$TMP/coap.err") ||
      skip="probe: $(statuses "$out") $(head -2 "$TMP/coap.err" | tr '\n' ' ')"
  fi
  start bare_coap -- "$B/bench_bare_coap" --port 0 || return
  local bare_pid=$SERVER_PID bport auth=()
  bport=$(ready_port "$READY" coap)
  # The same JWTs work against the baseline, whose auth resources answer 2.01 to anything.
  [ -s "$TMP/coap.jwts" ] && auth=(--auth-jwt-file "$TMP/coap.jwts")
  for r in $(seq "$RUNS"); do
    out=$("$B/bench_coap_load" --url "coap://127.0.0.1:$bport/$query" --sessions "$sessions" --duration "$DURATION" \
      --expect 2.05 "${auth[@]}" 2>>"$TMP/coap.err" || true)
    base+=("$(num "$out" rps)")
    [ -n "$skip" ] && continue
    out=$("$B/bench_coap_load" --url "coap://127.0.0.1:$cport/$query" --sessions "$sessions" --duration "$DURATION" \
      --expect 2.05 --auth-jwt-file "$TMP/coap.jwts" 2>>"$TMP/coap.err" || true)
    mock+=("$(num "$out" rps)")
  done
  stop "$bare_pid"
  [ -n "$mock_pid" ] && stop "$mock_pid"

  local bm mm ra v
  bm=$(median "${base[@]}")
  printf '  %-34s %12s %12s %8s  %s\n' "" baseline mock ratio target
  if [ -n "$skip" ]; then
    printf '  %-34s %12.0f %12s\n' "p/cmd polls/s, 16 sessions" "$bm" -
    echo "  mock: skipped: $skip"
    write_result coap_poll "{\"baseline\":{\"rps\":$bm},\"mock\":null,\"skipped\":\"$(jstr "$skip")\"}"
    return
  fi
  mm=$(median "${mock[@]}")
  ra=$(ratio "$mm" "$bm")
  verdict v ge "$ra" 0.5
  printf '  %-34s %12.0f %12.0f %8s  %s\n' "p/cmd polls/s, 16 sessions" "$bm" "$mm" "$ra" ">= 0.50: $v"
  write_result coap_poll "{\"baseline\":{\"rps\":$bm},\"mock\":{\"rps\":$mm},\"ratio\":$ra,\"target\":0.5,\"ok\":$(bool "$v")}"
}

# ---------------------------------------------------------------------------------------

build
MOCK_HELP=""
have_mock && MOCK_HELP=$("$MOCK" --help 2>&1 || true)
echo "bench: $RUNS rounds, ${DURATION} s per load run, build $BUILD, $(nproc) cores"
case $WHAT in
  startup) bench_startup ;;
  claims) bench_claims ;;
  scale) bench_scale ;;
  fleet) bench_fleet ;;
  device_poll) bench_device_poll ;;
  coap_poll) bench_coap_poll ;;
  all) bench_startup; bench_claims; bench_device_poll; bench_coap_poll ;;
esac
if [ "$MISSED" = 1 ] && [ "${BENCH_STRICT:-}" = 1 ]; then exit 1; fi
exit 0
