//! Shared rig for the SDK ⇄ room-server tests: a real server on 127.0.0.1:0, real SDK clients
//! over loopback WebSocket, a raw protocol client, a TCP proxy that can cut connections, and
//! a UDP relay that impairs media (`relay`).
#![allow(dead_code)]
// each test file uses a different part of the rig
// Test support: a panic here is a failed test, with the message unwrap gives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use trtc_sdk::{
    EventStream, SessionTiming, TrtcAppScene, TrtcCloud, TrtcCloudConfig, TrtcEvent, TrtcParams,
    TrtcRole,
};
use trtc_server::{RunningServer, ServerConfig};

pub mod pulse;
pub mod relay;

pub const APP: u32 = 1_400_000_000;
pub const KEY: &str = "integration-test-secret";
/// Long enough for a loaded 2-core machine; events normally arrive in milliseconds.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn sig(user: &str) -> String {
    trtc_usersig::gen_user_sig(APP.into(), KEY, user, 3600, now())
}

/// onStatistics and onNetworkQuality: every 2 s, whatever else happens.
pub fn periodic(e: &TrtcEvent) -> bool {
    matches!(
        e,
        TrtcEvent::Statistics(_) | TrtcEvent::NetworkQuality { .. }
    )
}

pub fn config() -> ServerConfig {
    ServerConfig::default().with_app(APP, KEY)
}

pub async fn server() -> RunningServer {
    trtc_server::spawn(config()).await.unwrap()
}

pub fn params(user: &str, room: u32) -> TrtcParams {
    TrtcParams {
        sdk_app_id: APP,
        user_id: user.into(),
        user_sig: sig(user),
        room_id: room,
        ..Default::default()
    }
}

pub fn str_params(user: &str, room: &str) -> TrtcParams {
    TrtcParams {
        str_room_id: room.into(),
        room_id: 0,
        ..params(user, 0)
    }
}

/// One SDK instance and its event stream.
pub struct Client {
    pub cloud: TrtcCloud,
    pub events: EventStream,
    pub user: String,
    /// Whether wait_for and collect see onStatistics.
    pub wants_statistics: bool,
}

impl Client {
    pub fn new(url: &str, user: &str) -> Client {
        Self::with_timing(url, user, fast_timing())
    }

    pub fn with_timing(url: &str, user: &str, timing: SessionTiming) -> Client {
        let cloud = TrtcCloud::new(TrtcCloudConfig {
            server_url: url.into(),
            timing,
            extra_root_certs: vec![],
            // The test machine has no sound card; playout has its own test.
            speaker: trtc_sdk::SourceChoice::None,
            ..TrtcCloudConfig::default()
        });
        let events = cloud.events();
        Client {
            cloud,
            events,
            user: user.into(),
            wants_statistics: false,
        }
    }

    /// Enters and returns onEnterRoom's result.
    pub async fn enter_with(&mut self, params: &TrtcParams, scene: TrtcAppScene) -> i64 {
        self.cloud.enter_room(params, scene);
        match self
            .wait_for(|e| matches!(e, TrtcEvent::EnterRoom { .. }))
            .await
        {
            TrtcEvent::EnterRoom { result } => result,
            _ => unreachable!(),
        }
    }

    pub async fn enter(&mut self, room: u32, scene: TrtcAppScene) -> i64 {
        let p = params(&self.user, room);
        self.enter_with(&p, scene).await
    }

    pub async fn enter_live(&mut self, room: u32, role: TrtcRole) -> i64 {
        let p = TrtcParams {
            role,
            ..params(&self.user, room)
        };
        self.enter_with(&p, TrtcAppScene::Live).await
    }

    /// Waits for the first event matching `pred`, returning it; panics with what came instead.
    pub async fn wait_for(&mut self, pred: impl Fn(&TrtcEvent) -> bool) -> TrtcEvent {
        let mut seen = vec![];
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                // The periodic reports are not part of any sequence a test waits for.
                Ok(Some(e)) if periodic(&e) && !self.wants_statistics => {}
                Ok(Some(e)) if pred(&e) => return e,
                Ok(Some(e)) => seen.push(e),
                Ok(None) => panic!("{}: event stream ended; saw {seen:?}", self.user),
                Err(_) => panic!("{}: timed out; saw {seen:?}", self.user),
            }
        }
    }

    /// Everything that arrives within `d`.
    pub async fn collect(&mut self, d: Duration) -> Vec<TrtcEvent> {
        let mut seen = vec![];
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(Some(e)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            if self.wants_statistics || !periodic(&e) {
                seen.push(e);
            }
        }
        seen
    }

    pub async fn exit(&mut self) -> i32 {
        self.cloud.exit_room();
        match self
            .wait_for(|e| matches!(e, TrtcEvent::ExitRoom { .. }))
            .await
        {
            TrtcEvent::ExitRoom { reason } => reason,
            _ => unreachable!(),
        }
    }
}

