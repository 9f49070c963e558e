#!/usr/bin/env bash
# Times `cargo boot sign` against `imgtool sign` on a 1 MiB app, with the same key and
# options (the two outputs are also compared: they must be identical). Prints the best
# of several runs of each, and the ratio.
#
#   scripts/bench-sign.sh [runs]      (default 5; needs imgtool: scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}

command -v imgtool >/dev/null || { echo "error: imgtool is not installed: run scripts/setup.sh" >&2; exit 1; }

cargo build --release --quiet -p cargo-boot
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
CARGO_BOOT="$TARGET_DIR/release/cargo-boot"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
head -c $((1024 * 1024)) /dev/urandom >"$WORK/app.bin"
"$CARGO_BOOT" boot keygen --key "$WORK/key.pem" >/dev/null 2>&1

OPTIONS=(--header-size 0x200 --version 1.2.3+4 --security-counter 7 --slot-size 0x110000 --confirm)

# Best wall time of $RUNS runs of the command, in milliseconds.
best_ms() {
    local best=
    for _ in $(seq "$RUNS"); do
        local start end ms
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1
        end=$(date +%s%N)
        ms=$(((end - start) / 1000000))
        if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
    done
    echo "$best"
}

ours=$(best_ms "$CARGO_BOOT" boot sign --key "$WORK/key.pem" "${OPTIONS[@]}" "$WORK/app.bin" -o "$WORK/ours.bin")
theirs=$(best_ms imgtool sign --pad-header --key "$WORK/key.pem" "${OPTIONS[@]}" "$WORK/app.bin" "$WORK/theirs.bin")
cmp -s "$WORK/ours.bin" "$WORK/theirs.bin" || { echo "error: the two images differ" >&2; exit 1; }

echo "1 MiB app, best of $RUNS runs (identical outputs):"
echo "  cargo boot sign: ${ours} ms"
echo "  imgtool sign:    ${theirs} ms"
python3 -c "print(f'  speed-up:        {$theirs / max($ours, 1):.1f}x')"
