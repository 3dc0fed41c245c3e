#!/usr/bin/env bash
# Install what is missing, then build and run the whole suite twice: a normal build
# (build/) and an AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/); then
# the integration tests against a ThreadSanitizer build of the server (build-tsan/) and
# a short soak run (scripts/soak.sh).
# Every build treats compiler warnings as errors (-DWERROR=ON).
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

jobs=$(nproc)
status=0
# run_suite DIR [-L LABEL --] [cmake args...]
run_suite() {
  local dir=$1 ctest_args=()
  shift
  if [ "${1:-}" = "-L" ]; then ctest_args=("$1" "$2"); shift 3; fi
  echo "== build $dir ($*)"
  ./scripts/build.sh "$dir" -DTESTS=ON -DBENCH=OFF -DWERROR=ON "$@"
  rm -rf "$dir/sanitizer-logs" && mkdir -p "$dir/sanitizer-logs"
  echo "== test $dir ${ctest_args[*]}"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" "${ctest_args[@]}") || status=1
  # Sanitizer reports land in files (see tests/CMakeLists.txt): Criterion does not fail
  # a test whose process leaked, so any report at all fails the run here.
  if compgen -G "$dir/sanitizer-logs/*" >/dev/null; then
    echo "== sanitizer reports ($dir)"
    cat "$dir"/sanitizer-logs/* | head -200
    status=1
  fi
}

run_suite build
run_suite build-asan -DASAN=ON -DUBSAN=ON
# ThreadSanitizer instruments the server (and the simulator) only; the unit tests have
# nothing threaded to show it, so the integration label alone runs here.
run_suite build-tsan -L integration -- -DTSAN=ON

# A short soak run against the normal build: slow-header connections, a CoAP Block1 flood
# and oversized reports at once, with health latency and RSS bounds (docs/safety.md).
echo "== soak"
BUILD_DIR=build SOAK_SECONDS="${SOAK_SECONDS:-10}" ./scripts/soak.sh || status=1

# Every fuzz target from its seed corpus, FUZZ_SECONDS each (60: long enough to find the
# class of issue 17 in seconds-old seeds), as many at a time as there are cores, so that
# the whole script stays under 15 minutes on 2 cores (docs/fuzzing.md).
echo "== fuzz"
# The fuzz build is the clang build: configure it with warnings as errors first (the
# cache keeps WERROR when fuzz/run.sh configures it again).
CC=clang cmake -S . -B build-fuzz -DFUZZ=ON -DTESTS=OFF -DBENCH=OFF -DWERROR=ON >/dev/null
BUILD_DIR=build-fuzz JOBS="${FUZZ_JOBS:-$jobs}" fuzz/run.sh "${FUZZ_SECONDS:-60}" || status=1
if [ $status -ne 0 ]; then echo "test.sh: FAILED" >&2; fi
exit $status
