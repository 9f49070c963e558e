#!/usr/bin/env bash
# The main job on the virtual board, no hardware needed: the over-the-air update of the
# Mbed OS 5.5 blog post, in one go.
#
#   1. build the example project (secure bootloader + app) as version 1.0.0, and a copy
#      of it as version 1.1.0 with another message;
#   2. serve 1.1.0's update.bin with `cargo boot serve` (the blog post's
#      `python -m SimpleHTTPServer`);
#   3. boot 1.0.0 in QEMU with a LAN9118 network card: it finds 1.1.0 on the server,
#      downloads it into its secondary slot, and resets; the bootloader verifies and
#      installs it; 1.1.0 prints its message, confirms itself, and finds itself up to date.
#
# Safe to run again: everything it makes lives under target/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_SKIP_MDBOOK=1 ./scripts/setup.sh
export PATH="$HOME/.cargo/bin:$HOME/.local/bin:$PATH"

REPO="$PWD"
DEMO="$REPO/target/demo"
TARGET_DIR="$DEMO/target"
export CARGO_BOOT_HOME="$DEMO/home"
MESSAGE_V1="hello from version 1.0.0, the firmware on the board"
MESSAGE_V2="hello from version 1.1.0, installed over the air"

say() { printf '\n\033[1;32m==> %s\033[0m\n' "$*"; }
now() { date +%s%N; }
took() { local ms=$((($(now) - $1) / 1000000)); printf '    (%d.%01d s)\n' $((ms / 1000)) $((ms % 1000 / 100)); }

# The port the app asks (10.0.2.2:<port> is the host's 127.0.0.1:<port> from QEMU):
# the seed's 8000, or a free one when 8000 is taken. It is built into the app.
free_port() {
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
# As `cargo boot serve` does: connections of an earlier run may linger in TIME_WAIT.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
EOF
}
export DEMO_SERVER_PORT="${DEMO_SERVER_PORT:-$(free_port 8000)}"

say "building cargo-boot"
cargo build --quiet --release -p cargo-boot
BOOT="$REPO/target/release/cargo-boot"
mkdir -p "$CARGO_BOOT_HOME"

say "version 1.1.0: a copy of example-project with a new version and message"
start=$(now)
rm -rf "$DEMO/v2"
mkdir -p "$DEMO/v2"
cp -r example-project/Cargo.toml example-project/Cargo.lock example-project/build.rs \
    example-project/src example-project/.cargo "$DEMO/v2/"
sed -i -e "s|path = \"../boot-templates/|path = \"$REPO/boot-templates/|" \
    -e 's/^version = "1.0.0"/version = "1.1.0"/' "$DEMO/v2/Cargo.toml"
(cd "$DEMO/v2" && DEMO_MESSAGE="$MESSAGE_V2" "$BOOT" boot build --target-dir "$TARGET_DIR")
# Every build writes target/boot/debug/: keep 1.1.0's update image aside.
cp "$TARGET_DIR/boot/debug/update.bin" "$DEMO/v2-update.bin"
took "$start"

say "serving version 1.1.0 on 127.0.0.1:$DEMO_SERVER_PORT (10.0.2.2:$DEMO_SERVER_PORT from the board)"
"$BOOT" boot serve --file "$DEMO/v2-update.bin" --bind 127.0.0.1 --port "$DEMO_SERVER_PORT" \
    >"$DEMO/serve.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q "^listening on" "$DEMO/serve.log" && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$DEMO/serve.log"; exit 1; }
    sleep 0.1
done
grep -q "^listening on" "$DEMO/serve.log" || { echo "cargo boot serve did not start:"; cat "$DEMO/serve.log"; exit 1; }

say "version 1.0.0 on the virtual board, with a network card"
start=$(now)
(cd example-project && DEMO_MESSAGE="$MESSAGE_V1" "$BOOT" boot run --target-dir "$TARGET_DIR" \
    --nic user,model=lan9118 --timeout 120)
took "$start"

say "what the server saw"
grep -E '"GET ' "$DEMO/serve.log" || true
