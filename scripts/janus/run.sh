#!/usr/bin/env bash
# Runs Debian's Janus (apt package `janus`, installed by scripts/setup.sh) as the comparison
# SFU: VideoRoom over WebSocket on 127.0.0.1:PORT, its files under DIR. It execs Janus, so the
# caller's PID is Janus's (its CPU and memory are read from /proc/PID).
#
#   scripts/janus/run.sh PORT DIR
set -euo pipefail
port=$1
dir=$2
here=$(cd "$(dirname "$0")" && pwd)
lib=/usr/lib/x86_64-linux-gnu/janus
[ -x /usr/bin/janus ] || { echo "janus is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
mkdir -p "$dir/conf" "$dir/plugins" "$dir/transports" "$dir/none"
for f in janus.jcfg janus.plugin.videoroom.jcfg janus.transport.websockets.jcfg; do
  sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" "$here/$f" >"$dir/conf/$f"
done
ln -sf "$lib/plugins/libjanus_videoroom.so" "$dir/plugins/"
ln -sf "$lib/transports/libjanus_websockets.so" "$dir/transports/"
cc -shared -fPIC -O2 -o "$dir/loopback-ice.so" "$here/loopback-ice.c" -ldl
LD_PRELOAD="$dir/loopback-ice.so" exec /usr/bin/janus -F "$dir/conf" -o
