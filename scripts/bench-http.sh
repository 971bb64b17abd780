#!/bin/bash
# bench-http.sh [solvm-binary] — hello-world and JSON-echo throughput of a SolVM server under
# `wrk -t2 -c64` on loopback, in the same run as the peers from ../shared/peers (nginx+lua with
# 1 worker, Node). The three servers run side by side (idle while another is measured) and are
# measured in turn, ROUNDS times (default 3); each line gives the median req/s and the median p99
# of its rounds, then every round. Compare ratios, not absolute numbers.
# Needs wrk, nginx with the lua module and node (../shared/peers/install.sh). Build with
# `cargo build --release` first.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
solvm=${1:-$here/target/release/solvm}
peers=${PEERS:-$here/../shared/peers}
dur=${DURATION:-8s}
rounds=${ROUNDS:-3}
port=18090
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
echo '{"name":"solvm","items":[1,2,3],"nested":{"ok":true,"pi":3.14}}' > "$tmp/body.json"
cat > "$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.body = io.open("$tmp/body.json"):read("a")
wrk.headers["Content-Type"] = "application/json"
LUA

wait_port() { for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

"$solvm" --timeout 0 "$here/examples/servers/echo_json.lua" "$port" > /dev/null &
pids+=($!)
"$peers/serve.sh" nginx1 > /dev/null 2>&1 &
nginx_pid=$!
"$peers/serve.sh" node > /dev/null 2>&1 &
pids+=($!)
wait_port "$port"; wait_port 18080; wait_port 18081

# One wrk run: "req/s p99-in-ms".
one() {
  local url=$1; shift
  wrk -t2 -c64 -d"$dur" --latency "$@" "$url" | awk '
    /Requests\/sec/ {rps = $2}
    $1 == "99%" {v = $2; if (v ~ /us$/) ms = v / 1000; else if (v ~ /ms$/) ms = v + 0; else ms = v * 1000}
    END {printf "%s %.3f\n", rps, ms}'
}
names=("solvm hello" "solvm json echo" "nginx+lua (1 worker) hello" "node hello")
urls=("http://127.0.0.1:$port/" "http://127.0.0.1:$port/json" "http://127.0.0.1:18080/" "http://127.0.0.1:18081/")
for r in $(seq "$rounds"); do
  for i in "${!names[@]}"; do
    extra=()
    [ "$i" = 1 ] && extra=(-s "$tmp/post.lua")
    echo "round $r: ${names[$i]}" >&2
    one "${urls[$i]}" "${extra[@]}" >> "$tmp/r$i"
  done
done
kill -QUIT "$nginx_pid" 2>/dev/null || true
for i in "${!names[@]}"; do
  python3 - "${names[$i]}" "$tmp/r$i" <<'PY'
import statistics, sys
name, rows = sys.argv[1], [l.split() for l in open(sys.argv[2]) if l.strip()]
rps = [float(r[0]) for r in rows]; p99 = [float(r[1]) for r in rows]
runs = ", ".join(f"{a:.0f}/{b:.2f}ms" for a, b in zip(rps, p99))
print(f"{name:<28} {statistics.median(rps):12.2f} req/s   p99 {statistics.median(p99):.2f}ms   rounds: {runs}")
PY
done
