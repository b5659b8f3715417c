//! A room-server whose log is kept, and a blocking WebSocket client that speaks the protocol
//! by hand: what a hostile or broken client does, without the SDK's good manners.

use super::{bin, now, Proc, APP, KEY};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

/// A `room-server` process with its stderr in a file.
pub struct Logged {
    pub proc: Proc,
    pub url: String,
    pub addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Logged {
    pub fn start(extra: &[&str], env: &[(&str, &str)]) -> Logged {
        Self::spawn(None, extra, env)
    }

    /// Runs with at most `nofile` open file descriptors.
    pub fn start_with_nofile(nofile: u32, extra: &[&str]) -> Logged {
        Self::spawn(Some(nofile), extra, &[])
    }

    fn spawn(nofile: Option<u32>, extra: &[&str], env: &[(&str, &str)]) -> Logged {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\"")])
                    .arg(bin("room-server"));
                c
            }
            None => Command::new(bin("room-server")),
        };
        cmd.args(["--listen", "127.0.0.1:0", "--app", &format!("{APP}:{KEY}")])
            .args(extra)
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        if !env.iter().any(|(k, _)| *k == "RUST_LOG") {
            cmd.env("RUST_LOG", "info");
        }
        // Proc::spawn would inherit stderr; this one keeps it.
        let mut proc = Proc::spawn_keeping_stderr(&mut cmd);
        let first = proc.line();
        let addr: SocketAddr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .parse()
            .unwrap();
        Logged {
            proc,
            url: format!("ws://{addr}"),
            addr,
            log,
            _dir: dir,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_lines(&self) -> usize {
        self.log().lines().count()
    }

    pub fn log_matching(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    pub fn wait_for_log(&self, needle: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    pub fn signal(&self, sig: &str) {
        self.proc.signal(sig);
    }

    pub fn wait(&mut self) -> i32 {
        self.proc.wait()
    }
}

/// What a read brought.
#[derive(Debug)]
pub enum Got {
    Message(serde_json::Value),
    /// The server closed: its close code, if it sent a close frame.
    Closed(Option<u16>),
    Nothing,
}

/// A blocking WebSocket client.
pub struct Ws {
    ws: WebSocket<TcpStream>,
}

pub fn params(user: &str, room: u32) -> serde_json::Value {
    let sig = trtc_usersig::gen_user_sig(u64::from(APP), KEY, user, 86_400, now());
    serde_json::json!({"sdkAppId": APP, "userId": user, "userSig": sig, "roomId": room})
}

impl Ws {
    pub fn connect(url: &str) -> Ws {
        Self::try_connect(url).unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
    }

    /// Connects, trying again until `within` has passed (the server may be refusing).
    pub fn connect_retrying(url: &str, within: Duration) -> Ws {
        let deadline = Instant::now() + within;
        loop {
            match Self::try_connect(url) {
                Ok(ws) => return ws,
                Err(e) if Instant::now() > deadline => panic!("connecting to {url}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn try_connect(url: &str) -> Result<Ws, String> {
        let addr = url.trim_start_matches("ws://");
        let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let (ws, _) = tungstenite::client::client(url, tcp).map_err(|e| e.to_string())?;
        Ok(Ws { ws })
    }

    pub fn send(&mut self, msg: serde_json::Value) {
        self.send_text(msg.to_string());
    }

    pub fn send_text(&mut self, text: String) {
        let _ = self.ws.send(Message::text(text));
    }

    /// A text frame whose payload is not UTF-8 (a library would refuse to build one).
    pub fn send_invalid_utf8(&mut self, bytes: &[u8]) {
        let frame = Frame::message(bytes.to_vec(), OpCode::Data(Data::Text), true);
        let _ = self.ws.send(Message::Frame(frame));
    }

    pub fn recv_within(&mut self, within: Duration) -> Got {
        let _ = self.ws.get_mut().set_read_timeout(Some(within));
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    return Got::Message(serde_json::from_str(t.as_str()).unwrap())
                }
                Ok(Message::Close(frame)) => return Got::Closed(frame.map(|f| u16::from(f.code))),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Got::Nothing
                }
                Err(_) => return Got::Closed(None),
            }
        }
    }

    /// The next message; panics if the server closes or says nothing for 10 s.
    pub fn recv(&mut self) -> serde_json::Value {
        match self.recv_within(Duration::from_secs(10)) {
            Got::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The next message that is not one the server sends unasked (media states, offers).
    pub fn request(&mut self, msg: serde_json::Value) -> serde_json::Value {
        self.send(msg);
        loop {
            let m = self.recv();
            if !matches!(
                m["type"].as_str(),
                Some(
                    "remoteMediaState"
                        | "subscribeOffer"
                        | "remoteUserEnterRoom"
                        | "remoteUserLeaveRoom"
                )
            ) {
                return m;
            }
        }
    }

    /// Enters `room` as `user` in the video-call scene; the reply's code.
    pub fn enter(&mut self, user: &str, room: u32) -> i64 {
        let reply = self.request(serde_json::json!({
            "type": "enterRoom", "protocol": 1, "scene": 0, "params": params(user, room)
        }));
        assert_eq!(reply["type"], "enterRoomResult", "{reply}");
        reply["code"].as_i64().unwrap()
    }

    /// Waits for a message of `kind`, skipping others.
    pub fn wait_for(&mut self, kind: &str, within: Duration) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {kind} within {within:?}");
            match self.recv_within(left) {
                Got::Message(m) if m["type"] == kind => return m,
                Got::Message(_) | Got::Nothing => {}
                Got::Closed(code) => panic!("closed ({code:?}) while waiting for {kind}"),
            }
        }
    }

    /// Reads until the server closes; its close code.
    pub fn closed(&mut self) -> Option<u16> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(
                Instant::now() < deadline,
                "the server did not close within 10 s"
            );
            match self.recv_within(Duration::from_secs(1)) {
                Got::Closed(code) => return code,
                Got::Message(_) | Got::Nothing => {}
            }
        }
    }
}
