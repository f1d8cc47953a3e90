#!/usr/bin/env bash
# Configures and builds shopflow. Usage: scripts/build.sh [--asan]
# Release-style build in build/, ASan+UBSan build in build-asan/.
set -euo pipefail
cd "$(dirname "$0")/.."
"scripts/deps.sh"

dir=build
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [ "${1:-}" = "--asan" ]; then
  dir=build-asan
  flags=(-DCMAKE_BUILD_TYPE=Debug -DSHOP_SANITIZE=ON)
fi
cmake -S . -B "$dir" "${flags[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
