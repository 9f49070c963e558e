#!/usr/bin/env bash
# Benchmark: the flash size of the secure bootloader (SHA-256 + Ed25519 verification,
# swap, trial and revert, watchdog) on every bundled board, built by `cargo boot build`
# exactly as a user's project builds it (a new project per board, app included). The
# size is what cargo boot reports: the bootloader's flat binary, that is text + rodata of
# the linked ELF, plus on the K64 the padding up to its flash configuration field at
# 0x400. Goal: at most 16 KiB on the Cortex-M4 boards.
#
#   ./scripts/bench-bootloader-size.sh [board...]      (default: every bundled board)
#
# Environment: BENCH_TEMPLATE (default `secure`), BENCH_WATCHDOG_MS (set: the projects
# arm the watchdog with `watchdog_ms`), BENCH_WORK (default target/bench-size).
set -euo pipefail
cd "$(dirname "$0")/.."
TEMPLATE="${BENCH_TEMPLATE:-secure}"
cargo build --quiet -p cargo-boot
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys;print(json.load(sys.stdin)["target_directory"])')
BOOT="$TARGET_DIR/debug/cargo-boot"
WORK="${BENCH_WORK:-$TARGET_DIR/bench-size}"
mkdir -p "$WORK"
export CARGO_BOOT_HOME="$WORK/home"

if [ "$#" -gt 0 ]; then
    BOARDS=("$@")
else
    mapfile -t BOARDS < <("$BOOT" boot boards | awk 'NR > 1 { print $1 }')
fi

# The bootloader is built for the board's whole `restrict_size` region; report that too.
printf '%-15s %-24s %-14s %9s %9s %7s\n' board target driver bytes KiB region
for board in "${BOARDS[@]}"; do
    app="$WORK/app-$board"
    rm -rf "$app"
    "$BOOT" boot new --board "$board" --template "$TEMPLATE" "$app" >/dev/null 2>&1
    if [ -n "${BENCH_WATCHDOG_MS:-}" ]; then
        sed -i "s/^\[package.metadata.boot\]\$/&\nwatchdog_ms = $BENCH_WATCHDOG_MS/" "$app/Cargo.toml"
    fi
    log="$WORK/build-$board.log"
    if ! (cd "$app" && "$BOOT" boot build --target-dir "$WORK/target-$board" >"$log" 2>&1); then
        echo "$board: cargo boot build failed, see $log" >&2
        exit 1
    fi
    bytes=$(sed -n 's/^bootloader: \([0-9]*\) bytes.*/\1/p' "$log")
    region=$(sed -n 's/^bootloader: [0-9]* bytes of \([0-9]*\).*/\1/p' "$log")
    target=$("$BOOT" boot boards | awk -v b="$board" '$1 == b { print $2 }')
    driver=$(sed -n 's/^driver *= *"\(.*\)"/\1/p' "cargo-boot/boards/$board.toml" | head -1)
    awk -v b="$board" -v t="$target" -v d="${driver:--}" -v n="$bytes" -v r="$region" \
        'BEGIN { printf "%-15s %-24s %-14s %9d %9.2f %7s\n", b, t, d, n, n / 1024, r / 1024 "K" }'
done
