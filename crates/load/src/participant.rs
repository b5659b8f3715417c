//! One participant: its signalling connection, a publisher connection replaying the clip (if
//! it publishes) and a subscriber connection that decrypts, reassembles and counts what
//! arrives but never decodes. It speaks the protocol directly (docs/protocol.md), as the SDK
//! does, without the SDK's capture, codecs and playout.

use crate::clip::Clip;
use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use trtc_protocol::rtp::StreamKind;
use trtc_protocol::{
    ClientMessage, EntryParams, MediaState, ServerMessage, TrtcAppScene, TrtcRole, PROTOCOL_VERSION,
};
use trtc_rtc::client::{ConnRole, CountersReader, PeerEvent, Publisher, Subscriber};
use trtc_rtc::LinkState;

/// Who to be and where.
#[derive(Debug, Clone)]
pub struct Plan {
    pub url: String,
    pub app: u32,
    pub secret: String,
    pub room: u32,
    pub user: String,
    pub role: TrtcRole,
    pub scene: TrtcAppScene,
    /// Publish this clip; `None`: receive only.
    pub publish: Option<Arc<Clip>>,
    /// Send the tone; otherwise the microphone is silent (one DTX packet per 400 ms).
    pub talking: bool,
    pub bind_ip: IpAddr,
}

/// What the run reads while the participant runs.
#[derive(Default)]
pub struct Probe {
    /// onEnterRoom: the time from opening the connection to the result, or the error.
    pub entered: OnceLock<Result<Duration, String>>,
    /// What arrives, per remote stream.
    pub counters: OnceLock<CountersReader>,
    /// The publisher connection, for its sent counters.
    pub publisher: OnceLock<Arc<Publisher>>,
    /// Why the participant ended before being told to.
    pub failure: parking_lot::Mutex<Option<String>>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("entered", &self.entered)
            .finish()
    }
}

/// What the run tells every participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Running,
    /// Publishers stop sending, so every counter can settle before the final reading.
    Quiet,
    /// Exit the room and close.
    Leave,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long leaving waits for the room to confirm.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

impl Probe {
    /// The participant ended with `e`; a join that never finished failed with it too.
    pub fn fail(&self, e: &anyhow::Error) {
        let e = format!("{e:#}");
        let _ = self.entered.set(Err(e.clone()));
        *self.failure.lock() = Some(e);
    }
}

/// A participant's media, whichever server it is in: the counting subscriber connection, the
/// publisher connection replaying the clip, and what their events change.
pub(crate) struct Media {
    pub subscriber: Subscriber,
    events: mpsc::UnboundedSender<PeerEvent>,
    keyframe: Arc<AtomicBool>,
    connected: Arc<AtomicBool>,
    pub publisher: Option<Arc<Publisher>>,
}

impl Media {
    /// No connection yet; the connections' events arrive on the returned receiver, for
    /// [`Media::handle`].
    pub fn new(probe: &Probe) -> (Media, mpsc::UnboundedReceiver<PeerEvent>) {
        let (events, rx) = mpsc::unbounded_channel();
        let subscriber = Subscriber::new(Arc::new(|_| {}), events.clone());
        let _ = probe.counters.set(subscriber.counters_reader());
        let media = Media {
            subscriber,
            events,
            keyframe: Arc::new(AtomicBool::new(true)),
            connected: Arc::new(AtomicBool::new(false)),
            publisher: None,
        };
        (media, rx)
    }

    /// If the plan publishes: opens the publisher connection and starts replaying the clip
    /// (which sends once the connection is up); its offer.
    pub async fn publish(
        &mut self,
        plan: &Plan,
        probe: &Probe,
        phase: &watch::Receiver<Phase>,
    ) -> anyhow::Result<Option<String>> {
        let Some(clip) = &plan.publish else {
            return Ok(None);
        };
        let (publisher, offer) =
            Publisher::connect(plan.bind_ip, self.events.clone(), Default::default())
                .await
                .context("opening the publisher connection")?;
        let publisher = Arc::new(publisher);
        let _ = probe.publisher.set(Arc::clone(&publisher));
        self.publisher = Some(Arc::clone(&publisher));
        tokio::spawn(replay(
            publisher,
            Arc::clone(clip),
            plan.talking,
            Arc::clone(&self.keyframe),
            Arc::clone(&self.connected),
            phase.clone(),
        ));
        Ok(Some(offer))
    }

    /// The next picture sent starts a GOP.
    pub fn keyframe_requested(&self) {
        self.keyframe.store(true, Ordering::Relaxed);
    }

