#!/usr/bin/env bash
# Measures WASM plugin overhead: cold compile per plugin and warm per-check
# cost. Builds the host in release (slow on small machines: minutes), the
# plugins once, then runs the ignored bench test in tests/it/plugins.rs.
#
#   benches/plugins.sh            # prints the BENCH lines
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --test it -- --ignored --exact plugins::bench_plugin_overhead --nocapture 2>&1 |
    grep '^BENCH'

# `run` wall time with 50 plugin checks (release binary, one config, the
# trivial plugin 50 times): compile once per process, instantiate per check.
cargo build --release --quiet --bin villa-telemetry
wasm_dir=target/plugin-build/wasm32-wasip2/release
out=target/bench/plugins
mkdir -p "$out"
{
  echo '[project]'
  echo 'name = "50 plugins"'
  for i in $(seq 1 50); do
    printf '\n[[checks]]\nid = "noop-%s"\n[checks.plugin]\nwasm = "%s"\n' "$i" "$PWD/$wasm_dir/testdata_noop.wasm"
  done
} >"$out/fifty.toml"
{
  echo '[project]'
  echo 'name = "1 plugin"'
  printf '\n[[checks]]\nid = "noop"\n[checks.plugin]\nwasm = "%s"\n' "$PWD/$wasm_dir/testdata_noop.wasm"
} >"$out/one.toml"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for cfg in one fifty; do
  for _ in $(seq 1 7); do
    s=$(date +%s%N)
    target/release/villa-telemetry run --format json --config "$out/$cfg.toml" >/dev/null
    e=$(date +%s%N)
    echo $(((e - s) / 1000000))
  done | median | sed "s/^/BENCH run_${cfg}_plugin_checks_ms median=/"
done
