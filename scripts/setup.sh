#!/usr/bin/env bash
# Installs everything cargo boot's demo and test suite need. Safe to run again:
# each step checks first and does nothing when its tool is already there.
#
#   - QEMU (the virtual boards), GNU binutils for ARM (cross-checks), curl;
#   - a way to build for Cortex-M: the rustup targets where rustup can download them,
#     otherwise Debian's Rust with its standard library sources (cargo boot then builds
#     `core` itself with -Zbuild-std);
#   - MCUboot's imgtool (interop tests) and mdbook (the book).
set -euo pipefail

TARGETS=(thumbv7m-none-eabi thumbv7em-none-eabihf)
APT_UPDATED=0

say() { printf '\033[1;32m%12s\033[0m %s\n' "setup" "$*"; }

sudo_if_needed() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null; then
        echo "error: missing ${missing[*]}; install them with your package manager" >&2
        exit 1
    fi
    if [ "$APT_UPDATED" -eq 0 ]; then
        say "apt-get update"
        sudo_if_needed apt-get update -qq
        APT_UPDATED=1
    fi
    say "installing ${missing[*]}"
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# True when some rustc on PATH has the target's core installed or the std sources.
cortex_m_std_available() {
    local rustc sysroot
    for rustc in $(which -a rustc 2>/dev/null) /usr/bin/rustc; do
        [ -x "$rustc" ] || continue
        sysroot=$("$rustc" --print sysroot 2>/dev/null) || continue
        if [ -f "$sysroot/lib/rustlib/src/rust/library/core/Cargo.toml" ]; then return 0; fi
        local all=1
        for t in "${TARGETS[@]}"; do
            ls "$sysroot/lib/rustlib/$t/lib"/libcore-* >/dev/null 2>&1 || all=0
        done
        [ "$all" -eq 1 ] && return 0
    done
    return 1
}

setup_cortex_m_toolchain() {
    if cortex_m_std_available; then
        say "Cortex-M standard library: available"
        return 0
    fi
    if command -v rustup >/dev/null; then
        say "rustup target add ${TARGETS[*]}"
        # rustup hangs where it cannot reach its server: give it a bounded time.
        if timeout 60 rustup target add "${TARGETS[@]}" >/dev/null 2>&1; then return 0; fi
        say "rustup could not download the targets; using Debian's Rust sources (build-std)"
    fi
    apt_install rustc-web cargo-web rust-web-src
}

setup_python_tools() {
    if command -v imgtool >/dev/null; then return 0; fi
    say "pip install imgtool"
    python3 -m pip install -q imgtool 2>/dev/null || python3 -m pip install -q --break-system-packages imgtool
    command -v imgtool >/dev/null || { echo "error: imgtool is not on PATH after pip install (add ~/.local/bin to PATH)" >&2; exit 1; }
}

setup_mdbook() {
    if command -v mdbook >/dev/null && mdbook --version | grep -q "v0\.5"; then return 0; fi
    say "cargo install mdbook (once; a few minutes)"
    cargo install --quiet --locked mdbook --version "^0.5"
}

apt_install qemu-system-arm binutils-arm-none-eabi curl python3-pip
setup_cortex_m_toolchain
setup_python_tools
if [ "${SETUP_SKIP_MDBOOK:-0}" != 1 ]; then setup_mdbook; fi
say "done"
