#!/usr/bin/env bash
# The page's main-thread stalls in a 4-person call (benches/ui_stalls.rs), release profile as
# users run it. Prints a table for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export RUST_LOG="${RUST_LOG:-warn}"
# The bench finds room-server and room-bot beside the app's binary in target/release.
cargo build --release --locked -p trtc-server -p trtc-bot
cargo bench --locked --bench ui_stalls
