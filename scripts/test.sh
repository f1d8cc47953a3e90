#!/usr/bin/env bash
# Builds and runs every test (CTest starts the private PostgreSQL once per
# run and stops it after). Usage: scripts/test.sh [--asan] [ctest args...]
#
# Every file a test makes goes under one scratch directory per run
# (SHOP_TEST_TMPDIR, one subdirectory per test binary, also TMPDIR): a binary
# that passed has its directory removed, so a green run leaves nothing in
# /tmp; a failed one keeps its daemons' logs and their paths are printed.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
if [ "${1:-}" = "--asan" ]; then
  dir=build-asan
  scripts/build.sh --asan
  shift
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  # nng's asynchronous teardown at a test process's exit (tests/lsan.supp)
  export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}"
else
  scripts/build.sh
fi

# Chromium for the dashboard's browser test; without it that test skips.
scripts/deps.sh --browser || echo "test: chromium could not be installed; the dashboard browser test will skip" >&2

scratch=$(mktemp -d /tmp/shopflow-test.XXXXXX)
chmod 755 "$scratch" # PostgreSQL, run as its own user, makes files under it
export SHOP_TEST_TMPDIR="$scratch" TMPDIR="$scratch"
cd "$dir"
rc=0
ctest --output-on-failure "$@" || rc=$?

failed=()
if [ -f Testing/Temporary/LastTestsFailed.log ] && [ "$rc" -ne 0 ]; then
  mapfile -t failed < <(cut -d: -f2 Testing/Temporary/LastTestsFailed.log)
fi
for sub in "$scratch"/*; do
  [ -e "$sub" ] || continue
  name=$(basename "$sub")
  keep=0
  for f in "${failed[@]}"; do [ "$f" = "$name" ] && keep=1; done
  [ "$keep" -eq 1 ] || rm -rf "$sub"
done
if rmdir "$scratch" 2>/dev/null; then
  exit "$rc"
fi
echo "== logs of the failed tests, kept:" >&2
find "$scratch" -type f -name '*.log' | sort >&2
echo "== (everything they left is under $scratch)" >&2
exit "$rc"
