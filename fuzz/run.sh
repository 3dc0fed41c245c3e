#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for a while (docs/fuzzing.md).
#   fuzz/run.sh [SECONDS] [TARGET...]     (default 30 s each, every target)
# Env: BUILD_DIR (default build-fuzz in the repository); JOBS (default 1): how many
# targets run at the same time, and the build's parallel jobs; NICE (default 0): the
# niceness the targets run at; MAX_LEN (default 4096): libFuzzer's -max_len.
# New inputs go to $BUILD_DIR/fuzz-work/<name>/, never into the committed seed corpus;
# crashes are written to $BUILD_DIR/fuzz-artifacts/ and make the script exit 1. Each
# target's final libFuzzer statistics (executions, coverage) are printed at the end.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
secs=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] &&
  targets=(fuzz_attest fuzz_jwt fuzz_dcbor fuzz_claimcsv fuzz_keygen fuzz_report fuzz_bodies fuzz_coapquery)
build=${BUILD_DIR:-$root/build-fuzz}
jobs=${JOBS:-1}
nice=${NICE:-0}

command -v clang >/dev/null || { echo "run.sh: clang is needed (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
CC=clang cmake -S "$root" -B "$build" -DFUZZ=ON -DTESTS=OFF -DBENCH=OFF >/dev/null
cmake --build "$build" --target "${targets[@]}" -j "$jobs"

mkdir -p "$build/fuzz-artifacts"

# One target: its exit status is the script's verdict for it.
run_one() {
  local t=$1 name=${1#fuzz_}
  local work="$build/fuzz-work/$name" bin
  mkdir -p "$work"
  bin=$(find "$build" -type f -name "$t" -perm -u+x | head -n 1)
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    nice -n "$nice" "$bin" -max_total_time="$secs" -max_len="${MAX_LEN:-4096}" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$name-" \
    "$work" "$here/corpus/$name" 2>"$build/fuzz-$name.log"
}

# Run the targets JOBS at a time; each leaves its exit status in fuzz-<name>.rc.
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  echo "== $t for ${secs}s"
  rm -f "$build/fuzz-${t#fuzz_}.rc"
  (
    rc=0
    run_one "$t" || rc=$?
    echo "$rc" >"$build/fuzz-${t#fuzz_}.rc"
  ) &
done
wait

status=0
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  printf '%-16s %s\n' "$t" "$(grep -E '^#[0-9]+[[:space:]]+DONE' "$build/fuzz-$name.log" | tail -n 1)"
done
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  if [ "$(cat "$build/fuzz-$name.rc" 2>/dev/null)" != 0 ]; then
    echo "!! $t found a problem; see $build/fuzz-$name.log and $build/fuzz-artifacts/" >&2
    status=1
  fi
done
exit $status
