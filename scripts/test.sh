#!/usr/bin/env bash
# Installs what is missing, builds everything once, and runs the whole test suite: unit,
# integration (server + SDK over loopback), process (room-server, room-bot, usersig) and
# end-to-end (the real app under Xvfb through WebDriver).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
# Child processes (servers, bots, the app) log to the test output; keep it to what matters.
export RUST_LOG="${RUST_LOG:-warn}"
# One build of every target with the profile and features the tests use; the tests reuse it.
cargo build --workspace --all-targets --locked
scripts/check-boundaries.sh
cargo test --workspace --locked
