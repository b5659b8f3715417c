#!/usr/bin/env bash
# A bad network to run the app or room-bots through, by hand. Two ways, usable together:
#
# 1. The relay (no root): delay, jitter, random and burst loss, a rate cap and cuts, on a
#    schedule, for everyone's media. netem does not exist in this kernel, so this is our own
#    user-space relay (crates/netlab, the one the SDK's tests and benchmarks use).
#   scripts/netlab.sh relay PORTS LINK   relay the media ports PORTS (LO-HI) of a room-server
#                                        started with --public-ip 127.0.0.2 --rtc-udp-ports PORTS;
#                                        LINK is e.g. "delay=100ms jitter=30ms loss=5%" or
#                                        "rate=2mbit for 10s; rate=300kbit for 15s; rate=2mbit"
#                                        (netlab-relay --help lists the words); Ctrl-C stops it
#   Example: a room through 100 ± 30 ms and 5 % loss each way:
#     target/debug/room-server --listen 127.0.0.1:8080 --app 1400000000:KEY \
#         --public-ip 127.0.0.2 --rtc-udp-ports 50000-50019 &
#     scripts/netlab.sh relay 50000-50019 "delay=100ms jitter=30ms loss=5%" &
#     target/debug/trtc-meeting --server ws://127.0.0.1:8080 --sdkappid 1400000000 --secret KEY
#
# 2. A namespace behind a rate-capped veth (root; tbf), for one client's own link:
#   scripts/netlab.sh up [RATE]          a namespace "trtc-net" behind a veth pair: the host side
#                                        is 10.231.0.1, the inside 10.231.0.2; RATE (tc syntax,
#                                        e.g. 2mbit) caps both directions (default: no cap)
#   scripts/netlab.sh rate RATE|none     change the cap mid-call
#   scripts/netlab.sh schedule "2mbit 10; 300kbit 15; 2mbit 0"
#                                        steps: each RATE held for SECONDS (0: stay), printed as
#                                        they happen
#   scripts/netlab.sh cut | heal         drop everything on the link / restore it
#   scripts/netlab.sh exec CMD…          run CMD inside (a room-bot, the app)
#   scripts/netlab.sh down               remove it all
#
# Example: a server outside, a bot inside through a 300 kbps link:
#   scripts/netlab.sh up 300kbit
#   target/debug/room-server --listen 10.231.0.1:8080 --app 1400000000:KEY &
#   scripts/netlab.sh exec target/debug/room-bot --server ws://10.231.0.1:8080 --sdkappid 1400000000 \
#       --secret KEY --roomid 1 --userid bot --camera synthetic --mic synthetic --duration 30
set -euo pipefail

NS=trtc-net
HOST_IF=trtc-h
INNER_IF=trtc-i
HOST_IP=10.231.0.1
INNER_IP=10.231.0.2

die() {
  echo "netlab: $*" >&2
  exit 1
}

cmd="${1:-}"
shift || true

if [ "$cmd" = relay ]; then
  [ $# -eq 2 ] || die 'relay PORTS LINK, e.g. relay 50000-50019 "loss=5%"'
  cd "$(dirname "$0")/.."
  exec cargo run --quiet --locked -p trtc-netlab --bin netlab-relay -- --ports "$1" "$2"
fi

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces and tc)"

# tbf's queue: 300 ms of the rate, and a burst that holds a few full datagrams.
shape() {
  local rate="$1"
  for side in host inner; do
    local run=() dev=$HOST_IF
    if [ "$side" = inner ]; then
      run=(ip netns exec "$NS")
      dev=$INNER_IF
    fi
    "${run[@]}" tc qdisc del dev "$dev" root 2>/dev/null || true
    if [ "$rate" != none ]; then
      "${run[@]}" tc qdisc add dev "$dev" root tbf rate "$rate" burst 16kb latency 300ms
    fi
  done
}

case "$cmd" in
  up)
    ip netns list | grep -qw "$NS" && die "already up (scripts/netlab.sh down first)"
    ip netns add "$NS"
    ip link add "$HOST_IF" type veth peer name "$INNER_IF"
    ip link set "$INNER_IF" netns "$NS"
    ip addr add "$HOST_IP/30" dev "$HOST_IF"
    ip -n "$NS" addr add "$INNER_IP/30" dev "$INNER_IF"
    ip link set "$HOST_IF" up
    ip -n "$NS" link set "$INNER_IF" up
    ip -n "$NS" link set lo up
    # A default route inside: without one, a WebRTC stack that joins mDNS fails (see
    # ../shared/platform-notes.md); the host side is the only way out anyway.
    ip -n "$NS" route add default via "$HOST_IP" dev "$INNER_IF"
    shape "${1:-none}"
    echo "netlab: up; inside is $INNER_IP, the host side $HOST_IP (cap: ${1:-none})"
    ;;
  rate)
    [ -n "${1:-}" ] || die "rate RATE|none"
    shape "$1"
    echo "netlab: cap $1"
    ;;
  schedule)
    [ -n "${1:-}" ] || die 'schedule "RATE SECONDS; …"'
    IFS=';' read -ra steps <<<"$1"
    for step in "${steps[@]}"; do
      read -r rate secs <<<"$step"
      [ -n "$rate" ] || continue
      shape "$rate"
      echo "netlab: $(date +%T.%N | cut -c1-12) cap $rate${secs:+ for ${secs} s}"
      if [ "${secs:-0}" != 0 ]; then sleep "$secs"; fi
    done
    ;;
  cut)
    ip link set "$HOST_IF" down
    echo "netlab: cut"
    ;;
  heal)
    ip link set "$HOST_IF" up
    echo "netlab: healed"
    ;;
  exec)
    [ $# -gt 0 ] || die "exec CMD…"
    exec ip netns exec "$NS" "$@"
    ;;
  down)
    ip link del "$HOST_IF" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    echo "netlab: down"
    ;;
  *)
    sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'
    exit 64
    ;;
esac
