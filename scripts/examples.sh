#!/usr/bin/env bash
# Builds shopflow (build/), installs it into a temporary prefix, then builds
# examples/echo and examples/mq outside the tree twice, with pkg-config (make,
# shared libraries) and with find_package (cmake, static libraries), and runs
# each against the installed programs, checking what they print. The prefix
# and every build are removed at the end. Exits non-zero on any failure.
# Usage: scripts/examples.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/build.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/shopflow-examples.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "examples: FAIL: $*" >&2
  exit 1
}
# A loopback port nobody listens on (a refused connect).
free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  fail "no free loopback port"
}
# Stops the background process $1 with SIGTERM and waits for it.
stop() {
  kill "$1"
  wait "$1" || fail "process $1 exited with status $? after SIGTERM"
  local left=() pid
  for pid in "${pids[@]}"; do
    [ "$pid" = "$1" ] || left+=("$pid")
  done
  pids=("${left[@]}")
}

prefix=$work/prefix
cmake --install build --prefix "$prefix" >/dev/null
for bin in "$prefix"/bin/*; do
  name=$(basename "$bin")
  "$bin" --version | grep -qE "^$name \(shopflow\) [0-9]+\.[0-9]+\.[0-9]+" ||
    fail "$name --version printed: $("$bin" --version)"
done
# Installed programs take their data from the prefix, not the source tree.
"$prefix/bin/mq-delayd" --help | grep -qF "default $prefix/var/shopflow/delayd" ||
  fail "installed mq-delayd does not default to $prefix/var/shopflow"
[ -f "$prefix/share/shopflow/sql/order/001_orders.sql" ] || fail "no migrations in $prefix/share"

cp -r "$root/examples" "$work/src"

# run_echo DIR: the echo server and five calls of the client from DIR.
run_echo() {
  local port out
  port=$(free_port)
  "$1/echo-server" "tcp://127.0.0.1:$port" >"$work/echo-server.out" 2>"$work/echo-server.log" &
  local server=$!
  pids+=("$server")
  out=$("$1/echo-client" "tcp://127.0.0.1:$port" 5) || fail "echo-client ($1): $out"
  stop "$server"
  echo "$out" | grep -qx "reply 4: echo: hello 4 (served 5)" || fail "echo-client ($1) printed: $out"
  grep -qx "echo-server: stopped after 5 calls" "$work/echo-server.out" ||
    fail "echo-server ($1) printed: $(cat "$work/echo-server.out")"
  echo "examples: echo ($1): 5 calls answered"
}

# run_mq BIN: the installed mq-broker on two free ports and a fresh data
# folder, and BIN sending and consuming 20 messages.
run_mq() {
  local req pub data out
  req=$(free_port)
  pub=$(free_port)
  [ "$req" != "$pub" ] || pub=$(free_port)
  data=$(mktemp -d "$work/mq-data.XXXXXX")
  "$prefix/bin/mq-broker" --url "tcp://127.0.0.1:$req" --pub-url "tcp://127.0.0.1:$pub" \
    --data-dir "$data" 2>"$data.log" &
  local broker=$!
  pids+=("$broker")
  out=$("$1" "tcp://127.0.0.1:$req" "tcp://127.0.0.1:$pub" 20) || fail "mq-example ($1): $out"
  stop "$broker"
  echo "$out" | grep -qx "consumed 20 of 20" || fail "mq-example ($1) printed: $out"
  [ "$(echo "$out" | grep -c '^consumed offset=')" -ge 20 ] || fail "mq-example ($1) printed: $out"
  echo "examples: mq ($1): 20 messages sent and consumed"
}

# pkg-config and make, shared libraries.
make -s -C "$work/src/echo" PREFIX="$prefix" >/dev/null
make -s -C "$work/src/mq" PREFIX="$prefix" >/dev/null
run_echo "$work/src/echo"
run_mq "$work/src/mq/mq-example"

# find_package and cmake, static libraries.
for ex in echo mq; do
  cmake -S "$work/src/$ex" -B "$work/cmake-$ex" -DCMAKE_PREFIX_PATH="$prefix" \
    -DSHOPFLOW_STATIC=ON >/dev/null
  cmake --build "$work/cmake-$ex" -j2 >/dev/null
done
run_echo "$work/cmake-echo"
run_mq "$work/cmake-mq/mq-example"
echo "examples: OK"
