#!/usr/bin/env python3
"""Regenerates docs/screenshot.png: the real app in a room with two room-bots, on Xvfb.

Drives the app through tauri-driver's WebDriver HTTP API with the standard library only.
Run after `cargo build --workspace --all-targets`.
"""
import json, os, pathlib, re, signal, socket, subprocess, sys, tempfile, time, urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "debug"
SECRET, APP = "screenshot-secret", "1400000000"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wd(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)["value"]


def main():
    procs = []
    display = ":77"
    procs.append(subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x800x24"], stderr=subprocess.DEVNULL))
    time.sleep(1)
    server = subprocess.Popen([BIN / "room-server", "--listen", "127.0.0.1:0", "--app", f"{APP}:{SECRET}"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    procs.append(server)
    url = "ws://" + server.stdout.readline().strip().removeprefix("listening on ")
    port, native = free_port(), free_port()
    env = dict(os.environ, DISPLAY=display)
    driver = subprocess.Popen(["tauri-driver", "--port", str(port), "--native-port", str(native)], env=env,
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        cfg = tempfile.mkdtemp()
        caps = {"capabilities": {"alwaysMatch": {"tauri:options": {
            "application": str(BIN / "trtc-meeting"),
            "args": ["--config-dir", cfg, "--server", url, "--sdkappid", APP, "--secret", SECRET]}}}}
        sid = wd(port, "POST", "/session", caps)["sessionId"]

        def el(testid):
            found = wd(port, "POST", f"/session/{sid}/element", {"using": "css selector", "value": f"[data-testid='{testid}']"})
            return next(iter(found.values()))

        time.sleep(2)
        for testid, text in [("room-id", "2026"), ("user-id", "alice")]:
            wd(port, "POST", f"/session/{sid}/element/{el(testid)}/value", {"text": text})
        for name in ["bob", "carol_w"]:
            procs.append(subprocess.Popen([BIN / "room-bot", "--server", url, "--sdkappid", APP, "--secret", SECRET,
                                           "--userid", name, "--roomid", "2026"], stdout=subprocess.DEVNULL))
        wd(port, "POST", f"/session/{sid}/element/{el('enter-room')}/click", {})
        time.sleep(2.5)
        out = ROOT / "docs" / "screenshot.png"
        subprocess.run(["import", "-display", display, "-window", "root", "-crop", "1120x740+0+0", str(out)], check=True)
        print(f"wrote {out}")
        wd(port, "DELETE", f"/session/{sid}")
    finally:
        driver.send_signal(signal.SIGTERM)
        driver.wait(timeout=10)
        for p in procs:
            p.terminate()


if __name__ == "__main__":
    sys.exit(main())
