#!/usr/bin/env bash
# Join time on loopback: N room-bot processes enter an occupied room one after another; each
# one's onEnterRoom result (ms from enterRoom to the server's acceptance) is collected, and the
# distribution printed. Usage: scripts/bench-join.sh [N] [--release]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
n="${1:-100}"
profile=debug
if [ "${2:-}" = "--release" ]; then
  profile=release
  cargo build --release --locked -p trtc-server -p trtc-bot
else
  cargo build --locked -p trtc-server -p trtc-bot
fi
bin="target/$profile"
secret="bench-$(date +%s)"
out=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT

"$bin/room-server" --listen 127.0.0.1:0 --app "1400000000:$secret" >"$out/server.out" 2>/dev/null &
for _ in $(seq 100); do grep -q "listening on" "$out/server.out" 2>/dev/null && break; sleep 0.05; done
url="ws://$(sed -n 's/^listening on //p' "$out/server.out")"

# Someone is already in the room, as in a real meeting.
"$bin/room-bot" --server "$url" --sdkappid 1400000000 --secret "$secret" --userid host --roomid 1 >/dev/null 2>&1 &

for i in $(seq "$n"); do
  "$bin/room-bot" --server "$url" --sdkappid 1400000000 --secret "$secret" --userid "joiner$i" --roomid 1 --duration 0 2>/dev/null \
    | sed -n 's/.*"onEnterRoom","result":\([0-9-]*\).*/\1/p' >>"$out/results"
done

python3 - "$out/results" "$profile" <<'PY'
import sys, statistics
xs = sorted(int(l) for l in open(sys.argv[1]) if l.strip())
bad = [x for x in xs if x <= 0]
assert not bad, f"failed joins: {bad}"
def pct(p):
    # nearest-rank percentile
    k = max(1, -(-p * len(xs) // 100))
    return xs[k - 1]
print(f"joins={len(xs)} profile={sys.argv[2]} onEnterRoom ms: p50={pct(50)} p90={pct(90)} p99={pct(99)} min={xs[0]} max={xs[-1]} mean={statistics.mean(xs):.1f}")
PY
