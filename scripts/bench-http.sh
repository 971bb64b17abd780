#!/bin/bash
# bench-http.sh [solvm-binary] — hello-world and JSON-echo throughput of a SolVM server under
# `wrk -t2 -c64 -d10s` on loopback, in the same run as the peers from ../shared/peers (nginx+lua with
# 1 worker, Node). Prints req/s and p99 latency for each; compare ratios, not absolute numbers.
# Needs wrk, nginx with the lua module and node (../shared/peers/install.sh). Build with
# `cargo build --release` first.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
solvm=${1:-$here/target/release/solvm}
peers=${PEERS:-$here/../shared/peers}
dur=${DURATION:-10s}
port=18090
body=$(mktemp)
echo '{"name":"solvm","items":[1,2,3],"nested":{"ok":true,"pi":3.14}}' > "$body"
lua_post=$(mktemp --suffix=.lua)
cat > "$lua_post" <<LUA
wrk.method = "POST"
wrk.body = io.open("$body"):read("a")
wrk.headers["Content-Type"] = "application/json"
LUA

measure() { # name url [wrk args...]
  local name=$1 url=$2; shift 2
  local out
  out=$(wrk -t2 -c64 -d"$dur" --latency "$@" "$url")
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  printf '%-28s %12s req/s   p99 %s\n' "$name" "$rps" "$p99"
}

wait_port() { for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

"$solvm" --timeout 0 "$here/examples/servers/echo_json.lua" "$port" > /dev/null &
pid=$!
wait_port "$port"
measure "solvm hello" "http://127.0.0.1:$port/"
measure "solvm json echo" "http://127.0.0.1:$port/json" -s "$lua_post"
kill "$pid"; wait "$pid" 2>/dev/null || true

"$peers/serve.sh" nginx1 > /dev/null 2>&1 &
pid=$!
wait_port 18080
measure "nginx+lua (1 worker) hello" "http://127.0.0.1:18080/"
kill -QUIT "$pid"; wait "$pid" 2>/dev/null || true

"$peers/serve.sh" node > /dev/null 2>&1 &
pid=$!
wait_port 18081
measure "node hello" "http://127.0.0.1:18081/"
kill "$pid"; wait "$pid" 2>/dev/null || true
rm -f "$body" "$lua_post"
