#!/usr/bin/env bash
# Installs the Debian packages shopflow needs, only those missing; quiet when
# everything is present. Uses sudo when not root. Usage: scripts/deps.sh [--fuzz|--browser]
# --fuzz adds clang and its sanitizer/libFuzzer runtime (scripts/fuzz.sh);
# --browser adds chromium, for the dashboard's browser test (scripts/test.sh).
# Exits non-zero when a package is missing and cannot be installed.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libnng-dev libprotobuf-c-dev protobuf-c-compiler
  protobuf-compiler libprotoc-dev # protoc and plugin.proto, for protoc-gen-shoprpc
  libpq-dev postgresql
  libcriterion-dev
  gnuplot-nox
  libjansson-dev # JSON: shopflow --json, call -d, the bench report
  nats-server libnats-dev # the JetStream backend (mq/nats/) and its cluster tests
  iproute2 # ip and tc: hosts as network namespaces (--hosts netns) and their link faults
  pg-auto-failover-cli postgresql-15-auto-failover # --hosts netns: each database a failover pair
  prometheus # promtool: tests check every daemon's /metrics with `promtool check metrics`
)
# Debian's headless Chromium, for the dashboard's browser test
# (tests/dashboard_browser_test.c skips with a message without it). The suite
# asks for it (scripts/test.sh); SHOPFLOW_NO_BROWSER=1 leaves it out.
if [ "${1:-}" = "--browser" ] && [ "${SHOPFLOW_NO_BROWSER:-0}" != 1 ]; then
  packages+=(chromium)
fi
if [ "${1:-}" = "--fuzz" ]; then
  # Debian 12: clang 14; libFuzzer and the ASan/UBSan runtimes are in libclang-rt-14-dev.
  packages+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done" >&2