/// Reconnection fast enough for tests; the defaults are for people.
pub fn fast_timing() -> SessionTiming {
    SessionTiming {
        enter_timeout: Duration::from_secs(5),
        exit_timeout: Duration::from_secs(2),
        reconnect_timeout: Duration::from_secs(20),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
    }
}

pub fn entered(user: &str) -> TrtcEvent {
    TrtcEvent::RemoteUserEnterRoom {
        user_id: user.into(),
    }
}

pub fn left(user: &str, reason: i32) -> TrtcEvent {
    TrtcEvent::RemoteUserLeaveRoom {
        user_id: user.into(),
        reason,
    }
}

/// A raw signalling client: speaks the JSON protocol by hand, as another implementation would.
pub struct Raw {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
}

impl Raw {
    pub async fn connect(url: &str) -> Raw {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Raw { ws }
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws.send(Message::text(text.into())).await.unwrap();
    }

    pub async fn send(&mut self, v: serde_json::Value) {
        self.send_text(v.to_string()).await;
    }

    /// The next JSON message; `None` if the connection closed.
    pub async fn recv(&mut self) -> Option<serde_json::Value> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("raw client timed out")?
            {
                Ok(Message::Text(t)) => return Some(serde_json::from_str(t.as_str()).unwrap()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    pub async fn request(&mut self, v: serde_json::Value) -> serde_json::Value {
        self.send(v).await;
        self.recv()
            .await
            .expect("connection closed instead of answering")
    }

    /// Sends enterRoom and returns the result's code.
    pub async fn enter(&mut self, scene: u8, params: serde_json::Value) -> i64 {
        let reply = self.request(serde_json::json!({"type": "enterRoom", "protocol": 1, "scene": scene, "params": params})).await;
        assert_eq!(reply["type"], "enterRoomResult", "{reply}");
        reply["code"].as_i64().unwrap()
    }
}

pub fn raw_params(user: &str, room: u32) -> serde_json::Value {
    serde_json::json!({"sdkAppId": APP, "userId": user, "userSig": sig(user), "roomId": room})
}

/// A TCP proxy in front of the server: `cut()` breaks every open connection at once, as a
/// network loss would, while new connections keep working.
pub struct Proxy {
    pub url: String,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
    /// While set, new connections are closed at once: the network is down.
    blocked: Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let blocked: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let list = Arc::clone(&conns);
        let down = Arc::clone(&blocked);
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if down.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                list.lock().unwrap().push(task);
            }
        });
        Proxy {
            url,
            conns,
            accept,
            blocked,
        }
    }

    /// Takes the network down (`true`: every connection cut, new ones refused) or back up.
    pub fn set_down(&self, down: bool) {
        self.blocked
            .store(down, std::sync::atomic::Ordering::SeqCst);
        if down {
            self.cut();
        }
    }

    /// Drops every proxied connection: both ends see the socket close without a WebSocket close.
    pub fn cut(&self) {
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

impl Raw {
    pub async fn request_text(&mut self, text: &str) -> serde_json::Value {
        self.send_text(text).await;
        self.recv()
            .await
            .expect("connection closed instead of answering")
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::binary(bytes)).await.unwrap();
    }
}

/// A plain HTTP GET, for `/healthz`.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// A client with chosen media sources.
pub fn media_client(
    url: &str,
    user: &str,
    camera: trtc_sdk::SourceChoice,
    mic: trtc_sdk::SourceChoice,
    speaker: trtc_sdk::SourceChoice,
) -> Client {
    let cloud = TrtcCloud::new(TrtcCloudConfig {
        speaker,
        ..TrtcCloudConfig {
            timing: fast_timing(),
            ..TrtcCloudConfig::default()
        }
        .with_server_url(url)
        .with_sources(camera, mic)
    });
    Client {
        events: cloud.events(),
        cloud,
        user: user.into(),
        wants_statistics: false,
    }
}
