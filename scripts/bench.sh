#!/usr/bin/env bash
# The main job: the sync-vs-async benchmark with a member-service failure on
# the embedded PostgreSQL; with --sweep (`make bench-sweep`) the capacity of
# each architecture instead. Extra arguments go to `shopflow bench` (see
# `build/bin/shopflow bench --help`, `... bench --sweep --help`). Exit: 0 all
# invariants hold / sweep done, 1 a violation, 2 usage, 4 the run could not
# be carried out.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
# Debian's chromium, for the report's browser check
# (tests/bench_report_browser_test.c); the bench itself does not need it.
scripts/deps.sh --browser ||
  echo "bench: chromium could not be installed: the report's browser test will skip" >&2
build/bin/shopflow db start >/dev/null
echo "embedded PostgreSQL: $(build/bin/shopflow db url)"
# The run is named by its commit and time, for the README's tables.
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ local changes)'), $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
exec build/bin/shopflow bench "$@"
