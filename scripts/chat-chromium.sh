#!/bin/bash
# chat-chromium.sh [solvm-binary] — drives examples/chat with two headless Chromium tabs: "bob"
# connects and listens, "alice" connects and says hello; the page reports what it receives to the
# server (POST /log), and the script checks that bob got alice's message. Twice: first with one
# server process, then with two server processes on two ports sharing one Redis (`--cluster`,
# a redis-server of its own on a free port), bob on one and alice on the other. Installs Debian's
# `chromium` and `redis-server` packages when they are missing (needs root for apt-get).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
solvm=${1:-$here/target/debug/solvm}
for pkg in chromium redis-server; do
  if ! command -v "$pkg" > /dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" > /dev/null
  fi
done
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
serve() { # log [solvm options...]: starts a chat server on a free port, prints the port
  local log=$1; shift
  "$solvm" --timeout 30s "$@" "$here/examples/chat/chat.lua" 0 > "$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$log" ] && break; sleep 0.1; done
  head -1 "$log"
}
browse() { # port name query seconds: the tab stays on the page that long (?hold), then dumps it
  timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d)" \
    --dump-dom "http://127.0.0.1:$1/?name=$2&hold=$(( $4 * 1000 ))&$3" > /dev/null 2>&1 || true
}
chat() { # bob-port bob-log alice-port what: bob listens on one server, alice talks on the other
  browse "$1" bob "" 12 &
  local bob=$!
  for _ in $(seq 100); do grep -q "bob connected" "$2" && break; sleep 0.1; done
  browse "$3" alice "say=hello%20bob&delay=500" 3
  wait "$bob"
  if grep -q "bob got: alice: hello bob" "$2"; then
    echo "ok: bob received alice's message $4"
  else
    echo "FAILED ($4): bob's server log shows no delivery:" >&2
    cat "$2" >&2
    exit 1
  fi
}

log=$(mktemp)
port=$(serve "$log")
chat "$port" "$log" "$port" "through the chat server"

# Two processes, one Redis.
redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no > /dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$redis_port" ping > /dev/null 2>&1 && break; sleep 0.05; done
cluster="redis://127.0.0.1:$redis_port"
log_a=$(mktemp)
log_b=$(mktemp)
port_a=$(serve "$log_a" --cluster "$cluster")
port_b=$(serve "$log_b" --cluster "$cluster")
chat "$port_a" "$log_a" "$port_b" "from another server process (ports $port_b -> $port_a, --cluster)"