    pub fn handle(&self, event: PeerEvent) {
        match event {
            PeerEvent::KeyframeRequested(StreamKind::Big) => self.keyframe_requested(),
            PeerEvent::Link {
                conn,
                role: ConnRole::Publisher,
                state,
            } if self.publisher.as_ref().is_some_and(|p| p.id() == conn) => {
                self.connected
                    .store(state == LinkState::Connected, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    pub async fn close(&mut self) {
        self.subscriber.close().await;
        if let Some(p) = &self.publisher {
            p.close().await;
        }
    }
}

/// Runs until told to leave, or until the server or the network ends the participant.
pub async fn run(plan: Plan, probe: Arc<Probe>, phase: watch::Receiver<Phase>) {
    if let Err(e) = participate(&plan, &probe, phase).await {
        probe.fail(&e);
    }
}

async fn participate(
    plan: &Plan,
    probe: &Probe,
    mut phase: watch::Receiver<Phase>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let (ws, _) =
        tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(&plan.url))
            .await
            .context("connecting timed out")?
            .context("connecting")?;
    let (mut tx, mut rx) = ws.split();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let params = EntryParams {
        sdk_app_id: plan.app,
        user_id: plan.user.clone(),
        user_sig: trtc_usersig::gen_user_sig(
            u64::from(plan.app),
            &plan.secret,
            &plan.user,
            86_400,
            now,
        ),
        room_id: plan.room,
        role: plan.role,
        ..Default::default()
    };
    send(
        &mut tx,
        &ClientMessage::EnterRoom {
            protocol: PROTOCOL_VERSION,
            scene: plan.scene,
            params: Some(params),
        },
    )
    .await?;
    let heartbeat_ms = loop {
        match next(&mut rx).await? {
            ServerMessage::EnterRoomResult {
                code: 0, session, ..
            } => {
                let _ = probe.entered.set(Ok(started.elapsed()));
                break session.map_or(5_000, |s| s.heartbeat_interval_ms);
            }
            ServerMessage::EnterRoomResult { code, message, .. } => {
                anyhow::bail!("enterRoom failed: {code} {message}")
            }
            _ => {}
        }
    };
    let (mut media, mut events) = Media::new(probe);
    if let (Some(offer), Some(clip)) = (media.publish(plan, probe, &phase).await?, &plan.publish) {
        send(&mut tx, &ClientMessage::PublishOffer { sdp: offer }).await?;
        let state = MediaState {
            audio: !clip.audio.is_empty(),
            video: !clip.video.is_empty(),
            sub: false,
        };
        send(&mut tx, &ClientMessage::MediaState(state)).await?;
    }
    let mut heartbeat = tokio::time::interval(Duration::from_millis(heartbeat_ms.max(100)));
    loop {
        tokio::select! {
            message = next(&mut rx) => match message? {
                ServerMessage::PublishAnswer { sdp } => {
                    if let Some(p) = &media.publisher {
                        p.apply_answer(sdp).await.context("applying the publish answer")?;
                    }
                }
                ServerMessage::SubscribeOffer { sdp } => {
                    let answer = media
                        .subscriber
                        .handle_offer(plan.bind_ip, sdp)
                        .await
                        .context("answering the subscribe offer")?;
                    send(&mut tx, &ClientMessage::SubscribeAnswer { sdp: answer }).await?;
                }
                ServerMessage::KeyframeRequest { .. } => media.keyframe_requested(),
                ServerMessage::ExitRoom { reason } => anyhow::bail!("removed from the room ({reason})"),
                _ => {}
            },
            _ = heartbeat.tick() => send(&mut tx, &ClientMessage::Heartbeat).await?,
            Some(event) = events.recv() => media.handle(event),
            changed = phase.changed() => {
                if changed.is_err() || *phase.borrow() == Phase::Leave {
                    // As the SDK does: wait for the room's exitRoom before closing. Closing at
                    // once can reset the connection before the server has read the request,
                    // which then never happened, and the member stays until the drop timeout.
                    if send(&mut tx, &ClientMessage::ExitRoom).await.is_ok() {
                        let exited = async {
                            while let Ok(m) = next(&mut rx).await {
                                if matches!(m, ServerMessage::ExitRoom { .. }) {
                                    break;
                                }
                            }
                        };
                        let _ = tokio::time::timeout(EXIT_TIMEOUT, exited).await;
                    }
                    let _ = tx.close().await;
                    media.close().await;
                    return Ok(());
                }
            }
        }
    }
}

/// Sends the clip in real time while the publisher connection is up, until the run goes quiet.
pub(crate) async fn replay(
    publisher: Arc<Publisher>,
    clip: Arc<Clip>,
    talking: bool,
    keyframe: Arc<AtomicBool>,
    connected: Arc<AtomicBool>,
    phase: watch::Receiver<Phase>,
) {
    let mut video_tick = tokio::time::interval(Duration::from_secs(1) / clip.fps.max(1));
    let mut audio_tick = tokio::time::interval(if talking {
        Duration::from_millis(20)
    } else {
        crate::clip::SILENT_INTERVAL
    });
    let (mut v, mut a) = (0usize, 0usize);
    while *phase.borrow() == Phase::Running {
        tokio::select! {
            _ = video_tick.tick(), if !clip.video.is_empty() => {
                if keyframe.swap(false, Ordering::Relaxed) {
                    v = 0;
                }
                if connected.load(Ordering::Relaxed) {
                    let unit = clip.video[v % clip.video.len()].clone();
                    publisher.send(StreamKind::Big, unit, unix_us()).await;
                    v += 1;
                }
            }
            _ = audio_tick.tick(), if !clip.audio.is_empty() => {
                if connected.load(Ordering::Relaxed) {
                    let packet = if talking {
                        clip.audio[a % clip.audio.len()].clone()
                    } else {
                        clip.silence.clone()
                    };
                    publisher.send(StreamKind::Audio, packet, unix_us()).await;
                    a += 1;
                }
            }
        }
    }
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

type Tx = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;
type Rx = futures_util::stream::SplitStream<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
>;

async fn send(tx: &mut Tx, message: &ClientMessage) -> anyhow::Result<()> {
    let text = serde_json::to_string(message)?;
    tx.send(Message::Text(text.into()))
        .await
        .context("signalling connection lost")
}

/// The next server message; a close or a lost connection is an error.
async fn next(rx: &mut Rx) -> anyhow::Result<ServerMessage> {
    loop {
        match rx.next().await {
            Some(Ok(Message::Text(text))) => {
                if let Ok(m) = serde_json::from_str(&text) {
                    return Ok(m);
                }
            }
            Some(Ok(Message::Close(frame))) => {
                anyhow::bail!(
                    "the server closed the connection ({})",
                    frame.map_or("no code".into(), |f| format!("{} {}", f.code, f.reason))
                )
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => anyhow::bail!("signalling connection lost: {e}"),
            None => anyhow::bail!("signalling connection closed"),
        }
    }
}
