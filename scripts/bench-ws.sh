#!/bin/bash
# bench-ws.sh — WebSocket echo round trips per second, 1 and 16 clients, against a SolVM server
# and a Node echo server on the `ws` npm package in the same run (installed here with npm into a
# scratch folder). Prints the `cargo bench --bench ws_echo` lines.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
npm_dir=${WS_NPM_DIR:-$(mktemp -d)}
if [ ! -d "$npm_dir/node_modules/ws" ]; then
  (cd "$npm_dir" && npm install --silent --no-audit --no-fund ws@8 >/dev/null)
fi
cd "$here"
WS_NODE_MODULES="$npm_dir/node_modules" WS_SECS=${WS_SECS:-5} cargo bench --quiet --bench ws_echo 2>/dev/null
