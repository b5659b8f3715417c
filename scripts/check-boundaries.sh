#!/usr/bin/env bash
# The architecture's boundaries (docs/ARCHITECTURE.md), checked rather than hoped for:
#   - no crate under crates/ depends on tauri: each builds and tests with no webview;
#   - only crates/rtc depends on the WebRTC library (`webrtc`, `rtc`), so upgrading or
#     replacing it touches one crate. A Cargo fact first (the manifests), and a look at the
#     sources too, for code that reaches the library some other way.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
if grep -nE '^\s*tauri' crates/*/Cargo.toml; then
  echo "boundary: crates/ must not depend on tauri" >&2
  status=1
fi
manifests=$(grep -lE '^\s*(webrtc|rtc)(\.workspace)?\s*=' Cargo.toml crates/*/Cargo.toml | grep -vxE 'crates/rtc/Cargo.toml|Cargo.toml' || true)
# The root manifest may only pin the versions for the workspace, not depend on them itself.
if sed -n '/^\[dependencies\]/,/^\[/p; /^\[dev-dependencies\]/,/^\[/p' Cargo.toml | grep -qE '^\s*(webrtc|rtc)(\.workspace)?\s*='; then
  manifests="$manifests Cargo.toml"
fi
if [ -n "${manifests// /}" ]; then
  echo "boundary: only crates/rtc may depend on the WebRTC library:" >&2
  echo "$manifests" >&2
  status=1
fi
offenders=$(grep -rlE '\b(webrtc|rtc)::' --include='*.rs' crates src-tauri tests benches | grep -vE '^crates/rtc/' || true)
if [ -n "$offenders" ]; then
  echo "boundary: only crates/rtc may use the WebRTC library:" >&2
  echo "$offenders" >&2
  status=1
fi
[ $status -eq 0 ] && echo "boundaries: ok"
exit $status
