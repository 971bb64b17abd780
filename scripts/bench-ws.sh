#!/bin/bash
# bench-ws.sh [solvm-binary] — a section of scripts/bench: WebSocket echo round trips per second,
# 1 and 16 clients, against a SolVM server (examples/servers/echo_json.lua's /ws) and a Node echo
# server on the `ws` npm package in the same run (installed here with npm into a scratch folder,
# or WS_NPM_DIR). Runs `cargo bench --bench ws_echo` (which uses target/release/solvm; the
# argument is accepted for the section interface) and prints a Markdown section.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
npm_dir=${WS_NPM_DIR:-$(mktemp -d)}
if [ ! -d "$npm_dir/node_modules/ws" ]; then
  (cd "$npm_dir" && npm install --silent --no-audit --no-fund ws@8 >/dev/null)
fi
ws_version=$(node -e "console.log(require('$npm_dir/node_modules/ws/package.json').version)")
cd "$here"
out=$(WS_NODE_MODULES="$npm_dir/node_modules" WS_SECS=${WS_SECS:-4} cargo bench --quiet --bench ws_echo 2>/dev/null)
echo "$out" >&2
python3 - "$out" "$ws_version" "$(node --version)" <<'PY'
import re, sys
out, ws, node = sys.argv[1], sys.argv[2], sys.argv[3]
def rate(who, n):
    m = re.search(who + r",\s+" + str(n) + r" clients:\s+([\d.]+)", out)
    return float(m.group(1)) if m else float("nan")
rows = []
for n in (1, 16):
    s, p = rate("websocket echo", n), rate("node ws echo", n)
    ok = "met" if s >= p else "**not met**"
    rows.append(f"| {n} | {s:,.0f} | {p:,.0f} | {s/p:.2f}× | ≥ 1×: {ok} |")
print(f"""## WebSocket echo round trips (scripts/bench-ws.sh: cargo bench --bench ws_echo)

16-byte text messages, each client waiting for its echo; peer: Node {node} with `ws` {ws}.
Medians of rounds taken in turn.

| clients | solvm round trips/s | Node `ws` round trips/s | solvm / Node | goal (issue 13) |
|---|---|---|---|---|
""" + "\n".join(rows) + "\n\n```\n" + out.strip() + "\n```")
PY
