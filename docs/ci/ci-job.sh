#!/usr/bin/env bash
# The CI job of docs/ci/: the shell steps that the GitHub Actions workflow
# (github-actions.yml) and the GitLab CI job (gitlab-ci.yml) run, and that the test
# suite runs here (ctest it_ci_job), so the recipes cannot rot.
#
#   docs/ci/ci-job.sh [ARTIFACT_DIR]     (default ./nrfprov-artifacts)
#
# 1. Start nrfprov-mock in memory on free ports with its proxy listener, and wait for
#    its ready line (read from a FIFO: no sleeps, bounded by NRFPROV_READY_TIMEOUT).
# 2. Job A, as an unmodified host tool would: register a simulated nRF91's identity,
#    add the onboarding rule and claim the device through the proxy under
#    https://api.provisioning.nrfcloud.com (curl --proxy, the mock's CA), then let
#    nrfprov-sim provision it through the same proxy under
#    https://provisioning-http.nrfcloud.com (HTTPS_PROXY).
# 3. POST /_mock/reset, and check that nothing is left.
# 4. Job B: a second device claimed directly and provisioned over CoAP+DTLS.
# On failure: the request journal (GET /_mock/requests), the mock's log and the
# simulator's output land in ARTIFACT_DIR for the CI system to upload; exit status 1.
#
# Programs: nrfprov-mock and nrfprov-sim from PATH, or NRFPROV_MOCK / NRFPROV_SIM; curl.
# Every network call goes to 127.0.0.1 and is bounded in time.
set -euo pipefail

artifacts=${1:-./nrfprov-artifacts}
mock_bin=${NRFPROV_MOCK:-nrfprov-mock}
sim_bin=${NRFPROV_SIM:-nrfprov-sim}
ready_timeout=${NRFPROV_READY_TIMEOUT:-30}
key="ci-team-key"
tag="nrf-cloud-onboarding"

work=$(mktemp -d "${TMPDIR:-/tmp}/nrfprov-ci.XXXXXX")
mock_pid=""
api=""
step_name="start"

finish() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "ci-job: FAILED at step '$step_name'; artifacts in $artifacts" >&2
    mkdir -p "$artifacts"
    if [ -n "$api" ]; then
      curl -sS --max-time 10 -o "$artifacts/journal.json" "$api/_mock/requests?limit=1000" || true
    fi
    cp "$work/mock.log" "$artifacts/mock.log" 2>/dev/null || true
    cp "$work"/sim-*.log "$artifacts/" 2>/dev/null || true
  fi
  if [ -n "$mock_pid" ]; then
    kill -TERM "$mock_pid" 2>/dev/null || true
    wait "$mock_pid" 2>/dev/null || true
  fi
  exec 3<&- 2>/dev/null || true
  rm -rf "$work"
  exit "$rc"
}
trap finish EXIT

step() {
  step_name=$*
  echo "== $*"
}
fail() {
  echo "ci-job: $*" >&2
  exit 1
}

# curl with bounded waits; fails unless the status is the one wanted; prints the body.
call() {
  local want=$1 method=$2 url=$3 body=${4:-} status
  shift 4 || shift $#
  status=$(curl -sS --max-time 20 -o "$work/body" -w '%{http_code}' -X "$method" \
    -H "Authorization: Bearer $key" -H "Content-Type: application/json" \
    ${body:+--data-binary "$body"} "$@" "$url") || fail "$method $url: curl failed"
  [ "$status" = "$want" ] || fail "$method $url: HTTP $status, wanted $want: $(cat "$work/body")"
  cat "$work/body"
}

step "start nrfprov-mock on free ports"
mkfifo "$work/ready-line"
"$mock_bin" --in-memory --http-port 0 --https-port 0 --coap-port 0 --coaps-port 0 --proxy-port 0 \
  --ready-file "$work/ready.json" >"$work/ready-line" 2>"$work/mock.log" &
mock_pid=$!
exec 3<"$work/ready-line"
line=""
read -r -t "$ready_timeout" line <&3 || fail "no ready line within $ready_timeout s: $(cat "$work/mock.log")"
echo "$line"
# The port of one listener in the ready line ("... http=127.0.0.1:8080 ...").
port_of() {
  local re=" $1=[^ ]+:([0-9]+)"
  [[ $line =~ $re ]] || fail "no $1 listener in: $line"
  echo "${BASH_REMATCH[1]}"
}
api="http://127.0.0.1:$(port_of http)"
coaps_port=$(port_of coaps)
proxy="http://127.0.0.1:$(port_of proxy)"
"$mock_bin" probe --url "$api/_mock/health" || fail "probe failed"
curl -sS --max-time 10 -o "$work/ca.pem" "$api/_mock/ca" || fail "GET /_mock/ca failed"

rule='{"name":"CI onboarding","active":true,"tags":["'$tag'"],"commands":[
 {"description":"Generate the cloud access key","request":{"cloudAccessKeyGeneration":{"secTag":16842753,"deviceManagementGroup":"ci","subType":"ci"}}},
 {"description":"Done","request":{"finished":{}}}]}'

# provision NAME URL [env...]: create a device, register its identity, claim it with
# the tag through CLAIM_URL (with CLAIM_ARGS), run the simulator against URL.
provision() {
  local name=$1 url=$2 claim_url=$3
  shift 3
  local dir="$work/$name" device token
  device=$("$sim_bin" create --dir "$dir") || fail "nrfprov-sim create failed"
  call 201 POST "$api/_mock/identities" "$("$sim_bin" identity --dir "$dir")" >/dev/null
  token=$("$sim_bin" token --dir "$dir")
  call 201 POST "$claim_url/v1/claimed-devices" '{"claimToken":"'"$token"'","tags":["'$tag'"]}' "${claim_args[@]}" >/dev/null
  echo "claimed $device"
  env "$@" timeout 60 "$sim_bin" run --dir "$dir" --url "$url" --ca "$work/ca.pem" >"$work/sim-$name.log" 2>&1 ||
    fail "nrfprov-sim run for $name failed: $(tail -n 5 "$work/sim-$name.log")"
  local commands
  commands=$(call 200 GET "$api/v1/claimed-devices/$device/provisioning")
  if grep -Eq '"status":"(PENDING|IN_PROGRESS|FAILED|CANCELLED)"' <<<"$commands"; then
    fail "$name: not every command succeeded: $commands"
  fi
  call 200 GET "$api/v1/devices/$device" | grep -q 'BEGIN CERTIFICATE' || fail "$name: not onboarded"
  echo "$name: provisioned and onboarded ($device)"
}

step "job A: claim and provision through the proxy under nRF Cloud's host names"
claim_args=(--proxy "$proxy" --cacert "$work/ca.pem")
call 201 POST "https://api.provisioning.nrfcloud.com/v1/provisioning-rules" "$rule" "${claim_args[@]}" >/dev/null
provision device-a "https://provisioning-http.nrfcloud.com" "https://api.provisioning.nrfcloud.com" \
  "HTTPS_PROXY=$proxy" "https_proxy=$proxy" "NO_PROXY=" "no_proxy="

step "reset between jobs"
call 204 POST "$api/_mock/reset" >/dev/null
left=$(call 200 GET "$api/v1/claimed-devices")
grep -q '"total":0' <<<"$left" || fail "state left after the reset: $left"

step "job B: claim directly, provision over CoAP+DTLS"
claim_args=()
call 201 POST "$api/v1/provisioning-rules" "$rule" >/dev/null
provision device-b "coaps://127.0.0.1:$coaps_port" "$api"

step "done"
echo "ci-job: OK"
