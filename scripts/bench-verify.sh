#!/usr/bin/env bash
# Benchmark: what the secure bootloader's image verification costs on the qemu-an386
# virtual board, in guest instructions: the SHA-256 of the image (per KiB) and the
# Ed25519 signature check.
#
#   ./scripts/bench-verify.sh [KiB...]        (default: 64 256 1024, plus the smallest)
#
# The firmware in benches/verify-cost verifies its own signed image in the primary slot
# with boot-image's `verify`, built with the secure bootloader's features and release
# profile, and times each step with the board's CMSDK timer. QEMU runs it with
# `-icount shift=0`: each guest instruction is then 1 ns of virtual time, one timer tick
# (25 MHz) is 40 instructions, and the firmware checks that factor on a loop of known
# length first. Each size is one build (`BENCH_BALLAST_BYTES` pads the image with
# constant data) and one run; the counts are deterministic.
#
# Environment: BENCH_SHA=fast measures sha2's unrolled SHA-256 instead of the
# bootloader's compact one. Everything goes to target/bench-verify/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK="$ROOT/target/bench-verify"
mkdir -p "$WORK"
rm -f "$WORK"/build-*.log "$WORK"/run-*.log
export CARGO_BOOT_HOME="$WORK/home"
if [ "$#" -gt 0 ]; then SIZES=("$@"); else SIZES=(64 256 1024); fi
FEATURES=()
[ "${BENCH_SHA:-compact}" = fast ] && FEATURES=(--no-default-features)

cargo build --quiet -p cargo-boot
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys;print(json.load(sys.stdin)["target_directory"])')
BOOT="$TARGET_DIR/debug/cargo-boot"

# Builds and runs the firmware with `$1` bytes of ballast; its results go to $WORK/run-$1.log.
measure() {
    local ballast=$1 log="$WORK/run-$1.log"
    (
        cd benches/verify-cost
        export BENCH_BALLAST_BYTES="$ballast"
        "$BOOT" boot build --release "${FEATURES[@]}" --target-dir "$WORK/target" >"$WORK/build-$ballast.log" 2>&1 ||
            { echo "cargo boot build failed, see $WORK/build-$ballast.log" >&2; exit 1; }
        "$BOOT" boot run --release "${FEATURES[@]}" --target-dir "$WORK/target" --timeout 120 \
            --qemu-arg=-icount --qemu-arg=shift=0 >"$log" 2>&1 ||
            { echo "the benchmark run failed, see $log" >&2; tail -5 "$log" >&2; exit 1; }
    )
    grep -q '^bench done' "$log" || { echo "the benchmark did not finish, see $log" >&2; exit 1; }
}

value() { sed -n "s/^bench $2 //p" "$WORK/run-$1.log"; }

# The smallest image (no ballast) first: its size is the code, the rest is ballast.
measure 0
base=$(value 0 hashed_bytes)
BALLASTS=(0)
for kib in "${SIZES[@]}"; do
    ballast=$((kib * 1024 - base))
    if [ "$ballast" -le 0 ]; then
        echo "skipping $kib KiB: the firmware alone is $base bytes" >&2
        continue
    fi
    measure "$ballast"
    BALLASTS+=("$ballast")
done

echo "calibration: $(value 0 calibration_instructions) instructions took $(value 0 calibration_ticks) ticks of TIMER0 (40 instructions per tick)"
echo "SHA-256: ${BENCH_SHA:-compact} (the secure bootloader uses compact); instruction counts are +/- 40 (one tick)"
echo
{
    for b in "${BALLASTS[@]}"; do
        echo "$(value "$b" hashed_bytes) $(value "$b" hash_instructions) $(value "$b" hash_mapped_instructions)" \
            "$(value "$b" unknown_key_instructions) $(value "$b" verify_instructions)"
    done
} | awk '
    BEGIN {
        printf "%10s %9s %12s %10s %12s %12s %12s\n", "image", "KiB", "hash", "hash/KiB", "hash/KiB", "signature", "verify"
        printf "%10s %9s %12s %10s %12s %12s %12s\n", "(bytes)", "", "(instr.)", "", "(mapped)", "(instr.)", "(total)"
    }
    {
        kib = $1 / 1024
        printf "%10d %9.1f %12d %10d %12d %12d %12d\n", $1, kib, $2, $2 / kib, $3 / kib, $5 - $4, $5
        n++; sx += kib; sy += $2; sxx += kib * kib; sxy += kib * $2
    }
    END {
        if (n > 1) {
            slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
            printf "\nSHA-256 through the flash driver: %.0f instructions per KiB (least-squares slope over the sizes),\n", slope
            printf "plus %.0f per image (header parse, TLV walk, padding).\n", (sy - slope * sx) / n
        }
    }'
echo
echo "hash: check_hash (SHA-256 read through the flash driver, TLV compared); hash/KiB (mapped):"
echo "the same over the slot as a byte slice; signature: verify minus verify with an unknown key"
echo "(the Ed25519 check alone); verify: what the bootloader runs for the image."
