#!/usr/bin/env bash
# Benchmark of `villa-telemetry run`: do parallel HTTP checks really overlap?
#
#   bash benches/run.sh                # defaults below
#   RUNS=9 CURL_RUNS=3 bash benches/run.sh
#
# Starts 4 loopback upstreams (examples/slow_hosts.rs) that answer after
# DELAY_MS, generates configs with 200 and 2,000 global HTTP checks spread
# over them (default [run] settings), and measures in one go:
#   - process start: `run` on a config with 0 checks, and `check` on the
#     200-check config;
#   - `run --format json` on 200 and on 2,000 checks (median of RUNS);
#   - a sequential `curl` loop over the same 200 URLs (median of CURL_RUNS);
#   - peak RSS of one 2,000-check run (/usr/bin/time -v, if present).
# Prints a markdown table on stdout; details go to $OUT (target/bench/).
# Only 127.0.0.1 is contacted; every loop is bounded; upstreams are stopped
# on exit.
set -euo pipefail

RUNS=${RUNS:-7}
CURL_RUNS=${CURL_RUNS:-3}
DELAY_MS=${DELAY_MS:-100}
HOSTS=${HOSTS:-4}
SMALL=${SMALL:-200}
LARGE=${LARGE:-2000}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
OUT=${OUT:-$target/bench}
mkdir -p "$OUT"

log() { echo "bench: $*" >&2; }

log "building release binaries (cargo build --release)"
cargo build --release --quiet --bin villa-telemetry --example slow_hosts
bin=$target/release/villa-telemetry
hosts_bin=$target/release/examples/slow_hosts

