#!/usr/bin/env bash
# Benchmark: `cargo boot build` on an unchanged project against cargo's own no-op
# build of the same app (same compiler, same flags). Goal: at most 1.2x.
#
#   ./scripts/bench-build.sh [board]        (default board: qemu-an386)
set -euo pipefail
cd "$(dirname "$0")/.."
BOARD="${1:-qemu-an386}"
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
cargo build --quiet --release -p cargo-boot
BOOT="$PWD/target/release/cargo-boot"
WORK="$PWD/target/bench-build"
rm -rf "$WORK/app"
mkdir -p "$WORK"
export CARGO_BOOT_HOME="$WORK/home"
"$BOOT" boot new --board "$BOARD" "$WORK/app" >/dev/null 2>&1
cd "$WORK/app"
"$BOOT" boot build --quiet --target-dir "$WORK/target" >/dev/null
# cargo's own no-op build: the exact command cargo boot runs for the app.
TARGET=$(sed -n 's/^target = "\(.*\)"/\1/p' .cargo/config.toml)
LINK_DIR=$(ls -d "$WORK"/target/boot/debug/link/app-* | head -1)
TOOLCHAIN_JSON="$WORK/target/boot/toolchain-$TARGET.json"
RUSTC_PATH=$(python3 -c "import json;print(json.load(open('$TOOLCHAIN_JSON'))['toolchain']['rustc'])")
STD_ARGS=$(python3 -c "import json;t=json.load(open('$TOOLCHAIN_JSON'))['toolchain'];print('-Zbuild-std=core -Zbuild-std-features=compiler-builtins-mem' if 'BuildStd' in t['std'] else '')")
LINKER_ARGS=$(python3 -c "
import json;l=json.load(open('$TOOLCHAIN_JSON'))['toolchain']['linker']
print('' if l=='Builtin' else '-C linker='+(l.get('Lld') or l.get('GnuLd'))+(' -C linker-flavor=ld' if 'GnuLd' in l else ''))")
export RUSTC="$RUSTC_PATH" RUSTC_BOOTSTRAP=1
hyperfine --warmup 3 --runs 20 -N \
    --command-name "cargo no-op build" \
    "cargo rustc --quiet --bin app --target $TARGET $STD_ARGS --target-dir $WORK/target -- -L $LINK_DIR $LINKER_ARGS" \
    --command-name "cargo boot build (unchanged)" \
    "$BOOT boot build --quiet --target-dir $WORK/target" \
    --export-markdown "$WORK/result.md"
cat "$WORK/result.md"
