#!/usr/bin/env bash
# Builds and runs every test (CTest starts the private PostgreSQL once per
# run and stops it after). Usage: scripts/test.sh [--asan] [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
if [ "${1:-}" = "--asan" ]; then
  dir=build-asan
  scripts/build.sh --asan
  shift
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
else
  scripts/build.sh
fi
cd "$dir"
ctest --output-on-failure "$@"
