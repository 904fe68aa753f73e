#!/usr/bin/env bash
# Benchmark: `villa-telemetry run` with 20 metric checks against one real
# Prometheus (Debian's /usr/bin/prometheus, or $PROMETHEUS).
#
#   bash benches/prometheus.sh          # RUNS=9 by default
#   BUILD_ARGS=--no-default-features bash benches/prometheus.sh   # without the plugin runtime
#
# Starts Prometheus on a free loopback port with a temporary storage dir,
# scraping itself every second (its own metrics are the data: no exporter
# needed), waits for two scrapes, then times `run --format json` (median of
# RUNS) on two configs of 20 metric checks (PromQL with rate(),
# histogram_quantile(), sum by): instant queries only, and each check also
# asking `range = "1h"` for a sparkline. Prometheus's own request counters
# confirm one /api/v1/query per check (plus one /api/v1/query_range per
# range check) per run. Prints a markdown table on stdout; details go to
# $OUT (target/bench/prometheus). Prometheus is stopped on exit.
set -euo pipefail

RUNS=${RUNS:-9}
CHECKS=${CHECKS:-20}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
OUT=${OUT:-$target/bench/prometheus}
mkdir -p "$OUT"
prom=${PROMETHEUS:-/usr/bin/prometheus}
log() { echo "bench: $*" >&2; }
[[ -x $prom ]] || { log "$prom not found (apt-get install -y prometheus)"; exit 1; }

