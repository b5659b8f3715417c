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
# A clean build with its tests takes about 11 GB; running out of disk halfway shows up as a
# linker crash (SIGBUS) or "No space left on device" in some random crate. Say so up front.
free_kb=$(df -Pk . | awk 'NR == 2 { print $4 }')
if [ "${free_kb:-0}" -lt $((12 * 1024 * 1024)) ]; then
  echo "test.sh: only $((free_kb / 1024 / 1024)) GB free here; the build and tests need about 12 GB" >&2
  exit 1
fi
# One build of every target with the profile and features the tests use; the tests reuse it.
cargo build --workspace --all-targets --locked
scripts/check-boundaries.sh
cargo test --workspace --locked
# Every fuzz target briefly (its own sanitizer build, about five minutes from clean).
scripts/fuzz.sh
