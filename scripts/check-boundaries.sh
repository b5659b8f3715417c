#!/usr/bin/env bash
# The architecture's boundaries (docs/ARCHITECTURE.md), checked rather than hoped for, from
# Cargo's own view of the workspace (`cargo metadata`):
#   - only the app (the root package) depends on tauri: every crate under crates/ builds and
#     tests with no webview;
#   - only trtc-rtc depends on the WebRTC library (webrtc, rtc), so upgrading or replacing it
#     touches one crate. The sources are searched too, for a re-export that would reach it.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
cargo metadata --no-deps --format-version 1 --offline | python3 -c '
import json, sys
allowed = {"tauri": {"trtc-meeting"}, "tauri-build": {"trtc-meeting"},
           "webrtc": {"trtc-rtc"}, "rtc": {"trtc-rtc"}}
bad = [p["name"] + " depends on " + d["name"]
       for p in json.load(sys.stdin)["packages"] for d in p["dependencies"]
       if d["name"] in allowed and p["name"] not in allowed[d["name"]]]
for b in bad:
    print("boundary:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
' || status=1
offenders=$(grep -rlE '\b(webrtc|rtc)::' --include='*.rs' crates src-tauri tests benches | grep -vE '^crates/rtc/' || true)
if [ -n "$offenders" ]; then
  echo "boundary: only crates/rtc may name the WebRTC library:" >&2
  echo "$offenders" >&2
  status=1
fi
[ $status -eq 0 ] && echo "boundaries: ok"
exit $status
