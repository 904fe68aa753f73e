#!/usr/bin/env bash
# Agent-facing numbers (issue 10):
# - MCP tool latency from the cached report: `deployed`, `compare`,
#   `next_steps`, `status` and `status {env}` called 200 times each through
#   rmcp's client in process (JSON-RPC in and out), medians and p95 printed
#   by tests/it/mcp.rs `cached_tools_answer_under_5_ms`. Target: < 5 ms median.
# - Report size in tokens (bytes / 4) of `demo --once --format json` for the
#   healthy, drift and down worlds.
#
#   bash benches/agents.sh                 # release (the number to quote)
#   PROFILE=debug bash benches/agents.sh   # quicker to build, slower to run
#
# The demo's `git` check reads the current directory's repository, so run it
# from the repository root; sizes move a little with branch and message.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PROFILE=${PROFILE:-release}
flag=$([ "$PROFILE" = release ] && echo --release || true)
target=${CARGO_TARGET_DIR:-$root/target}

echo "== MCP latency from the cached report ($PROFILE)"
cargo test $flag --test it mcp::cached_tools_answer_under_5_ms -- --nocapture 2>&1 |
  grep '^mcp '

cargo build $flag --bin villa-telemetry >/dev/null 2>&1
bin=$target/$PROFILE/villa-telemetry
echo "== report size (bytes, tokens = bytes/4)"
echo "| world | bytes | tokens |"
echo "|---|---|---|"
for s in healthy drift down; do
  b=$("$bin" demo --once --format json --scenario "$s" 2>/dev/null | wc -c || true)
  echo "| $s | $b | $((b / 4)) |"
done
