#!/usr/bin/env bash
# Benchmark of `villa-telemetry serve` (see BENCHMARKS.md, serve):
#   1. requests/s and p99 of the cached /api/telemetry/status under wrk
#      (64 connections) while every upstream takes 1 s;
#   2. resident memory of serve with 100 checks after a few refreshes;
#   3. upstream calls per refresh with 1,000 concurrent viewers.
# Needs wrk and curl (apt-get install -y wrk curl). Usage: benches/serve.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
CHECKS=100
PORT=${PORT:-38003}
TARGET=${CARGO_TARGET_DIR:-target}
WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

cargo build --release --quiet --bin villa-telemetry --example serve_upstreams
BIN=$TARGET/release/villa-telemetry

"$TARGET/release/examples/serve_upstreams" "$CHECKS" 1000 "$WORK" >"$WORK/upstreams.out" &
pids+=($!)
for _ in $(seq 100); do grep -q '^UPSTREAM' "$WORK/upstreams.out" 2>/dev/null && break; sleep 0.05; done
CONFIG=$(sed -n 's/^CONFIG //p' "$WORK/upstreams.out")
UPSTREAM=$(sed -n 's/^UPSTREAM //p' "$WORK/upstreams.out")

"$BIN" serve --config "$CONFIG" --listen "127.0.0.1:$PORT" 2>"$WORK/serve.err" &
SERVE=$!
pids+=($SERVE)
for _ in $(seq 100); do grep -q 'dashboard on' "$WORK/serve.err" 2>/dev/null && break; sleep 0.05; done
URL="http://127.0.0.1:$PORT/api/telemetry/status"

echo "== warm-up (first run waits for the 1 s upstreams)"
curl -s -o /dev/null -w 'first request: %{time_total}s\n' "$URL"
curl -s -o /dev/null -w 'cached request: %{time_total}s, %{size_download} bytes\n' "$URL"

rss() { echo "after $(metric villa_runs_total) runs: RSS $(ps -o rss= -p "$SERVE" | tr -d ' ') KiB ($1)"; }
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
echo "== resident memory with $CHECKS checks"
for _ in 1 2 3 4 5; do curl -s -o /dev/null "$URL?refresh=1"; done
curl -s -o /dev/null "http://127.0.0.1:$PORT/"
rss "a few refreshes, before any load"

echo "== wrk -t2 -c64 -d10s --latency $URL  ($RUNS runs)"
rps=(); p99=()
for i in $(seq "$RUNS"); do
  out=$(wrk -t2 -c64 -d10s --latency "$URL")
  r=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errs=$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)
  echo "run $i: $r req/s, p99 $p ${errs:+($errs)}"
  rps+=("$r"); p99+=("$p")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median: $(median "${rps[@]}") req/s"
echo "p99 per run: ${p99[*]}"

echo "== upstream calls per refresh, 1,000 concurrent viewers"
calls0=$(curl -s "$UPSTREAM/count"); runs0=$(metric villa_runs_total)
# Every viewer asks for a re-check (?refresh=1) for 10 s: all requests that
# arrive while a run is in flight must share it.
wrk -t2 -c1000 -d10s "$URL?refresh=1" | grep -E 'Requests/sec|requests in|Non-2xx|Socket errors' || true
sleep 2 # let the run still in flight finish, so calls and runs match
calls=$(( $(curl -s "$UPSTREAM/count") - calls0 )); runs=$(( $(metric villa_runs_total) - runs0 ))
echo "1,000 connections x 10 s of ?refresh=1: $runs refreshes, $calls upstream calls = $((calls / runs)) per refresh for $CHECKS checks"
calls0=$(curl -s "$UPSTREAM/count")
wrk -t2 -c1000 -d5s "$URL" | grep -E 'Requests/sec|Non-2xx|Socket errors' || true
echo "1,000 connections x 5 s on a fresh report: $(( $(curl -s "$UPSTREAM/count") - calls0 )) upstream calls"

echo "== resident memory after the load"
rss "after wrk with 64 and 1,000 connections"
