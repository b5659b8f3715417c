#!/usr/bin/env bash
# Capacity of one room server on this machine (release build, loopback): room-load plays the
# participants, the server's CPU and memory come from /proc and its counters from /metrics.
# Prints one table; each row is one scenario from issue 10 (docs/benchmarks.md).
#
#   scripts/bench-sfu.sh [SCENARIO…]
#
# Scenarios (fan-out in the live scene: a call room holds 300, a live room any audience):
# fanout10 fanout50 fanout100 fanout200 fanout500 call9 audio storm300 (default:
# all). The audio room is 50 anchors, 3 of them talking (the others send what Opus DTX sends
# in silence), and 250 listeners; AUDIO_SECONDS sets its length (default 600). Each scenario gets a fresh
# server, so one's leftovers (memory, lingering rooms) never reach the next.
#
# The Janus side of the comparison (room-load's Janus mode) is not built yet; its column says
# so rather than holding a number.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked -p trtc-server -p trtc-load
bin=target/release
secret="bench-$(date +%s)"
app=1400000000
out=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  scenarios=(fanout10 fanout50 fanout100 fanout200 fanout500 call9 audio storm300)
fi
audio_seconds="${AUDIO_SECONDS:-600}"

run() { # name, room-load flags…
  local name=$1
  shift
  "$bin/room-server" --listen 127.0.0.1:0 --app "$app:$secret" >"$out/server.out" 2>"$out/server.err" &
  local pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$out/server.out" 2>/dev/null && break; sleep 0.05; done
  local addr
  addr=$(sed -n 's/^listening on //p' "$out/server.out")
  "$bin/room-load" --server "ws://$addr" --sdkappid "$app" --secret "$secret" \
    --metrics-url "http://$addr/metrics" --server-pid "$pid" "$@" \
    >"$out/$name.json" 2>"$out/$name.err" || { tail -5 "$out/$name.err" >&2; }
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "$name" >>"$out/ran"
}

for s in "${scenarios[@]}"; do
  case "$s" in
    fanout*) run "$s" --scene live --publishers 1 --subscribers "${s#fanout}" --video 1280x720 --fps 30 --video-kbps 1500 --duration 20 --warmup 60 ;;
    call9) run "$s" --publishers 9 --subscribers 0 --video 640x360 --fps 15 --video-kbps 550 --duration 20 ;;
    audio) run "$s" --scene voicechatroom --publishers 50 --talkers 3 --subscribers 250 --video none --ramp 50 --duration "$audio_seconds" --warmup 60 ;;
    storm300) run "$s" --publishers 0 --subscribers 300 --video none --ramp 300 --duration 1 ;;
    *) echo "bench-sfu: unknown scenario $s" >&2; exit 2 ;;
  esac
done

python3 - "$out" <<'EOF'
import json, sys, os
out = sys.argv[1]
rows = []
for name in open(os.path.join(out, "ran")).read().split():
    try:
        r = json.load(open(os.path.join(out, name + ".json")))
    except (OSError, ValueError):
        rows.append((name, "room-load failed: " + open(os.path.join(out, name + ".err")).read().strip().splitlines()[-1]))
        continue
    s, t, j = r["server"] or {}, r["totals"], r["joins"]
    f = lambda v, fmt: "—" if v is None else format(v, fmt)
    rows.append((name, " | ".join([
        f"{j['entered']}/{j['attempted']}",
        f(s.get("cpu_us_per_packet"), ".1f"),
        f(s.get("cpu_pct_of_core"), ".0f"),
        f((s.get("rss_bytes") or 0) / 1048576, ".0f"),
        f(s.get("forwarded_packets") and s["forwarded_packets"] / r["window_s"], ".0f"),
        f"{t['loss_pct']:.3f}",
        f"{t['streams_missing']}/{t['streams_expected']}",
        f"{t['video_kbps_min']:.0f}/{t['video_kbps_median']:.0f}",
        f"{t['audio_kbps_median']:.0f}",
        f"{j['p50_ms']:.1f}/{j['p99_ms']:.1f}",
        "not built yet",
    ])))
print("| scenario | entered | µs CPU/packet | % of a core | RSS MB | packets/s forwarded | loss % | streams missing | video kbps min/median | audio kbps | onEnterRoom p50/p99 ms | Janus |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for name, cells in rows:
    print(f"| {name} | {cells} |")
EOF
