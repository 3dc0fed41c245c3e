#!/usr/bin/env bash
# See it work in 10 seconds: start nrfprov-mock in memory on free ports, create a
# simulated nRF91 with nrfprov-sim, register its identity key, add the nRF Cloud
# onboarding rule, claim the device with its own attestation token and the rule's tag,
# let the simulator provision it, then print what happened and stop the mock.
#
#   ./scripts/demo.sh                      # after building into ./build
#   DEMO_TRANSPORT=coaps ./scripts/demo.sh # http, https (default), coap or coaps
#   NRFPROV_BUILD_DIR=/tmp/b ./scripts/demo.sh
#
# Needs only bash, curl and the two binaries. Every wait is bounded; the exit status is
# non-zero when any step fails. Not a test: the suite lives in tests/.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${NRFPROV_BUILD_DIR:-build}
transport=${DEMO_TRANSPORT:-https}
mock_bin=$build/nrfprov-mock
sim_bin=$build/nrfprov-sim
key="demo-team-key"
tag="nrf-cloud-onboarding"

for b in "$mock_bin" "$sim_bin"; do
  [ -x "$b" ] || { echo "demo: $b is missing; build first (./scripts/build.sh)" >&2; exit 1; }
done
case $transport in http | https | coap | coaps) ;; *) echo "demo: DEMO_TRANSPORT must be http, https, coap or coaps" >&2; exit 1 ;; esac

work=$(mktemp -d /tmp/nrfprov-demo-XXXXXX)
mock_pid=""
stop_mock() {
  if [ -n "$mock_pid" ] && kill -0 "$mock_pid" 2>/dev/null; then
    kill -TERM "$mock_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$mock_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$mock_pid" 2>/dev/null || true
  fi
  mock_pid=""
}
trap 'stop_mock; rm -rf "$work"' EXIT

fail() {
  echo "demo: $*" >&2
  if [ -s "$work/mock.log" ]; then echo "--- mock log ---" >&2; tail -n 20 "$work/mock.log" >&2; fi
  exit 1
}
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }

# The port of one listener from the ready file ({"http": {"host": …, "port": N}, …}).
port_of() { tr -d ' \n' < "$work/ready.json" | sed -n "s/.*\"$1\":{\"host\":\"[^\"]*\",\"port\":\([0-9]*\)}.*/\1/p"; }

# curl with bounded waits; prints the body, fails on an unexpected status.
call() {
  local want=$1 method=$2 path=$3 body=${4:-} out status
  out=$(curl -sS --max-time 10 -o "$work/body" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $key" \
    -H "Content-Type: application/json" ${body:+--data-binary "$body"} "$api$path") || fail "$method $path: curl failed"
  status=$out
  [ "$status" = "$want" ] || fail "$method $path: HTTP $status (wanted $want): $(cat "$work/body")"
  cat "$work/body"
}

# Every value of a string field in JSON text, one per line (enough for the mock's flat answers).
field() { grep -o "\"$1\":\"[^\"]*\"" | sed "s/^\"$1\":\"//; s/\"\$//"; }

step "Starting nrfprov-mock (in memory, free ports)"
"$mock_bin" --in-memory --http-port 0 --https-port 0 --coap-port 0 --coaps-port 0 \
  --ready-file "$work/ready.json" > "$work/mock.log" 2>&1 &
mock_pid=$!
for _ in $(seq 100); do
  [ -s "$work/ready.json" ] && break
  kill -0 "$mock_pid" 2>/dev/null || fail "nrfprov-mock exited during start-up"
  sleep 0.1
done
[ -s "$work/ready.json" ] || fail "nrfprov-mock not ready within 10 s"
head -n 1 "$work/mock.log"
api="http://127.0.0.1:$(port_of http)"
port=$(port_of "$transport")
[ -n "$port" ] || fail "no $transport listener in the ready file"
url="$transport://127.0.0.1:$port"
ca_args=()
if [ "$transport" = https ] || [ "$transport" = coaps ]; then
  curl -sS --max-time 10 -o "$work/ca.pem" "$api/_mock/ca" || fail "GET /_mock/ca failed"
  ca_args=(--ca "$work/ca.pem")
fi

step "Creating a simulated nRF91 (nrfprov-sim create)"
device=$("$sim_bin" create --dir "$work/device") || fail "nrfprov-sim create failed"
echo "device id: $device  (directory $work/device)"

step "Registering its identity key (POST /_mock/identities): its tokens must now verify"
identity=$("$sim_bin" identity --dir "$work/device") || fail "nrfprov-sim identity failed"
call 201 POST /_mock/identities "$identity" | field imei | sed 's/^/imei: /'

step "Adding the onboarding rule for tag $tag (POST /v1/provisioning-rules)"
rule='{"name":"nRF Cloud onboarding","active":true,"tags":["'$tag'"],"commands":[
 {"description":"Generate the cloud access key and onboard","request":{"cloudAccessKeyGeneration":{"secTag":16842753,"deviceManagementGroup":"demo","subType":"nrf9151dk"}}},
 {"description":"Set the polling interval","request":{"config":{"properties":{"provisioning/interval-sec":"0"}}}},
 {"description":"Done","request":{"finished":{}}}]}'
