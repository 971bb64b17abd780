#!/bin/bash
# bench-idle.sh [solvm-binary] [N] — a section of scripts/bench: N (default 10 000) idle keep-alive
# connections held open on a SolVM hello-world server (each made one request first), then a new
# client's request: how long it waits, how many threads the server process has, its RSS. Prints a
# Markdown section. Raises `ulimit -n` for itself. Build with `cargo build --release` first.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
solvm=${1:-$here/target/release/solvm}
n=${2:-10000}
ulimit -n "$(ulimit -Hn)"
port_file=$(mktemp)
server=$(mktemp --suffix=.lua)
# The hello-world route of examples/servers/echo_json.lua, with room for N + 100 connections (the
# default max_connections, 10 000, would close the longest idle one to admit the new client).
cat > "$server" <<LUA
create_server("idle", {port = 0, host = "127.0.0.1", max_connections = $n + 100})
handle_http("idle", "/", function(req) return "Hello, World!" end)
print(start_server("idle"))
LUA
"$solvm" --timeout 0 "$server" > "$port_file" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$port_file" "$server"' EXIT
for _ in $(seq 100); do [ -s "$port_file" ] && break; sleep 0.1; done
port=$(head -1 "$port_file")
python3 - "$port" "$n" "$pid" <<'PY'
import resource, socket, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
REQ = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"

def ask(s):
    s.sendall(REQ)
    buf = b""
    while not buf.endswith(b"Hello, World!"):
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit(f"connection closed after {len(held)} connections held")
        buf += chunk

def status(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

threads_before = status("Threads")
held = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    ask(s)
    held.append(s)
time.sleep(1)
t = time.perf_counter()
s = socket.create_connection(("127.0.0.1", port))
ask(s)
ms = (time.perf_counter() - t) * 1000
alive = 0
sampled = held[:: max(1, n // 100)]
for c in sampled:
    ask(c)
    alive += 1
import os
cores = os.cpu_count()
threads_open = status("Threads")
rss = status("VmRSS") / 1024
limit = 4 * cores
print(f"""## Idle keep-alive connections (scripts/bench-idle.sh)

{n} connections each made one request and then stayed open, idle; then a new client connected and
asked. Threads are the whole server process's (main, supervisor, event loops' workers, control);
no handler was in flight.

| measure | value | goal (issue 13) |
|---|---|---|
| new client's request answered in | {ms:.2f} ms | < 100 ms: {"met" if ms < 100 else "**not met**"} |
| threads with the connections open (before them: {threads_before}) | {threads_open} | ≤ 4 × cores ({limit}) + handlers in flight (0): {"met" if threads_open <= limit else "**not met**"} |
| server RSS with the connections open | {rss:.0f} MB | reported |
| sampled idle connections still answered afterwards | {alive} of {len(sampled)} | all |""")
PY
