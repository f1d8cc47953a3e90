#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang (ASan + UBSan) in
# build-fuzz/ and runs each in turn for a while, starting from a copy of its
# checked-in corpus (tests/fuzz/corpus/<target>/ and regressions/<target>/).
# Prints per target the edges covered (libFuzzer's final `cov:`); exits
# non-zero if any target crashed, leaked, hung or broke an invariant, and
# prints where its crash file was kept.
#
# Usage: scripts/fuzz.sh [--seconds N] [--empty] [TARGET...]
#   --seconds N  time per target (default $FUZZ_SECONDS, else 60)
#   --empty      start from an empty corpus instead (to measure the seeds)
#   TARGET       only these targets (default: all, see tests/fuzz/CMakeLists.txt)
# Work files and crash files: build-fuzz/runs/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
empty=0
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="${2:-}"; shift $(($# > 1 ? 2 : 1)) ;;
    --seconds=*) seconds="${1#--seconds=}"; shift ;;
    --empty) empty=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
    *) only+=("$1"); shift ;;
  esac
done
case "$seconds" in
  ''|*[!0-9]*|0) echo "fuzz: --seconds takes a positive number, not '$seconds'" >&2; exit 2 ;;
esac

if ! scripts/deps.sh --fuzz; then
  echo "fuzz: FAILED: clang and libclang-rt-14-dev are needed and could not be installed" >&2
  exit 1
fi
if ! command -v clang >/dev/null; then
  echo "fuzz: FAILED: clang is not on PATH after scripts/deps.sh --fuzz" >&2
  exit 1
fi

targets=($(sed -n '/^set(fuzz_targets/,/)/p' tests/fuzz/CMakeLists.txt |
           sed 's/set(fuzz_targets//; s/)//' | tr -s ' \n' ' '))
if [ ${#only[@]} -gt 0 ]; then
  for t in "${only[@]}"; do
    [[ " ${targets[*]} " == *" $t "* ]] || { echo "fuzz: no target '$t' (${targets[*]})" >&2; exit 2; }
  done
  targets=("${only[@]}")
fi

dir=build-fuzz
mkdir -p "$dir"
if ! { cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
         -DSHOP_FUZZ=ON && cmake --build "$dir" -j2 --target fuzz-targets; } >"$dir/build.log" 2>&1; then
  tail -n 40 "$dir/build.log" >&2
  echo "fuzz: FAILED: the fuzz build failed (whole log: $dir/build.log)" >&2
  exit 1
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
printf 'fuzz: %s s per target, %s corpus, %s\n' "$seconds" \
  "$([ $empty = 1 ] && echo empty || echo seed)" "$(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-20s %8s %8s %10s  %s\n' target edges features runs result
for t in "${targets[@]}"; do
  work="$dir/runs/$t"
  rm -rf "$work/corpus"
  mkdir -p "$work/corpus" "$work/crashes"
  if [ $empty = 0 ]; then
    cp tests/fuzz/corpus/"$t"/* "$work/corpus/" 2>/dev/null || true
    find tests/fuzz/regressions/"$t" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$work/corpus/" \;
  fi
  log="$work/fuzz.log"
  rc=0
  "$dir/bin/fuzz-$t" "$work/corpus" -max_total_time="$seconds" -timeout=30 \
    -artifact_prefix="$work/crashes/" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  stats=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$stats")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$stats")
  runs=$(sed -n "s/^stat::number_of_executed_units: *//p" "$log" | tail -n 1)
  if [ $rc -eq 0 ]; then
    result=ok
  else
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    result="FAILED (exit $rc): crash file ${crash:-none written}, log $log"
    failed+=("$t")
  fi
  printf '%-20s %8s %8s %10s  %s\n' "$t" "${cov:-?}" "${ft:-?}" "${runs:-?}" "$result"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}: fix the bug, then add the crash file to" \
       "tests/fuzz/regressions/<target>/ (see tests/fuzz/README.md)" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran clean"
