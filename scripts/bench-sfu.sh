#!/usr/bin/env bash
# Capacity of one room server on this machine (release build, loopback): room-load plays the
# participants, the server's CPU and memory come from /proc and its counters from /metrics.
# Prints one table, two rows (ours, Janus) per scenario from issue 10 (docs/benchmarks.md),
# and for long runs (the audio room) loss, memory and CPU minute by minute.
#
#   scripts/bench-sfu.sh [SCENARIO…]
#
# Scenarios (fan-out in the live scene: a call room holds 300, a live room any audience):
# fanout10 fanout50 fanout100 fanout200 fanout500 call9 audio storm300 (default:
# all). The audio room is 50 anchors, 3 of them talking (the others send what Opus DTX sends
# in silence), and 250 listeners; AUDIO_SECONDS sets its length (default 600).
#
# Every scenario runs twice on identical load: against our room-server and against Janus
# VideoRoom (Debian's janus, run by scripts/janus/run.sh; room-load --janus). JANUS=0 skips
# Janus. Each run gets a fresh server, so one's leftovers (memory, lingering rooms) never reach
# the next. ROOM_SERVER=PATH plays "ours" with another room-server build (a before/after of a
# change, in one run).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked -p trtc-server -p trtc-load
bin=target/release
secret="bench-$(date +%s)"
app=1400000000
# BENCH_OUT=DIR keeps every run's JSON report there; otherwise they go with the table.
if [ -n "${BENCH_OUT:-}" ]; then
  out=$BENCH_OUT
  mkdir -p "$out"
  rm -f "$out/ran"
  trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
else
  out=$(mktemp -d)
  trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT
fi
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  scenarios=(fanout10 fanout50 fanout100 fanout200 fanout500 call9 audio storm300)
fi
audio_seconds="${AUDIO_SECONDS:-600}"

ours() { # name, room-load flags…
  local name=$1
  shift
  "${ROOM_SERVER:-$bin/room-server}" --listen 127.0.0.1:0 --app "$app:$secret" >"$out/server.out" 2>"$out/server.err" &
  local pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$out/server.out" 2>/dev/null && break; sleep 0.05; done
  local addr
  addr=$(sed -n 's/^listening on //p' "$out/server.out")
  "$bin/room-load" --server "ws://$addr" --sdkappid "$app" --secret "$secret" \
    --metrics-url "http://$addr/metrics" --server-pid "$pid" "$@" \
    >"$out/$name.ours.json" 2>"$out/$name.ours.err" || { tail -5 "$out/$name.ours.err" >&2; }
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

janus() { # name, room-load flags…
  local name=$1
  shift
  local port=18188 dir="$out/janus"
  rm -rf "$dir"
  scripts/janus/run.sh "$port" "$dir" >"$out/janus.log" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  "$bin/room-load" --janus --server "ws://127.0.0.1:$port" --sdkappid "$app" --secret "$secret" \
    --server-pid "$pid" "$@" \
    >"$out/$name.janus.json" 2>"$out/$name.janus.err" || { tail -5 "$out/$name.janus.err" >&2; }
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

run() { # name, room-load flags…
  ours "$@"
  if [ "${JANUS:-1}" != 0 ]; then janus "$@"; fi
  echo "$1" >>"$out/ran"
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
f = lambda v, fmt: "—" if v is None else format(v, fmt)

def row(name, server):
    path = os.path.join(out, f"{name}.{server}.json")
    if not os.path.exists(path):
        return None
    try:
        r = json.load(open(path))
    except ValueError:
        err = open(os.path.join(out, f"{name}.{server}.err")).read().strip().splitlines()
        return f"room-load failed: {err[-1] if err else '?'}", None
    s, t, j = r["server"] or {}, r["totals"], r["joins"]
    # Per delivered packet (what the subscribers counted): the one measure both servers have.
    delivered = t["window_packets"]
    per_delivered = s["cpu_s"] * 1e6 / delivered if s.get("cpu_s") is not None and delivered else None
    cells = [
        f"{j['entered']}/{j['attempted']}",
        f(per_delivered, ".1f"),
        f(s.get("cpu_us_per_packet") if server == "ours" else None, ".1f"),
        f(s.get("cpu_pct_of_core"), ".0f"),
        f((s.get("rss_bytes") or 0) / 1048576, ".0f"),
        f(delivered / r["window_s"] if delivered else None, ".0f"),
        f(t["loss_pct"] if t["streams_expected"] else None, ".3f"),
        f"{t['streams_missing']}/{t['streams_expected']}",
        f"{t['video_kbps_min']:.0f}/{t['video_kbps_median']:.0f}" if r["layout"]["video"] else "—",
        f(t["audio_kbps_median"] if t["streams_expected"] else None, ".0f"),
        f"{j['p50_ms']:.1f}/{j['p99_ms']:.1f}",
    ]
    return " | ".join(cells), per_delivered

print("| scenario | server | entered | µs CPU/delivered packet | µs CPU/forwarded packet (/metrics) | % of a core | RSS MB | packets/s delivered | loss % | streams missing | video kbps min/median | audio kbps | onEnterRoom p50/p99 ms | cost vs Janus |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for name in open(os.path.join(out, "ran")).read().split():
    ours, janus = row(name, "ours"), row(name, "janus")
    ratio = "—"
    if ours and janus and ours[1] and janus[1]:
        ratio = f"{ours[1] / janus[1]:.2f}×"
    if ours:
        print(f"| {name} | ours | {ours[0]} | {ratio} |")
    if janus:
        print(f"| {name} | Janus | {janus[0]} | |")

# Long runs: loss and memory as the run went on (room-load's timeline, ten intervals).
for name in open(os.path.join(out, "ran")).read().split():
    runs = {}
    for server in ("ours", "janus"):
        try:
            r = json.load(open(os.path.join(out, f"{name}.{server}.json")))
        except (OSError, ValueError):
            continue
        if r["window_s"] >= 120 and r.get("timeline"):
            runs[server] = r["timeline"]
    if not runs:
        continue
    print()
    print(f"{name} over time:")
    print("| minute | " + " | ".join(f"{s}: loss % / RSS MB / % of a core" for s in runs) + " |")
    print("|---|" + "---|" * len(runs))
    for i in range(max(len(t) for t in runs.values())):
        cells = []
        for t in runs.values():
            if i >= len(t):
                cells.append("")
                continue
            x = t[i]
            sent = x["packets"] + x["lost"]
            cells.append(" / ".join([
                f"{100 * x['lost'] / sent:.3f}" if sent else "—",
                f(x["server_rss_bytes"] and x["server_rss_bytes"] / 1048576, ".0f"),
                f(x["server_cpu_pct"], ".0f"),
            ]))
        t_s = next(iter(runs.values()))[min(i, len(next(iter(runs.values()))) - 1)]["t_s"]
        print(f"| {t_s / 60:.1f} | " + " | ".join(cells) + " |")
EOF
