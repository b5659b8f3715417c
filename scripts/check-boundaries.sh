#!/usr/bin/env bash
# The architecture's boundaries (docs/ARCHITECTURE.md), checked rather than hoped for:
#   - no crate under crates/ depends on tauri: each builds and tests with no webview;
#   - only the SDK's and the server's transport modules may name the WebRTC library.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
if grep -nE '^\s*tauri' crates/*/Cargo.toml; then
  echo "boundary: crates/ must not depend on tauri" >&2
  status=1
fi
offenders=$(grep -rlE '\b(webrtc|rtc)::' --include='*.rs' crates src-tauri | grep -vE '^crates/(sdk|server)/src/transport(/|\.rs)' || true)
if [ -n "$offenders" ]; then
  echo "boundary: only crates/{sdk,server}/src/transport may use the WebRTC library:" >&2
  echo "$offenders" >&2
  status=1
fi
[ $status -eq 0 ] && echo "boundaries: ok"
exit $status
