#!/usr/bin/env bash
# Installs what is missing, builds, and starts the app on its built-in room server.
# Extra arguments go to the app (for example --server URL --sdkappid N --usersig SIG).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
# The same build as scripts/test.sh (same targets, same features), so one reuses the other's
# output instead of compiling a second variant of every shared dependency.
cargo build --workspace --all-targets --locked
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "run-app: no display found; starting the app on a virtual one (Xvfb)." >&2
  exec xvfb-run -a -s "-screen 0 1280x800x24" target/debug/trtc-meeting "$@"
fi
exec target/debug/trtc-meeting "$@"
