//! Shared helpers for the product's process-level tests: find the workspace's binaries, run a
//! room-server, read a child's stdout line by line.
#![allow(dead_code)]
// each test file uses a different part
// Test support: a panic here is a failed test, with the message unwrap gives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod raw;
pub mod webdriver;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const APP: u32 = 1_400_000_000;
pub const KEY: &str = "process-test-secret";
pub const WAIT: Duration = Duration::from_secs(20);

/// A binary of this workspace. Cargo only exports `CARGO_BIN_EXE_*` for this package's own
/// binaries, so the others are found beside the app's in the same target directory; a missing
/// one is a failure with the command that builds it, never a skip.
pub fn bin(name: &str) -> PathBuf {
    let app = PathBuf::from(env!("CARGO_BIN_EXE_trtc-meeting"));
    let path = app.with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --all-targets` first",
        path.display()
    );
    path
}

/// `GET url` (`http://host:port/path`) over a fresh connection: the response's head and body.
pub fn http_get(url: &str) -> (String, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A child process whose stdout lines arrive on a channel.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Proc {
        Self::spawn_keeping_stderr(cmd.stderr(Stdio::inherit()))
    }

    /// Like [`Proc::spawn`], with stderr left as `cmd` has it.
    pub fn spawn_keeping_stderr(cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            lines,
            seen: vec![],
        }
    }

    /// The next stdout line; panics with what came so far if none arrives in time.
    pub fn line(&mut self) -> String {
        match self.lines.recv_timeout(WAIT) {
            Ok(l) => {
                self.seen.push(l.clone());
                l
            }
            Err(_) => panic!("no line within {WAIT:?}; saw {:?}", self.seen),
        }
    }

    /// The next line as JSON, past the periodic onStatistics lines (no sequence a test
    /// checks includes them). Those lines keep coming, so the wait is bounded as a whole.
    pub fn event(&mut self) -> serde_json::Value {
        self.next_event(false)
    }

    /// The next event line; the periodic ones (onStatistics, onNetworkQuality: every 2 s,
    /// whatever else happens) only when `periodic`.
    fn next_event(&mut self, periodic: bool) -> serde_json::Value {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let l = self.line();
            let v: serde_json::Value =
                serde_json::from_str(&l).unwrap_or_else(|e| panic!("not a JSON line: {l:?}: {e}"));
            if periodic || (v["event"] != "onStatistics" && v["event"] != "onNetworkQuality") {
                return v;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "only statistics for {WAIT:?}; saw {:?}",
                self.seen
            );
        }
    }

    /// Reads events until one named `name`, for at most [`WAIT`] in all.
    pub fn until(&mut self, name: &str) -> serde_json::Value {
        let deadline = std::time::Instant::now() + WAIT;
        let periodic = name == "onStatistics" || name == "onNetworkQuality";
        loop {
            let e = self.next_event(periodic);
            if e["event"] == name {
                return e;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {name} within {WAIT:?}; saw {:?}",
                self.seen
            );
        }
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the exit code; the rest of stdout is collected into `seen`.
    pub fn wait(&mut self) -> i32 {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(l);
                }
                return status.code().unwrap_or(-1);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "process did not exit; saw {:?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `room-server` process on a free loopback port.
pub struct RoomServer {
    pub proc: Proc,
    pub url: String,
}

impl RoomServer {
    pub fn start(extra: &[&str]) -> RoomServer {
        let mut cmd = Command::new(bin("room-server"));
        cmd.args(["--listen", "127.0.0.1:0", "--app", &format!("{APP}:{KEY}")])
            .args(extra);
        let mut proc = Proc::spawn(&mut cmd);
        let first = proc.line();
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        RoomServer {
            url: format!("ws://{addr}"),
            proc,
        }
    }
}

/// `room-bot` with the common flags; `extra` adds flags, and replaces the default signing
/// (`--secret`) or room (`--roomid`) when it names its own.
pub fn bot(server: &str, user: &str, room: u32, extra: &[&str]) -> Proc {
    let mut cmd = Command::new(bin("room-bot"));
    cmd.args([
        "--server",
        server,
        "--sdkappid",
        &APP.to_string(),
        "--userid",
        user,
    ]);
    if !extra.iter().any(|a| *a == "--secret" || *a == "--usersig") {
        cmd.args(["--secret", KEY]);
    }
    if !extra.contains(&"--str-roomid") {
        cmd.args(["--roomid", &room.to_string()]);
    }
    Proc::spawn(cmd.args(extra))
}

/// An X display of our own: an Xvfb on a display number it picks itself (`-displayfd`), so
/// parallel tests never race for one. `extra` adds server flags (for example
/// `-extension MIT-SHM`).
pub struct Display {
    child: Child,
    pub number: u32,
}

impl Display {
    pub fn start(screen: &str, extra: &[&str]) -> Display {
        let xvfb = webdriver::find_tool("Xvfb", "run scripts/setup.sh (apt package xvfb)");
        let mut child = Command::new(xvfb)
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                screen,
                "-nolisten",
                "tcp",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let number = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("Xvfb said {line:?}"));
        Display { child, number }
    }

    /// The `DISPLAY` value.
    pub fn name(&self) -> String {
        format!(":{}", self.number)
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// [`bot`] with extra environment (for example its `DISPLAY`).
pub fn bot_env(server: &str, user: &str, room: u32, extra: &[&str], env: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new(bin("room-bot"));
    cmd.args([
        "--server",
        server,
        "--sdkappid",
        &APP.to_string(),
        "--userid",
        user,
    ])
    .args(["--secret", KEY, "--roomid", &room.to_string()])
    .args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proc::spawn(&mut cmd)
}
