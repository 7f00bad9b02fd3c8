#!/usr/bin/env bash
# Builds the libFuzzer targets (preset fuzz: clang, ASan + UBSan; tests/fuzz)
# and runs each for a bounded time, one process at a time, starting from its
# committed seed corpus (tests/fuzz/corpus/<target>, not modified: new inputs
# go to build/fuzz/runs/<target>). Fails on any crash, sanitizer report, leak,
# timeout (-timeout) or memory blow-up (-rss_limit_mb, also the limit on a
# single allocation); the input that failed is left as
# build/fuzz/runs/<target>-crash-* (or -leak-, -timeout-, -oom-) to turn into
# a regression test. Usage: scripts/fuzz.sh [seconds per target, default 30]
# [target ...] (default: csv npy lines model plugin).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(csv npy lines model plugin)

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"

runs=build/fuzz/runs
mkdir -p "$runs"
failed=0
for t in "${targets[@]}"; do
  exe=build/fuzz/tests/fuzz/fuzz_$t
  corpus="$runs/$t"
  mkdir -p "$corpus"
  rm -f "$runs/$t"-crash-* "$runs/$t"-leak-* "$runs/$t"-timeout-* "$runs/$t"-oom-*
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=("-dict=tests/fuzz/$t.dict")
  log="$runs/$t.log"
  if OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
     UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
     "$exe" "$corpus" "tests/fuzz/corpus/$t" "${dict[@]}" -max_total_time="$seconds" -timeout=10 \
       -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$runs/$t-" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    echo "fuzz_$t: ok, ${execs:-?} runs in ${seconds} s (corpus $(ls "$corpus" | wc -l) new inputs)"
  else
    failed=1
    echo "fuzz_$t: FAILED; log $log; input: $(ls "$runs/$t"-crash-* "$runs/$t"-leak-* "$runs/$t"-timeout-* \
      "$runs/$t"-oom-* 2>/dev/null | head -1)" >&2
    tail -40 "$log" >&2
  fi
done
exit $failed
