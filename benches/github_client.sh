#!/usr/bin/env bash
# Before/after numbers for the GitHub client (issue 11: octocrab):
# release binary size, cold `run` of a git-only config (no GitHub at all),
# `run` of the demo drift world, and the GitHub requests / 304s / points of a
# cold and a warm `run` of that world (disk cache on, a fresh cache dir).
#
#   bash benches/github_client.sh                       # builds this tree's release binaries
#   BIN=/path/villa-telemetry WORLD_BIN=/path/drift_world bash benches/github_client.sh
#
# RUNS (default 9) runs each, median. Only 127.0.0.1 is contacted; the world
# is stopped on exit. Prints a markdown table; details go to $OUT.
set -euo pipefail

RUNS=${RUNS:-9}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
OUT=${OUT:-$target/bench/github_client}
mkdir -p "$OUT"
log() { echo "bench: $*" >&2; }

if [[ -z ${BIN:-} ]]; then
  log "building release binaries (cargo build --release)"
  cargo build --release --quiet --bin villa-telemetry --example drift_world
  BIN=$target/release/villa-telemetry
  WORLD_BIN=$target/release/examples/drift_world
fi

world_pid=
cleanup() {
  if [[ -n $world_pid ]] && kill -0 "$world_pid" 2>/dev/null; then
    kill "$world_pid" 2>/dev/null || true
    wait "$world_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT INT TERM

now_ns() { date +%s%N; }
median() {
  sort -n "$1" | awk '{ a[NR] = $1 } END {
    if (NR % 2) printf "%.1f", a[(NR + 1) / 2]; else printf "%.1f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# time_runs NAME CMD...: RUNS runs of CMD (exit 0 or 2 accepted), median ms.
time_runs() {
  local name=$1 t0 t1 rc
  shift
  : >"$OUT/$name.ms"
  for ((r = 0; r < RUNS; r++)); do
    t0=$(now_ns)
    rc=0
    "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || rc=$?
    t1=$(now_ns)
    if ((rc != 0 && rc != 2)); then log "$name: exit $rc"; cat "$OUT/$name.err" >&2; exit 1; fi
    echo "scale=1; ($t1 - $t0) / 1000000" | bc >>"$OUT/$name.ms"
  done
  median "$OUT/$name.ms"
}

cat >"$OUT/git-only.toml" <<TOML
[project]
name = "git only"

[[checks]]
id = "git"
git = { path = "$root" }
TOML

"$WORLD_BIN" 0 0 "$OUT/world" 900 >"$OUT/world.out" 2>"$OUT/world.err" &
world_pid=$!
config=
for _ in $(seq 1 100); do
  config=$(sed -n 's/^CONFIG //p' "$OUT/world.out")
  [[ -n $config ]] && break
  kill -0 "$world_pid" 2>/dev/null || { cat "$OUT/world.err" >&2; exit 1; }
  sleep 0.1
done
[[ -n $config ]] || { log "the drift world did not start"; exit 1; }
sed 's/disk_cache = false/disk_cache = true/' "$config" >"$OUT/world-cached.toml"

# Requests of one run, from its report's github block: requests, 304s, points.
spent() {
  jq -r '.github | "\(.requests) \(.not_modified) \(.requests - .not_modified)"' "$1"
}
cache=$(mktemp -d)
rc=0
XDG_CACHE_HOME=$cache "$BIN" run --format json --config "$OUT/world-cached.toml" >"$OUT/cold.json" 2>/dev/null || rc=$?
XDG_CACHE_HOME=$cache "$BIN" run --format json --config "$OUT/world-cached.toml" >"$OUT/warm.json" 2>/dev/null || rc=$?
rm -rf "$cache"
read -r cold_req cold_304 cold_pts < <(spent "$OUT/cold.json")
read -r warm_req warm_304 warm_pts < <(spent "$OUT/warm.json")

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
git_ms=$(time_runs git-only "$BIN" run --format json --config "$OUT/git-only.toml")
world_ms=$(time_runs world "$BIN" run --format json --config "$config")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
size=$(stat -c %s "$BIN")

cat <<MD | tee "$OUT/results.md"
Binary: $BIN ($(nproc) cores, load average $load_before before / $load_after after; $RUNS runs each, median)

| measurement | value |
| --- | --- |
| release binary size | $((size / 1024)) KiB ($size bytes) |
| cold \`run\`, git-only config (new process each) | $git_ms ms |
| \`run\`, demo drift world (no added latency, disk cache off) | $world_ms ms |
| demo world, first \`run\` (empty disk cache): requests / 304s / points | $cold_req / $cold_304 / $cold_pts |
| demo world, second \`run\` (new process, disk cache): requests / 304s / points | $warm_req / $warm_304 / $warm_pts |
MD
