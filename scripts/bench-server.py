#!/usr/bin/env python3
"""What hostile clients cost a room-server process (docs/benchmarks.md, issue 9's probes).

    scripts/bench-server.py ROOM_SERVER [ROOM_BOT] [--label NAME]

ROOM_SERVER is a release binary (scripts/bench-server.sh builds the current one and, for a
before/after table, an older commit's). Prints one JSON object:
  rss_*           VmRSS in KiB: at start, with 2,000 unentered WebSockets open, 20 s after they close
  emfile_cpu_s    server CPU seconds over 5 s while, with `ulimit -n 256`, 300 idle sockets wait
  junk_*          with a publisher connected, 100,000 junk datagrams at the media ports: server
                  CPU seconds spent and stderr lines written
"""
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

APP = 1400000000
SECRET = "bench-server-secret"
N_SOCKETS = 2000


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def flags_supported(server):
    out = subprocess.run([server, "--help"], capture_output=True, text=True).stdout
    return "--enter-timeout" in out


def start(server, extra=(), nofile=None, log=None):
    cmd = [server, "--listen", "127.0.0.1:0", "--app", f"{APP}:{SECRET}", *extra]
    if nofile:
        cmd = ["sh", "-c", f'ulimit -n {nofile} && exec "$0" "$@"', *cmd]
    env = dict(os.environ, RUST_LOG="info")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log or subprocess.DEVNULL, text=True, env=env)
    first = p.stdout.readline()
    host, port = first.strip().removeprefix("listening on ").rsplit(":", 1)
    return p, (host, int(port))


def upgrade(addr):
    s = socket.create_connection(addr)
    s.sendall(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    reply = s.recv(1024)
    assert reply.startswith(b"HTTP/1.1 101"), reply
    return s


def memory(server):
    extra = ["--enter-timeout", "120", "--handshake-timeout", "120"] if flags_supported(server) else []
    p, addr = start(server, extra)
    time.sleep(0.5)
    base = rss_kib(p.pid)
    socks = [upgrade(addr) for _ in range(N_SOCKETS)]
    time.sleep(1)
    held = rss_kib(p.pid)
    for s in socks:
        s.close()
    # jemalloc gives freed pages back on its decay: dirty pages after ~10 s, then muzzy ones.
    time.sleep(20)
    after = rss_kib(p.pid)
    p.kill()
    return {
        "rss_start_kib": base,
        "rss_open_kib": held,
        "rss_per_socket_kib": round((held - base) / N_SOCKETS, 1),
        "rss_after_close_kib": after,
    }


def emfile(server):
    p, addr = start(server, nofile=256)
    socks = []
    for _ in range(300):
        try:
            socks.append(socket.create_connection(addr, timeout=0.5))
        except OSError:
            pass  # the backlog is full: the server is out of descriptors
    time.sleep(1)
    c0 = cpu_s(p.pid)
    time.sleep(5)
    used = cpu_s(p.pid) - c0
    fds = len(os.listdir(f"/proc/{p.pid}/fd"))
    p.kill()
    for s in socks:
        s.close()
    return {"emfile_sockets": len(socks), "emfile_server_fds": fds, "emfile_cpu_s": round(used, 2)}


def junk(server, bot):
    lo, hi = 47300, 47309
    with tempfile.TemporaryFile("w+") as log:
        p, addr = start(server, ["--rtc-udp-ports", f"{lo}-{hi}"], log=log)
        url = f"ws://{addr[0]}:{addr[1]}"
        b = subprocess.Popen(
            [bot, "--server", url, "--sdkappid", str(APP), "--secret", SECRET, "--userid", "pub",
             "--roomid", "1", "--camera", "synthetic", "--duration", "30"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(4)
        log.seek(0)
        lines0 = len(log.readlines())
        c0 = cpu_s(p.pid)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(100_000):
            u.sendto(i.to_bytes(4, "big") * (1 + i % 50), ("127.0.0.1", lo + i % (hi - lo + 1)))
        time.sleep(2)
        used = cpu_s(p.pid) - c0
        log.seek(0)
        lines = len(log.readlines()) - lines0
        b.kill()
        p.kill()
    return {"junk_cpu_s": round(used, 2), "junk_log_lines": lines}


def main():
    args = sys.argv[1:]
    label = None
    if "--label" in args:
        i = args.index("--label")
        label = args[i + 1]
        del args[i:i + 2]
    server = args[0]
    bot = args[1] if len(args) > 1 else os.path.join(os.path.dirname(server), "room-bot")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    out = {"label": label or server}
    out.update(memory(server))
    out.update(emfile(server))
    out.update(junk(server, bot))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
