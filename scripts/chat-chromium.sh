#!/bin/bash
# chat-chromium.sh [solvm-binary] — drives examples/chat with two headless Chromium tabs: "bob"
# connects and listens, "alice" connects and says hello; the page reports what it receives to the
# server (POST /log), and the script checks that bob got alice's message. Installs Debian's
# `chromium` package when it is missing (needs root for apt-get).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
solvm=${1:-$here/target/debug/solvm}
if ! command -v chromium > /dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
fi
log=$(mktemp)
"$solvm" --timeout 30s "$here/examples/chat/chat.lua" 0 > "$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$log" ] && break; sleep 0.1; done
port=$(head -1 "$log")
browse() { # name query seconds: the tab stays on the page that long (?hold), then dumps it
  timeout 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$(mktemp -d)" \
    --dump-dom "http://127.0.0.1:$port/?name=$1&hold=$(( $3 * 1000 ))&$2" > /dev/null 2>&1 || true
}
browse bob "" 12 &
bob=$!
for _ in $(seq 100); do grep -q "bob connected" "$log" && break; sleep 0.1; done
browse alice "say=hello%20bob&delay=500" 3
wait "$bob"
if grep -q "bob got: alice: hello bob" "$log"; then
  echo "ok: bob received alice's message through the chat server"
else
  echo "FAILED: the server log shows no delivery:" >&2
  cat "$log" >&2
  exit 1
fi
