#!/bin/bash
# bench-http-model.sh [solvm-binary] — a section of scripts/bench: the alternatives tried for the
# server's connection model (SPEC §12), measured on hello world under wrk -t2 -c64: how many epoll
# event loops (SOLVM_SERVER_LOOPS: 1, one per core — the default —, two per core) and how many kept
# workers (--workers: 1, 2 — the default — and 4 per core). Each configuration is measured ROUNDS
# times (default 3), configurations in turn; medians are reported. Prints a Markdown section.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
solvm=${1:-$here/target/release/solvm}
dur=${DURATION:-5s}
rounds=${ROUNDS:-3}
cores=$(nproc)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
configs=("loops=1 workers=$((2 * cores))" "loops=$cores workers=$((2 * cores))" "loops=$((2 * cores)) workers=$((2 * cores))"
         "loops=$cores workers=$cores" "loops=$cores workers=$((4 * cores))")
for r in $(seq "$rounds"); do
  for i in "${!configs[@]}"; do
    read -r l w <<<"${configs[$i]}"
    l=${l#loops=}; w=${w#workers=}
    echo "round $r: loops $l, workers $w" >&2
    SOLVM_SERVER_LOOPS=$l "$solvm" --timeout 0 --workers "$w" "$here/examples/servers/echo_json.lua" 0 > "$tmp/port" 2>/dev/null &
    pid=$!
    for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
    port=$(head -1 "$tmp/port")
    wrk -t2 -c64 -d"$dur" --latency "http://127.0.0.1:$port/" | awk '
      /Requests\/sec/ {rps = $2}
      $1 == "99%" {v = $2; if (v ~ /us$/) ms = v / 1000; else if (v ~ /ms$/) ms = v + 0; else ms = v * 1000}
      END {printf "%s %.3f\n", rps, ms}' >> "$tmp/r$i"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    : > "$tmp/port"
  done
done
python3 - "$tmp" "$cores" "${configs[@]}" <<'PY'
import statistics, sys
tmp, cores, configs = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = []
for i, c in enumerate(configs):
    data = [l.split() for l in open(f"{tmp}/r{i}") if l.strip()]
    rps = [float(d[0]) for d in data]; p99 = [float(d[1]) for d in data]
    loops, workers = (kv.split("=")[1] for kv in c.split())
    default = " (default)" if loops == cores and int(workers) == 2 * int(cores) else ""
    rows.append(f"| {loops} | {workers}{default} | {statistics.median(rps):,.0f} | {statistics.median(p99):.2f} ms | "
                + ", ".join(f"{a:,.0f}" for a in rps) + " |")
print(f"""## Server model alternatives (scripts/bench-http-model.sh)

Hello world under wrk -t2 -c64 on {cores} cores; event loops set with `SOLVM_SERVER_LOOPS`, kept
workers with `--workers`. Medians of {len(data)} rounds, configurations measured in turn.

| event loops | kept workers | req/s | p99 | every round (req/s) |
|---|---|---|---|---|
""" + "\n".join(rows))
PY
