#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then runs the
# format and lint gates, every unit, property and end-to-end test (real QEMU, real
# imgtool, real curl, GNU objcopy as a cross-check), and builds the book.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$HOME/.cargo/bin:$HOME/.local/bin:$PATH"

step() { printf '\n\033[1;32m==> %s\033[0m\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "cargo test"
cargo test --workspace
step "mdbook build book"
mdbook build book
