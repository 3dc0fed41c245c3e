#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for a while.
#   fuzz/run.sh [SECONDS] [TARGET...]     (default 30 s each, every target)
# Env: BUILD_DIR (default build-fuzz in the repository), JOBS (parallel build jobs).
# New inputs go to $BUILD_DIR/fuzz-work/<name>/, never into the committed seed corpus;
# crashes are written to $BUILD_DIR/fuzz-artifacts/ and make the script exit 1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
secs=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_attest fuzz_jwt fuzz_dcbor fuzz_claimcsv fuzz_keygen)
build=${BUILD_DIR:-$root/build-fuzz}

command -v clang >/dev/null || { echo "run.sh: clang is needed (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
CC=clang cmake -S "$root" -B "$build" -DFUZZ=ON -DTESTS=OFF -DBENCH=OFF >/dev/null
cmake --build "$build" --target "${targets[@]}" -j "${JOBS:-2}"

mkdir -p "$build/fuzz-artifacts"
status=0
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  work="$build/fuzz-work/$name"
  mkdir -p "$work"
  bin=$(find "$build" -type f -name "$t" -perm -u+x | head -n 1)
  echo "== $t for ${secs}s"
  if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
       UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
       "$bin" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$name-" \
       "$work" "$here/corpus/$name" 2>"$build/fuzz-$name.log"; then
    echo "!! $t found a problem; see $build/fuzz-$name.log and $build/fuzz-artifacts/" >&2
    status=1
  fi
  grep -E "^stat::number_of_executed_units|^stat::new_units_added|^#[0-9]+ +DONE" "$build/fuzz-$name.log" || true
done
exit $status
