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
# - Served by `demo` (issue 19): the API answer, `?fields=assessment`, and
#   MCP `tools/list` over streamable HTTP, in bytes, per scenario.
#
# The demo makes its own clone, so the sizes do not depend on this checkout.
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

echo "== served (bytes): /api/telemetry/status, ?fields=assessment, MCP tools/list"
echo "| world | status | fields=assessment | tools/list |"
echo "|---|---|---|---|"
port=3917
for s in healthy drift down; do
  "$bin" demo --scenario "$s" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
  full=$(curl -fs "http://127.0.0.1:$port/api/telemetry/status" | wc -c)
  assessment=$(curl -fs "http://127.0.0.1:$port/api/telemetry/status?fields=assessment" | wc -c)
  list=$(curl -fs "http://127.0.0.1:$port/mcp" -H 'content-type: application/json' \
    -H 'accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}' | wc -c)
  echo "| $s | $full | $assessment | $list |"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