# BUILD_ARGS=--no-default-features leaves the plugin runtime out (metric
# checks do not use it; it halves the release build on a small machine).
log "building the release binary ${BUILD_ARGS:-}"
# shellcheck disable=SC2086
cargo build --release --quiet --bin villa-telemetry ${BUILD_ARGS:-}
bin=$target/release/villa-telemetry

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
data=$(mktemp -d)
prom_pid=
cleanup() {
  if [[ -n $prom_pid ]] && kill -0 "$prom_pid" 2>/dev/null; then
    kill "$prom_pid" 2>/dev/null || true
    wait "$prom_pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT INT TERM
cat >"$data/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:$port']
YML
"$prom" --config.file="$data/prometheus.yml" --storage.tsdb.path="$data/tsdb" \
  --web.listen-address="127.0.0.1:$port" --log.level=warn 2>"$OUT/prometheus.err" &
prom_pid=$!

query() { # PROMQL -> first value of the result, or empty
  curl -s --max-time 5 --get "$url/api/v1/query" --data-urlencode "query=$1" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null || true
}
for _ in $(seq 1 120); do
  [[ -n $(query 'sum(rate(prometheus_http_requests_total[1m]))') ]] && break
  kill -0 "$prom_pid" 2>/dev/null || { cat "$OUT/prometheus.err" >&2; exit 1; }
  sleep 0.5
done
[[ -n $(query 'sum(rate(prometheus_http_requests_total[1m]))') ]] || { log "no data in Prometheus"; exit 1; }

queries=(
  'sum(rate(prometheus_http_requests_total[1m]))'
  '1000 * histogram_quantile(0.95, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[1m])))'
  'sum(prometheus_tsdb_head_series)'
  'sum(rate(prometheus_tsdb_head_samples_appended_total[1m]))'
  'max(process_resident_memory_bytes) / 1048576'
)
# Every query must have a number before timing: right after start, a rate()
# over too few scrapes is empty and histogram_quantile() is NaN, which the
# checks rightly report as errors (exit 2, see "Exit codes" in README.md).
for q in "${queries[@]}"; do
  for _ in $(seq 1 120); do
    v=$(query "$q")
    [[ -n $v && $v != NaN && $v != +Inf && $v != -Inf ]] && break
    sleep 0.5
  done
  [[ -n $v && $v != NaN ]] || { log "no value yet for: $q"; exit 1; }
done
gen_config() { # N RANGE FILE
  local n=$1 range=$2 file=$3 i q
  printf '[project]\nname = "Prometheus bench"\n\n' >"$file"
  for ((i = 0; i < n; i++)); do
    q=${queries[i % ${#queries[@]}]}
    {
      printf '[[checks]]\nid = "m%02d"\npanel = "Bench"\n' "$i"
      if [[ -n $range ]]; then
        printf "prometheus = { url = \"%s\", query = '%s', range = \"%s\" }\n" "$url" "$q" "$range"
      else
        printf "prometheus = { url = \"%s\", query = '%s' }\n" "$url" "$q"
      fi
      printf 'metric = { value = "$.value", warn = "> 1e12", critical = "> 1e15" }\n\n'
    } >>"$file"
  done
}
gen_config "$CHECKS" "" "$OUT/instant.toml"
gen_config "$CHECKS" "1h" "$OUT/range.toml"

now_ns() { date +%s%N; }
median() {
  sort -n "$1" | awk '{ a[NR] = $1 } END {
    if (NR % 2) printf "%.1f", a[(NR + 1) / 2]; else printf "%.1f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
handled() { # HANDLER -> requests Prometheus served on it so far
  local v
  v=$(query "sum(prometheus_http_requests_total{handler=\"$1\"})")
  echo "${v:-0}"
}
# all_pass JSON: every one of the CHECKS checks passed; else say which did not.
all_pass() {
  python3 - "$1" "$CHECKS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
bad = [(c["id"], c["status"], c.get("error_kind"), c.get("error") or c.get("summary")) for c in r["checks"] if c["status"] != "pass"]
if bad or len(r["checks"]) != int(sys.argv[2]):
    sys.exit(f"bench: {len(bad)} of {len(r['checks'])} checks did not pass: {bad[:3]}")
PY
}
# run_once CONFIG OUTPUT: one `run`. Its exit code is the report's (0 when
# every check passes, 2 when one fails or errors): a non-zero code here is a
# broken bench, so say which checks and why instead of stopping silently
# under `set -e`.
run_once() {
  local rc=0
  "$bin" run --format json --config "$1" >"$2" || rc=$?
  if ((rc != 0)); then
    log "run exited $rc on $1"
    all_pass "$2" || true
    exit 1
  fi
}
# time_run NAME CONFIG: RUNS timed runs; every check must pass.
time_run() {
  local name=$1 config=$2 t0 t1 r
  : >"$OUT/$name.ms"
  for ((r = 0; r < RUNS; r++)); do
    t0=$(now_ns)
    run_once "$config" "$OUT/$name.json"
    t1=$(now_ns)
    echo "scale=1; ($t1 - $t0) / 1000000" | bc >>"$OUT/$name.ms"
  done
  all_pass "$OUT/$name.json"
  median "$OUT/$name.ms"
}
# Counters are scraped every second: wait two scrapes around the counted runs.
count_requests() { # CONFIG HANDLER -> requests per run
  local config=$1 handler=$2 before after
  sleep 2.2
  before=$(handled "$handler")
  "$bin" run --format json --config "$config" >/dev/null
  sleep 2.2
  after=$(handled "$handler")
  # The counting query itself is one /api/v1/query.
  python3 -c "print(int(float('$after') - float('$before')) - (1 if '$handler' == '/api/v1/query' else 0))"
}

run_once "$OUT/instant.toml" "$OUT/warm-up.json"  # warm-up
# Not `x=$(time_run ...)`: errexit does not reach into a command
# substitution, so a failed run there would go unnoticed.
time_run instant "$OUT/instant.toml" >"$OUT/instant.median"
instant_ms=$(<"$OUT/instant.median")
time_run range "$OUT/range.toml" >"$OUT/range.median"
range_ms=$(<"$OUT/range.median")
instant_q=$(count_requests "$OUT/instant.toml" /api/v1/query)
range_q=$(count_requests "$OUT/range.toml" /api/v1/query)
range_r=$(count_requests "$OUT/range.toml" /api/v1/query_range)
printf '[project]\nname = "empty"\n' >"$OUT/empty.toml"
: >"$OUT/empty.ms"
for ((r = 0; r < RUNS; r++)); do
  t0=$(now_ns)
  "$bin" run --format json --config "$OUT/empty.toml" >/dev/null
  t1=$(now_ns)
  echo "scale=1; ($t1 - $t0) / 1000000" | bc >>"$OUT/empty.ms"
done
zero_ms=$(median "$OUT/empty.ms")

cat <<MD
| measurement ($CHECKS metric checks, one Prometheus $("$prom" --version 2>&1 | head -1 | awk '{print $3}'), median of $RUNS) | value |
| --- | --- |
| process start: \`run\`, 0 checks | $zero_ms ms |
| \`run\`, $CHECKS instant queries | **$instant_ms ms** |
| \`run\`, $CHECKS instant + $CHECKS range queries (\`range = "1h"\`, 60 points) | **$range_ms ms** |
| /api/v1/query requests per run (instant config) | $instant_q |
| /api/v1/query requests per run (range config) | $range_q |
| /api/v1/query_range requests per run (range config) | $range_r |
MD
log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
