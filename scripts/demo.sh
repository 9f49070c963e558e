#!/usr/bin/env bash
# The main job on the virtual board, no hardware needed: build the example project
# (bootloader + app), boot it in QEMU and show what the board prints.
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_SKIP_MDBOOK=1 ./scripts/setup.sh
export PATH="$HOME/.cargo/bin:$HOME/.local/bin:$PATH"

cargo build --quiet --release -p cargo-boot
BOOT="$PWD/target/release/cargo-boot"
cd example-project
"$BOOT" boot build
"$BOOT" boot run --timeout 60