call 201 POST /v1/provisioning-rules "$rule" | field status | head -n 1 | sed 's/^/rule status: /'

step "Claiming the device with its attestation token and the tag (POST /v1/claimed-devices)"
token=$("$sim_bin" token --dir "$work/device") || fail "nrfprov-sim token failed"
call 201 POST /v1/claimed-devices '{"claimToken":"'"$token"'","tags":["'$tag'"]}' | field status | sed 's/^/claimed, status: /'

step "Running the device: nrfprov-sim run --url $url"
rc=0
timeout 60 "$sim_bin" run --dir "$work/device" --url "$url" "${ca_args[@]}" || rc=$?
[ "$rc" -eq 0 ] || fail "nrfprov-sim run exited $rc"

step "What the mock holds now"
call 200 GET "/v1/claimed-devices/$device" | field status | sed 's/^/device status: /'
echo "commands:"
commands=$(call 200 GET "/v1/claimed-devices/$device/provisioning")
paste -d ' ' <(printf '%s\n' "$commands" | field status) <(printf '%s\n' "$commands" | field description) | sed 's/^/  /'
onboarded=$(call 200 GET "/v1/devices/$device")
echo "onboarded device: $(printf '%s' "$onboarded" | field id | head -n 1), subType $(printf '%s' "$onboarded" | field subType)"
printf '%s' "$onboarded" | grep -q 'BEGIN CERTIFICATE' || fail "the onboarded device has no certificate"
if command -v openssl > /dev/null; then
  # The certificate's key must be the one the simulator generated in sec tag 16842753.
  printf '%s' "$onboarded" | field certificatePem | sed 's/\\n/\n/g' > "$work/device.pem"
  [ -s "$work/ca.pem" ] || curl -sS --max-time 10 -o "$work/ca.pem" "$api/_mock/ca"
  openssl verify -CAfile "$work/ca.pem" "$work/device.pem" > /dev/null || fail "the certificate does not verify against the mock's CA"
  [ "$(openssl x509 -in "$work/device.pem" -noout -pubkey)" = \
    "$(openssl pkey -in "$work/device/keystore/16842753/private-key.pem" -pubout)" ] || fail "the certificate is for another key"
  echo "  certificate: $(openssl x509 -in "$work/device.pem" -noout -subject), verifies against the mock's CA,"
  echo "  and certifies the key the device generated in sec tag 16842753"
else
  echo "  certificate issued by the mock's CA (install openssl to see it checked)"
fi

printf '%s' "$commands" | field status | grep -qv SUCCEEDED && fail "a command did not succeed"
step "Done: provisioned and onboarded over $transport"
stop_mock
