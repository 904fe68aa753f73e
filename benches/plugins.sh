#!/usr/bin/env bash
# Measures WASM plugin overhead: cold compile per plugin and warm per-check
# cost. Builds the host in release (slow on small machines: minutes), the
# plugins once, then runs the ignored bench test in tests/plugins.rs.
#
#   benches/plugins.sh            # prints the BENCH lines
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --test plugins -- --ignored --exact bench_plugin_overhead --nocapture 2>&1 |
    grep '^BENCH'
