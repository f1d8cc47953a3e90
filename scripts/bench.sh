#!/usr/bin/env bash
# The main job: the sync-vs-async benchmark with a member-service failure on
# the embedded PostgreSQL. Extra arguments go to `shopflow bench` (see
# `build/bin/shopflow bench --help`). Exit: 0 all invariants hold, 1 a
# violation, 2 usage, 4 the run could not be carried out.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
build/bin/shopflow db start >/dev/null
echo "embedded PostgreSQL: $(build/bin/shopflow db url)"
exec build/bin/shopflow bench "$@"