hosts_pid=
cleanup() {
  if [[ -n $hosts_pid ]] && kill -0 "$hosts_pid" 2>/dev/null; then
    kill "$hosts_pid" 2>/dev/null || true
    wait "$hosts_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT INT TERM

# The upstreams live at most 15 minutes even if this script is killed hard.
"$hosts_bin" --hosts "$HOSTS" --delay-ms "$DELAY_MS" --max-seconds 900 \
  >"$OUT/hosts.json" 2>"$OUT/hosts.err" &
hosts_pid=$!
for _ in $(seq 1 100); do
  [[ -s $OUT/hosts.json ]] && break
  kill -0 "$hosts_pid" 2>/dev/null || { cat "$OUT/hosts.err" >&2; exit 1; }
  sleep 0.1
done
[[ -s $OUT/hosts.json ]] || { log "upstreams did not report their ports"; exit 1; }
mapfile -t ports < <(jq -r '.ports[]' "$OUT/hosts.json" 2>/dev/null ||
  sed -E 's/.*\[([0-9,]*)\].*/\1/' "$OUT/hosts.json" | tr ',' '\n')
log "upstreams on 127.0.0.1 ports ${ports[*]} (delay ${DELAY_MS} ms)"

url_of() { # check number -> URL, round robin over the hosts
  local i=$1
  echo "http://127.0.0.1:${ports[$((i % ${#ports[@]}))]}/api/health/$i"
}

gen_config() { # N FILE: N global HTTP checks, default [run] settings
  local n=$1 file=$2 i
  {
    echo '[project]'
    echo "name = \"bench-$n\""
    echo
    for ((i = 0; i < n; i++)); do
      echo '[[checks]]'
      echo "id = \"h$i\""
      echo "http = { url = \"$(url_of "$i")\" }"
      echo "expect = [\"status == 200\", \"\$.status == 'ok'\"]"
      echo
    done
  } >"$file"
}

gen_config 0 "$OUT/checks-0.toml"
gen_config "$SMALL" "$OUT/checks-$SMALL.toml"
gen_config "$LARGE" "$OUT/checks-$LARGE.toml"
for ((i = 0; i < SMALL; i++)); do url_of "$i"; done >"$OUT/urls-$SMALL.txt"

now_ns() { date +%s%N; }

# time_cmd NAME RUNS CMD...: runs CMD RUNS times, records ms per run in
# $OUT/NAME.ms, prints the median (ms, 1 decimal).
time_cmd() {
  local name=$1 runs=$2 t0 t1 rc
  shift 2
  : >"$OUT/$name.ms"
  for ((r = 0; r < runs; r++)); do
    t0=$(now_ns)
    rc=0
    "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || rc=$?
    t1=$(now_ns)
    if ((rc != 0)); then
      log "$name: exit $rc"; cat "$OUT/$name.err" >&2; exit 1
    fi
    echo "scale=1; ($t1 - $t0) / 1000000" | bc >>"$OUT/$name.ms"
  done
  median "$OUT/$name.ms"
}

median() { # file of numbers, one a line -> median
  sort -n "$1" | awk '{ a[NR] = $1 } END {
    if (NR % 2) printf "%.1f", a[(NR + 1) / 2]; else printf "%.1f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

ratio() { echo "scale=2; $1 / $2" | bc; }

curl_loop() {
  local u
  while read -r u; do
    curl -s -o /dev/null --max-time 5 "$u"
  done <"$1"
}

# Sanity: every check must pass, or the timings measure failures.
"$bin" run --format json --config "$OUT/checks-$SMALL.toml" >"$OUT/sanity.json"
passed=$(jq '[.. | objects | select(has("status") and .status == "pass")] | length' \
  "$OUT/sanity.json" 2>/dev/null || grep -o '"status": *"pass"' "$OUT/sanity.json" | wc -l)
if ((passed < SMALL)); then
  log "only $passed of $SMALL checks passed; see $OUT/sanity.json"; exit 1
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before: $load_before"
log "warm-up, then $RUNS runs each"
"$bin" run --format json --config "$OUT/checks-$LARGE.toml" >/dev/null

start_run=$(time_cmd start-run "$RUNS" "$bin" run --format json --config "$OUT/checks-0.toml")
start_check=$(time_cmd start-check "$RUNS" "$bin" check --config "$OUT/checks-$SMALL.toml")
small=$(time_cmd "run-$SMALL" "$RUNS" "$bin" run --format json --config "$OUT/checks-$SMALL.toml")
large=$(time_cmd "run-$LARGE" "$RUNS" "$bin" run --format json --config "$OUT/checks-$LARGE.toml")
log "sequential curl loop over $SMALL URLs, $CURL_RUNS runs (~$((SMALL * DELAY_MS / 1000)) s each)"
curl_ms=$(time_cmd "curl-$SMALL" "$CURL_RUNS" curl_loop "$OUT/urls-$SMALL.txt")

rss="n/a (no /usr/bin/time)"
if [[ -x /usr/bin/time ]]; then
  /usr/bin/time -v "$bin" run --format json --config "$OUT/checks-$LARGE.toml" \
    >/dev/null 2>"$OUT/rss.txt" || true
  kb=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$OUT/rss.txt")
  [[ -n $kb ]] && rss="$(echo "scale=1; $kb / 1024" | bc) MiB"
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

target_ms=$(echo "scale=1; 1.1 * $DELAY_MS + $start_run" | bc)
target2_ms=$(echo "scale=1; 1.1 * $DELAY_MS + $start_check" | bc)
met=no; met2=no
(($(echo "$small <= $target_ms" | bc))) && met=yes
(($(echo "$small <= $target2_ms" | bc))) && met2=yes

cat <<EOF | tee "$OUT/results.md"
Machine: $(nproc) cores, load average $load_before before / $load_after after; $RUNS runs each (curl: $CURL_RUNS); upstream delay $DELAY_MS ms over $HOSTS hosts.

| measurement | median |
| --- | --- |
| process start: \`run\`, 0 checks | $start_run ms |
| process start: \`check\`, $SMALL checks | $start_check ms |
| \`run\`, $SMALL checks | $small ms |
| target: 1.1 × $DELAY_MS ms + process start (\`run\`, 0 checks) | ≤ $target_ms ms → met: $met |
| target: 1.1 × $DELAY_MS ms + \`check\` of the same $SMALL checks (start + config + plan) | ≤ $target2_ms ms → met: $met2 |
| \`run\`, $LARGE checks | $large ms |
| growth $LARGE / $SMALL checks | $(ratio "$large" "$small")× |
| sequential \`curl\` loop, $SMALL URLs | $curl_ms ms |
| speedup: curl loop / \`run\` $SMALL | $(ratio "$curl_ms" "$small")× |
| peak RSS, \`run\` $LARGE checks | $rss |
EOF
log "per-run times: $OUT/*.ms"
