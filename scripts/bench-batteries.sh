#!/usr/bin/env bash
# bench-batteries — sha256 and gzip/gunzip throughput of the batteries (issue 15) against the
# system's `sha256sum`, `gzip -6` and `gunzip` on the same 64 MiB in the same run. Each command
# runs as a whole process (reading the file and writing the result included, as the tools do),
# best of 5; prints a markdown section to stdout (progress on stderr).
#   scripts/bench-batteries.sh [solvm-binary]     (default: builds and uses target/release/solvm)
# Goal (issue 15): solvm within 1.5x of the native tool's time.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
solvm="${1:-}"
if [ -z "$solvm" ]; then
  (cd "$repo" && cargo build --release --quiet)
  solvm="${CARGO_TARGET_DIR:-$repo/target}/release/solvm"
  case "$solvm" in /*) ;; *) solvm="$repo/$solvm" ;; esac
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== making 64 MiB of text-like data" >&2
python3 - "$tmp/data" <<'PY'
import random, sys
# Words from a seeded generator (about 2:1 with gzip -6): text-like, not trivially compressible.
rng = random.Random(15)
words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
         for _ in range(5000)]
size, out = 64 << 20, []
total = 0
while total < size:
    line = " ".join(rng.choice(words) for _ in range(12)) + " %d\n" % rng.randint(0, 10**9)
    out.append(line)
    total += len(line)
open(sys.argv[1], "w").write("".join(out)[:size])
PY

cat > "$tmp/sha.lua" <<'LUA'
print(crypto.sha256(read_file(arg[1])))
LUA
cat > "$tmp/gzip.lua" <<'LUA'
local f = assert(io.open(arg[2], "wb"))
f:write(compress.encode("gzip", read_file(arg[1]), 6))
f:close()
LUA
cat > "$tmp/gunzip.lua" <<'LUA'
local f = assert(io.open(arg[2], "wb"))
f:write(assert(compress.decode("gzip", read_file(arg[1]), {max_bytes = 1 << 30})))
f:close()
LUA
gzip -6 -c "$tmp/data" > "$tmp/data.gz"

python3 - "$tmp" "$solvm" <<'PY'
import os, subprocess, sys, time, platform
tmp, solvm = sys.argv[1], sys.argv[2]
data = os.path.join(tmp, "data")
def best(cmd, out=None, runs=5):
    times = []
    for _ in range(runs):
        sink = open(out, "wb") if out else subprocess.DEVNULL
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=sink, check=True)
        times.append(time.perf_counter() - t0)
        if out: sink.close()
    return min(times)
def sh(*a): return subprocess.run(a, capture_output=True, text=True, check=True).stdout
mib = os.path.getsize(data) / (1 << 20)
rows = []
def row(work, native_name, native_cmd, ours_cmd, native_out=None, ours_out=None):
    print(f"== {work}", file=sys.stderr)
    n = best(native_cmd, native_out)
    s = best(ours_cmd, ours_out)
    rows.append(f"| {work} | {native_name}: {mib / n:.0f} MiB/s ({n:.3f} s) | {mib / s:.0f} MiB/s ({s:.3f} s) | {s / n:.2f}× |")
# Same answers first: a fast wrong result is no result.
assert sh("sha256sum", data).split()[0] == sh(solvm, os.path.join(tmp, "sha.lua"), data).strip()
row("sha256", "`sha256sum`", ["sha256sum", data], [solvm, os.path.join(tmp, "sha.lua"), data])
row("gzip level 6", "`gzip -6`", ["gzip", "-6", "-c", data],
    [solvm, os.path.join(tmp, "gzip.lua"), data, os.path.join(tmp, "ours.gz")],
    native_out=os.path.join(tmp, "native.gz"))
subprocess.run(["gunzip", "-t", os.path.join(tmp, "ours.gz")], check=True)
row("gunzip", "`gunzip`", ["gunzip", "-c", os.path.join(tmp, "data.gz")],
    [solvm, os.path.join(tmp, "gunzip.lua"), os.path.join(tmp, "data.gz"), os.path.join(tmp, "ours.out")],
    native_out=os.path.join(tmp, "native.out"))
assert open(os.path.join(tmp, "ours.out"), "rb").read() == open(data, "rb").read()
native_gz = os.path.getsize(os.path.join(tmp, "native.gz"))
ours_gz = os.path.getsize(os.path.join(tmp, "ours.gz"))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
gzip_version = sh("gzip", "--version").splitlines()[0]
print("## Batteries: sha256 and gzip on 64 MiB (issue 15)\n")
print(f"`scripts/bench-batteries.sh`: 64 MiB of text-like data, each command a whole process (read the")
print(f"file, write the result), best of 5; goal ≤ 1.5× the native tool. {os.cpu_count()} cores, {cpu};")
print(f"{gzip_version}; compressed size {ours_gz / native_gz:.3f}× gzip -6's ({ours_gz} vs {native_gz} bytes).\n")
print("| work | native tool | solvm | solvm time / native |")
print("|---|---|---|---|")
print("\n".join(rows))
PY
