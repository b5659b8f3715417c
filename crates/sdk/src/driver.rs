//! The async shell around [`Session`]: owns the WebSocket, turns frames and timers into inputs,
//! carries out outputs. One task per TrtcCloud; it never blocks and never calls app code (events
//! go to the dispatcher task, see `cloud.rs`).

use crate::media::core::Input as MediaInput;
use crate::media::{MediaHandle, RoomChange as MediaChange};
use crate::session::{Input, Output, RoomChange, Session, SessionTiming};
use futures_util::{SinkExt, StreamExt};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tracing::{debug, warn};
use trtc_protocol::{ClientMessage, EntryParams, ServerMessage, TrtcAppScene, TrtcEvent, TrtcRole};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Connecting = Pin<Box<dyn Future<Output = Result<Ws, String>> + Send>>;

/// How long one connection attempt (TCP, TLS, WebSocket handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Server frames larger than this are a protocol violation; the connection is dropped.
const MAX_SERVER_MESSAGE: usize = 1 << 20;

/// What the facade asks of the driver.
#[derive(Debug)]
pub(crate) enum Command {
    SetServer(String),
    EnterRoom(EntryParams, TrtcAppScene),
    ExitRoom,
    SwitchRole(TrtcRole),
}

pub(crate) struct Driver {
    session: Session,
    url: String,
    tls: Arc<rustls::ClientConfig>,
    events: mpsc::UnboundedSender<TrtcEvent>,
    ws: Option<Ws>,
    connecting: Option<Connecting>,
    media: MediaHandle,
    heartbeat_sent: Option<Instant>,
}

impl Driver {
    pub(crate) fn new(
        url: String,
        timing: SessionTiming,
        tls: Arc<rustls::ClientConfig>,
        events: mpsc::UnboundedSender<TrtcEvent>,
        media: MediaHandle,
    ) -> Self {
        Driver {
            session: Session::new(timing, Instant::now().into_std()),
            url,
            tls,
            events,
            ws: None,
            connecting: None,
            media,
            heartbeat_sent: None,
        }
    }

    /// Runs until every TrtcCloud handle is gone, then leaves the room if still in one.
    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut media_out: mpsc::UnboundedReceiver<ClientMessage>,
    ) {
        loop {
            self.flush().await;
            let deadline = self.session.poll_timeout().map(Instant::from_std);
            let input = tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::SetServer(url)) => { self.url = url; continue; }
                    Some(Command::EnterRoom(p, s)) => Input::EnterRoom(p, s),
                    Some(Command::ExitRoom) => Input::ExitRoom,
                    Some(Command::SwitchRole(r)) => Input::SwitchRole(r),
                    None => break,
                },
                result = poll_connecting(&mut self.connecting) => {
                    self.connecting = None;
                    match result {
                        Ok(ws) => { self.ws = Some(ws); Input::Connected }
                        Err(e) => { debug!(error = %e, url = %self.url, "connect failed"); Input::ConnectFailed }
                    }
                }
                Some(msg) = media_out.recv() => {
                    // Media signalling only makes sense inside the session it belongs to.
                    if self.session.in_room() {
                        self.send(&msg).await;
                    }
                    continue;
                }
                frame = next_frame(&mut self.ws) => match frame {
                    Frame::Message(msg) => match self.route(msg) {
                        Some(msg) => Input::Message(msg),
                        None => continue,
                    },
                    Frame::Closed(Some(code)) => { self.ws = None; Input::ClosedByServer(code) }
                    Frame::Closed(None) => { self.ws = None; Input::Disconnected }
                },
                _ = sleep_until(deadline) => {
                    self.session.handle_timeout(Instant::now().into_std());
                    continue;
                }
            };
            self.session.handle_input(input, Instant::now().into_std());
        }
        // The app dropped its last handle: leave politely so others see a normal leave.
        if self.session.in_room() {
            self.session
                .handle_input(Input::ExitRoom, Instant::now().into_std());
            self.flush().await;
            let _ = tokio::time::timeout(Duration::from_secs(1), next_frame(&mut self.ws)).await;
        }
    }

    async fn flush(&mut self) {
        while let Some(out) = self.session.poll_output() {
            match out {
                Output::Connect => {
                    self.connecting =
                        Some(Box::pin(connect(self.url.clone(), Arc::clone(&self.tls))))
                }
                Output::Disconnect => {
                    self.connecting = None;
                    if let Some(mut ws) = self.ws.take() {
                        let _ = ws.close(None).await;
                    }
                }
                Output::Send(msg) => {
                    if matches!(msg, ClientMessage::Heartbeat) {
                        self.heartbeat_sent = Some(Instant::now());
                    }
                    self.send(&msg).await
                }
                Output::Event(e) => {
                    if let TrtcEvent::RemoteUserLeaveRoom { user_id, .. } = &e {
                        self.media.send(MediaInput::MemberLeft(user_id.clone()));
                    }
                    let _ = self.events.send(e);
                }
                Output::Room(change) => self.tell_media(change).await,
            }
        }
    }

    /// Media follows the session. A new room binds media towards the server; leaving waits
    /// (briefly) for media to be released, so its events (onScreenCaptureStopped) come before
    /// onExitRoom and everything is closed when the app hears it.
    async fn tell_media(&mut self, change: RoomChange) {
        let bind_ip = || async { trtc_rtc::client::local_ip_towards(resolve(&self.url).await) };
        let change = match change {
            RoomChange::Entered => MediaChange::Entered {
                bind_ip: bind_ip().await,
            },
            RoomChange::Reentered => MediaChange::Reentered {
                bind_ip: bind_ip().await,
            },
            RoomChange::Resumed => MediaChange::Resumed,
            RoomChange::RoleChanged => MediaChange::RoleChanged,
            RoomChange::Left => {
                let (done, released) = tokio::sync::oneshot::channel();
                self.media
                    .send(MediaInput::Room(MediaChange::Left { done: Some(done) }));
                let _ = tokio::time::timeout(Duration::from_secs(3), released).await;
                return;
            }
        };
        self.media.send(MediaInput::Room(change));
    }

    /// Media messages go to the media core; the rest to the session.
    fn route(&mut self, msg: ServerMessage) -> Option<ServerMessage> {
        match msg {
            ServerMessage::MediaStateResult { .. }
            | ServerMessage::RemoteMediaState { .. }
            | ServerMessage::PublishAnswer { .. }
            | ServerMessage::KeyframeRequest { .. }
            | ServerMessage::SubscribeOffer { .. } => {
                self.media.send(MediaInput::Server(msg));
                None
            }
            ServerMessage::HeartbeatAck => {
                if let Some(sent) = self.heartbeat_sent.take() {
                    let rtt = sent.elapsed().as_millis().min(u128::from(u32::MAX)) as u32;
                    self.media.send(MediaInput::Rtt(rtt));
                }
                Some(msg)
            }
            msg => Some(msg),
        }
    }

    async fn send(&mut self, msg: &ClientMessage) {
        let Some(ws) = self.ws.as_mut() else { return };
        let text = serde_json::to_string(msg).expect("client messages serialise");
        if let Err(e) = ws.send(Message::text(text)).await {
            debug!(error = %e, "send failed");
            self.ws = None;
            self.session
                .handle_input(Input::Disconnected, Instant::now().into_std());
        }
    }
}

