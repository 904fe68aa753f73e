#!/usr/bin/env bash
# Plugins in three languages (issue 22): cold compile, warm start (a cache
# hit in a new host, as in a new process) and per-check overhead for a
# trivial Rust, Python (componentize-py) and JavaScript (componentize-js)
# plugin. Needs the toolchains .ci/run installs.
#
#   benches/plugin_langs.sh           # release host (slow to build: minutes)
#   PROFILE=dev benches/plugin_langs.sh   # the debug test binary CI runs
set -euo pipefail
cd "$(dirname "$0")/.."
flag=--release
[ "${PROFILE:-release}" = dev ] && flag=
cargo test $flag --test it -- --ignored --exact plugin_langs::bench_plugins_in_three_languages --nocapture 2>&1 |
  grep '^BENCH'
