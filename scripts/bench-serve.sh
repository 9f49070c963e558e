#!/usr/bin/env bash
# Benchmark: `cargo boot serve --file` against `python3 -m http.server` (the seed's
# SimpleHTTPServer) serving the same 1 MiB update.bin over loopback, with wrk:
# throughput and latency at 1 and 64 concurrent clients, and each server's peak
# memory (max RSS from /usr/bin/time -v). Goal: at least 5x python's throughput at
# 64 clients, with bounded memory. The same for the small manifest.json shows the
# cost of a request apart from the copying of 1 MiB.
#
#   ./scripts/bench-serve.sh [seconds per run] [rounds]     (default 10 s, 3 rounds)
#   CARGO_BOOT_BIN=path/to/cargo-boot ./scripts/bench-serve.sh      (no build)
#
# The rounds alternate the two servers, and the summary takes each one's median, so
# that other work on the machine weighs on both alike. All load goes to 127.0.0.1
# only, for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN="${1:-10}"
ROUNDS="${2:-3}"

need() { command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need curl curl
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

# CARGO_BOOT_BIN=<path> benchmarks that binary instead of building one.
if [ -z "${CARGO_BOOT_BIN:-}" ]; then
    cargo build --quiet --release -p cargo-boot
fi
BOOT="${CARGO_BOOT_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/cargo-boot}"
WORK="$PWD/target/bench-serve"
rm -rf "$WORK"
mkdir -p "$WORK/www"
head -c 1048576 /dev/urandom >"$WORK/www/update.bin"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
BOOT_PORT=$(free_port)
PY_PORT=$(free_port)

# Each server runs under /usr/bin/time; its request logs go to /dev/null.
/usr/bin/time -v -o "$WORK/boot.time" "$BOOT" boot serve --file "$WORK/www/update.bin" \
    --bind 127.0.0.1 --port "$BOOT_PORT" >/dev/null 2>&1 &
BOOT_TIME_PID=$!
/usr/bin/time -v -o "$WORK/python.time" python3 -m http.server "$PY_PORT" --bind 127.0.0.1 \
    --directory "$WORK/www" >/dev/null 2>&1 &
PY_TIME_PID=$!

# Stops a server started under time: the signal goes to the server, not to time.
# SIGTERM, as background jobs of a script ignore SIGINT (python would not stop).
stop() {
    local child
    child=$(pgrep -P "$1" || true)
    [ -n "$child" ] && kill -TERM "$child" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
trap 'stop $BOOT_TIME_PID; stop $PY_TIME_PID' EXIT

for port in "$BOOT_PORT" "$PY_PORT"; do
    for _ in $(seq 100); do
        curl -fs -o /dev/null "http://127.0.0.1:$port/update.bin" && break
        sleep 0.1
    done
done
# Python serves the very manifest cargo boot serves.
curl -fsS -o "$WORK/www/manifest.json" "http://127.0.0.1:$BOOT_PORT/manifest.json"

# `wrk` summary: requests/s, MiB/s, latency p50 and p99.
run() {
    local name=$1 clients=$2 url=$3 round=$4 threads=$(( $2 > 1 ? 2 : 1 ))
    local out="$WORK/$name-$clients-$round-$(basename "$url").txt"
    wrk -t"$threads" -c"$clients" -d"${SECONDS_PER_RUN}s" --timeout 10s --latency "$url" >"$out"
    python3 - "$out" "$name" "$clients" "$(basename "$url")" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
def find(pattern):
    m = re.search(pattern, text, re.M)
    if not m:
        sys.exit(f"no {pattern!r} in {sys.argv[1]}:\n{text}")
    return m.group(1)
def unit(value, units):
    m = re.match(r"([\d.]+)([A-Za-z]*)", value)
    return float(m.group(1)) * units[m.group(2)]
ms = {"us": 1e-3, "ms": 1, "s": 1e3, "m": 6e4}
mib = {"B": 1 / 1048576, "KB": 1 / 1024, "MB": 1, "GB": 1024}
rps = float(find(r"Requests/sec:\s+([\d.]+)"))
transfer = unit(find(r"Transfer/sec:\s+(\S+)"), mib)
p50 = unit(find(r"^\s+50%\s+(\S+)"), ms)
p99 = unit(find(r"^\s+99%\s+(\S+)"), ms)
errors = re.search(r"Socket errors: (.*)", text)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
extra = (" errors: " + errors.group(1) if errors else "") + (f" non-2xx: {non2xx.group(1)}" if non2xx else "")
print(f"| {sys.argv[2]:<18} | {sys.argv[4]:<13} | {sys.argv[3]:>7} | {rps:>10.0f} | {transfer:>7.0f} | {p50:>8.2f} | {p99:>8.2f} |{extra}")
EOF
}

echo "1 MiB file, loopback, $ROUNDS rounds of ${SECONDS_PER_RUN} s per run, $(nproc) cores"
echo
echo "| server             | file          | clients | requests/s |   MiB/s | p50 (ms) | p99 (ms) |"
echo "|--------------------|---------------|--------:|-----------:|--------:|---------:|---------:|"
for round in $(seq "$ROUNDS"); do
    for load in "1 update.bin" "64 update.bin" "64 manifest.json"; do
        read -r clients file <<<"$load"
        run "cargo-boot-serve" "$clients" "http://127.0.0.1:$BOOT_PORT/$file" "$round" | tee -a "$WORK/table.md"
        run "python-http.server" "$clients" "http://127.0.0.1:$PY_PORT/$file" "$round" | tee -a "$WORK/table.md"
    done
done

stop "$BOOT_TIME_PID"
stop "$PY_TIME_PID"
trap - EXIT
rss() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
echo
echo "peak memory (max RSS): cargo boot serve $(( $(rss "$WORK/boot.time") / 1024 )) MiB," \
     "python3 -m http.server $(( $(rss "$WORK/python.time") / 1024 )) MiB"
python3 - "$WORK/table.md" <<'EOF'
import statistics, sys
rows = [l.split("|") for l in open(sys.argv[1]) if l.startswith("|")]
rps = {}
for r in rows:
    rps.setdefault((r[1].strip(), r[2].strip(), r[3].strip()), []).append(float(r[4]))
for file, clients in (("update.bin", "1"), ("update.bin", "64"), ("manifest.json", "64")):
    ours = statistics.median(rps[("cargo-boot-serve", file, clients)])
    python = statistics.median(rps[("python-http.server", file, clients)])
    print(f"{file} at {clients} client(s), medians: {ours:.0f} vs {python:.0f} requests/s, {ours / python:.1f}x python's")
EOF