async fn poll_connecting(c: &mut Option<Connecting>) -> Result<Ws, String> {
    match c {
        Some(fut) => fut.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// What the connection delivered.
enum Frame {
    Message(ServerMessage),
    /// The connection is gone: with the server's close code if it sent one.
    Closed(Option<u16>),
}

/// The next server message, or the connection's end. Frames that are not valid server
/// messages are logged and skipped: a newer server may send what this SDK doesn't know.
async fn next_frame(ws: &mut Option<Ws>) -> Frame {
    let Some(stream) = ws.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => match serde_json::from_str(text.as_str()) {
                Ok(msg) => return Frame::Message(msg),
                Err(e) => warn!(error = %e, "ignoring an unknown server message"),
            },
            Some(Ok(Message::Close(frame))) => {
                if let Some(f) = &frame {
                    debug!(code = u16::from(f.code), reason = %f.reason, "the server closed the connection");
                }
                return Frame::Closed(frame.map(|f| u16::from(f.code)));
            }
            Some(Err(_)) | None => return Frame::Closed(None),
            Some(Ok(_)) => {}
        }
    }
}

/// The signalling server's address (media binds on the interface that reaches it).
async fn resolve(url: &str) -> std::net::IpAddr {
    let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
    let Some(rest) = url.split("://").nth(1) else {
        return loopback;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_owned()
    } else {
        format!("{authority}:443")
    };
    match tokio::net::lookup_host(with_port).await {
        Ok(mut addrs) => addrs.next().map_or(loopback, |a| a.ip()),
        Err(_) => loopback,
    }
}

async fn connect(url: String, tls: Arc<rustls::ClientConfig>) -> Result<Ws, String> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_SERVER_MESSAGE))
        .max_frame_size(Some(MAX_SERVER_MESSAGE));
    let attempt = tokio_tungstenite::connect_async_tls_with_config(
        url.as_str(),
        Some(config),
        true,
        Some(Connector::Rustls(tls)),
    );
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok((ws, _response))) => Ok(ws),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("connection attempt timed out".into()),
    }
}
