#!/usr/bin/env bash
# Install what is missing, then build and run the whole suite twice: a normal build
# (build/) and an AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/).
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

jobs=$(nproc)
status=0
run_suite() {
  local dir=$1
  shift
  echo "== build $dir ($*)"
  ./scripts/build.sh "$dir" -DBENCH=OFF "$@"
  echo "== test $dir"
  (cd "$dir" && ctest --output-on-failure -j"$jobs") || status=1
}

run_suite build
run_suite build-asan -DASAN=ON -DUBSAN=ON
if [ $status -ne 0 ]; then echo "test.sh: FAILED" >&2; fi
exit $status
