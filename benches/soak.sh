#!/usr/bin/env bash
# Soak benchmark: does resident memory stay flat over many forced refreshes?
#
#   bash benches/soak.sh                 # N=5000 refreshes each
#   N=20000 bash benches/soak.sh
#   BIN=path/to/villa-telemetry bash benches/soak.sh   # measure another build
#   PROFILE=debug bash benches/soak.sh                 # no release build
#
# 1. `demo` (its loopback world and GitHub look-alike answer every refresh);
# 2. `serve` against loopback upstreams (examples/serve_upstreams, 10 checks
#    answering at once).
# For each: WARMUP forced refreshes (`/api/telemetry/status?refresh=1`, each
# waits for a full run), RSS; then N more, RSS again. One curl process sends
# them all over one connection (curl -K), so the client costs nothing.
# Prints a markdown table. Only 127.0.0.1 is contacted; every loop is bounded;
# every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-5000}
WARMUP=${WARMUP:-500}
DEMO_PORT=${DEMO_PORT:-38013}
SERVE_PORT=${SERVE_PORT:-38014}
TARGET=${CARGO_TARGET_DIR:-target}
WORK=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# Plugins play no part here: build without wasmtime (much faster).
# PROFILE=debug uses the debug binaries `cargo test` already built.
PROFILE=${PROFILE:-release}
if [[ $PROFILE == release ]]; then
  cargo build --release --quiet --no-default-features --bin villa-telemetry --example serve_upstreams
fi
BIN=$(realpath "${BIN:-$TARGET/$PROFILE/villa-telemetry}")
UPSTREAMS=$TARGET/$PROFILE/examples/serve_upstreams

wait_for() { # file pattern
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "soak: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1
}
rss_kib() { ps -o rss= -p "$1" | tr -d ' '; }
# N forced refreshes over one connection; fails if any answer is not 200.
refresh() { # port count
  local cfg=$WORK/curl.cfg
  : >"$cfg"
  for _ in $(seq "$2"); do
    printf 'url = "http://127.0.0.1:%s/api/telemetry/status?refresh=1"\noutput = "/dev/null"\n' "$1" >>"$cfg"
  done
  local codes
  codes=$(curl -s -K "$cfg" -w '%{http_code}\n' | sort | uniq -c)
  [[ $(echo "$codes" | awk '$2 == 200 {print $1}') == "$2" ]] ||
    { echo "soak: not every refresh answered 200: $codes" >&2; exit 1; }
}
# soak name pid port
soak() {
  refresh "$3" "$WARMUP"
  local before after t0 t1
  before=$(rss_kib "$2")
  t0=$(date +%s.%N)
  refresh "$3" "$N"
  t1=$(date +%s.%N)
  after=$(rss_kib "$2")
  awk -v n="$1" -v b="$before" -v a="$after" -v N="$N" -v s="$(echo "$t1 - $t0" | bc)" 'BEGIN {
    printf "| %s | %d | %.1f MiB | %.1f MiB | %+.0f B | %.1f s |\n", n, N, b/1024, a/1024, (a-b)*1024/N, s }'
}

echo "| process | refreshes | RSS before | RSS after | per refresh | time |"
echo "|---|---|---|---|---|---|"

"$BIN" demo --listen "127.0.0.1:$DEMO_PORT" >"$WORK/demo.out" 2>"$WORK/demo.err" &
pids+=($!)
wait_for "$WORK/demo.err" 'dashboard on'
soak demo "${pids[-1]}" "$DEMO_PORT"

"$UPSTREAMS" 10 0 "$WORK" >"$WORK/upstreams.out" &
pids+=($!)
wait_for "$WORK/upstreams.out" '^UPSTREAM'
CONFIG=$(sed -n 's/^CONFIG //p' "$WORK/upstreams.out")
"$BIN" serve --config "$CONFIG" --listen "127.0.0.1:$SERVE_PORT" 2>"$WORK/serve.err" &
pids+=($!)
wait_for "$WORK/serve.err" 'dashboard on'
soak "serve (10 checks)" "${pids[-1]}" "$SERVE_PORT"
