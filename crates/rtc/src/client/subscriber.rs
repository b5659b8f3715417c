//! The subscriber connection: the server offers everyone else's tracks; each track's packets are
//! reassembled into access units here and handed on with their RTP timestamp (the sender's
//! capture clock).
//!
//! The server rebuilds its side when the connection fails or after a restart; its offer then
//! carries a new ICE ufrag, and this side starts a new connection for it instead of trying to
//! renegotiate the dead one.

use super::assembler::Assembler;
use super::{ConnRole, PeerEvent};
use crate::setup::{
    answer_offer, gathering, ice_ufrag, media_engine, next_conn_id, peer_connection, AnswerAs, Ice,
    LinkReporter, TransportError,
};
use rtc::interceptor::Registry;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use trtc_protocol::rtp::{StreamKind, AUDIO_CLOCK_RATE, VIDEO_CLOCK_RATE};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
};

/// One reassembled access unit (video) or packet (audio) from a remote user.
#[derive(Debug)]
pub struct RemoteFrame {
    /// Whose (shared by every frame of the stream: no allocation per frame).
    pub user_id: Arc<str>,
    /// Which of their streams.
    pub kind: StreamKind,
    /// An Annex B access unit, or an Opus packet.
    pub data: Vec<u8>,
    /// The sender's capture time in the stream's RTP clock.
    pub rtp_timestamp: u32,
    /// Video: an IDR picture (with its parameter sets).
    pub keyframe: bool,
    /// How long it waited for its packets since the first one arrived (reordering, NACK).
    pub held: Duration,
    /// Video: an access unit before this one was lost, so unless this is a keyframe its
    /// references may be missing and it would decode into a corrupted picture.
    pub after_loss: bool,
}

/// Receive counters of one remote stream, monotonic for the life of the [`Subscriber`].
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ReceiveCounters {
    /// RTP bytes (payload and fixed header).
    pub bytes: u64,
    /// RTP packets received.
    pub packets: u64,
    /// Packets given up as lost.
    pub lost: u64,
    /// Interarrival jitter (RFC 3550 §6.4.1), ms.
    pub jitter_ms: f64,
    /// Units delivered, and the sum of their waits ([`RemoteFrame::held`]), µs.
    pub units: u64,
    /// See `units`.
    pub held_us: u64,
}

type Deliver = Arc<dyn Fn(RemoteFrame) + Send + Sync>;
type Key = (String, StreamKind);

/// One stream's counters: its track's task updates them on every packet, readers copy them.
type Counters = Arc<parking_lot::Mutex<ReceiveCounters>>;

#[derive(Default)]
struct Shared {
    tracks: HashMap<Key, (Arc<dyn TrackRemote>, u32)>,
    /// Kept across renegotiations and new connections, so each stream's counts only grow.
    counters: HashMap<Key, Counters>,
}

struct Handler {
    link: LinkReporter,
    shared: Arc<parking_lot::Mutex<Shared>>,
    deliver: Deliver,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.link.gathering(state);
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.link.state(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let user_id = track.stream_id().await;
        let (id, ssrcs) = (track.track_id().await, track.ssrcs().await);
        tracing::debug!(user = %user_id, %id, ?ssrcs, "on_track");
        // Our server names tracks by stream kind; another SFU (Janus, for the capacity
        // comparison) names them by mid, and then the media kind says which: audio, or the
        // one camera stream it was asked for.
        let kind = match StreamKind::from_track_id(&id) {
            Some(kind) => kind,
            None => match track.kind().await {
                rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Audio => StreamKind::Audio,
                rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Video => StreamKind::Big,
                _ => return,
            },
        };
        let Some(ssrc) = ssrcs.first().copied() else {
            return;
        };
        let key = (user_id.clone(), kind);
        // Found once per track, so a packet touches only its own stream's counters.
        let counters = {
            let mut shared = self.shared.lock();
            shared
                .tracks
                .insert(key.clone(), (Arc::clone(&track), ssrc));
            Arc::clone(shared.counters.entry(key.clone()).or_default())
        };
        let shared = Arc::clone(&self.shared);
        let deliver = Arc::clone(&self.deliver);
        tokio::spawn(async move {
            let mut assembler = Assembler::new(user_id.into(), kind);
            let mut jitter = Jitter::new(kind);
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(packet) => {
                        let now = Instant::now();
                        let delivered = std::cell::Cell::new((0u64, 0u64));
                        let counted = |f: RemoteFrame| {
                            let (n, us) = delivered.get();
                            delivered.set((n + 1, us + f.held.as_micros() as u64));
                            deliver(f);
                        };
                        let lost = assembler.push(&packet, now, &counted);
                        let (units, held_us) = delivered.get();
                        jitter.update(now, packet.header.timestamp);
                        assembler.set_audio_wait(jitter.ms());
                        let mut c = counters.lock();
                        c.bytes += packet.payload.len() as u64 + 12;
                        c.packets += 1;
                        c.lost += lost;
                        c.jitter_ms = jitter.ms();
                        c.units += units;
                        c.held_us += held_us;
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
            let mut s = shared.lock();
            if s.tracks
                .get(&key)
                .is_some_and(|(t, _)| Arc::ptr_eq(t, &track))
            {
                s.tracks.remove(&key);
            }
        });
    }
}

/// RFC 3550's interarrival jitter of one stream.
struct Jitter {
    clock_rate: f64,
    last: Option<(Instant, u32)>,
    /// In RTP clock units.
    value: f64,
}

impl Jitter {
    fn new(kind: StreamKind) -> Self {
        let rate = if kind.is_video() {
            VIDEO_CLOCK_RATE
        } else {
            AUDIO_CLOCK_RATE
        };
        Jitter {
            clock_rate: f64::from(rate),
            last: None,
            value: 0.0,
        }
    }

    fn update(&mut self, now: Instant, timestamp: u32) {
        if let Some((at, ts)) = self.last {
            let arrival = now.duration_since(at).as_secs_f64() * self.clock_rate;
            let sent = f64::from(timestamp.wrapping_sub(ts) as i32);
            self.value += ((arrival - sent).abs() - self.value) / 16.0;
        }
        self.last = Some((now, timestamp));
    }

    fn ms(&self) -> f64 {
        self.value * 1000.0 / self.clock_rate
    }
}

struct Conn {
    id: u64,
    bind_ip: IpAddr,
    pc: Arc<dyn PeerConnection>,
    gathered: watch::Receiver<bool>,
    /// The server side's ICE ufrag: an offer with another one is a new connection.
    remote_ufrag: Option<String>,
}

/// Reads a [`Subscriber`]'s counters from anywhere, while it negotiates.
#[derive(Clone)]
pub struct CountersReader(Arc<parking_lot::Mutex<Shared>>);

impl std::fmt::Debug for CountersReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountersReader").finish_non_exhaustive()
    }
}

impl CountersReader {
    /// Counters of every remote stream so far.
    pub fn read(&self) -> HashMap<(String, StreamKind), ReceiveCounters> {
        let shared = self.0.lock();
        shared
            .counters
            .iter()
            .map(|(k, c)| (k.clone(), *c.lock()))
            .collect()
    }
}

/// The subscriber connection (created by the server's first offer, replaced when the server
/// offers a new one).
pub struct Subscriber {
    conn: Option<Conn>,
    shared: Arc<parking_lot::Mutex<Shared>>,
    deliver: Deliver,
    events: mpsc::UnboundedSender<PeerEvent>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl Subscriber {
    /// A subscriber with no connection yet; every access unit received goes to `deliver`
    /// (called on the track's task: it must not block), state changes to `events`.
    pub fn new(
        deliver: Arc<dyn Fn(RemoteFrame) + Send + Sync>,
        events: mpsc::UnboundedSender<PeerEvent>,
    ) -> Self {
        Subscriber {
            conn: None,
            shared: Arc::default(),
            deliver,
            events,
        }
    }

    /// The current connection's id, as its [`PeerEvent`]s carry it.
    pub fn id(&self) -> Option<u64> {
        self.conn.as_ref().map(|c| c.id)
    }

    /// Reads the counters without waiting for a negotiation to finish.
    pub fn counters_reader(&self) -> CountersReader {
        CountersReader(Arc::clone(&self.shared))
    }

    /// Answers the server's offer: the first one, and one from a new server-side connection,
    /// create a connection bound to `bind_ip`; later ones renegotiate it as publishers come
    /// and go.
    pub async fn handle_offer(
        &mut self,
        bind_ip: IpAddr,
        sdp: String,
    ) -> Result<String, TransportError> {
        let ufrag = ice_ufrag(&sdp).map(str::to_owned);
        let fresh = self.conn.as_ref().is_some_and(|c| {
            (c.remote_ufrag.is_some() && c.remote_ufrag != ufrag) || c.bind_ip != bind_ip
        });
        if fresh {
            tracing::debug!("the server offers a new subscriber connection");
            self.close_connection().await;
        }
        if self.conn.is_none() {
            let id = next_conn_id();
            let mut engine = media_engine()?;
            let registry = crate::setup::interceptors(
                Registry::new(),
                &mut engine,
                crate::setup::Flow::Receives,
            )?;
            let (gathered_tx, gathered) = gathering();
            let handler = Arc::new(Handler {
                link: LinkReporter {
                    conn: id,
                    role: ConnRole::Subscriber,
                    gathered: gathered_tx,
                    events: self.events.clone(),
                },
                shared: Arc::clone(&self.shared),
                deliver: Arc::clone(&self.deliver),
            });
            let addr = SocketAddr::new(bind_ip, 0);
            let pc = peer_connection(
                addr,
                registry,
                engine,
                handler,
                AnswerAs::DtlsServer,
                Ice::Full,
            )
            .await?;
            self.conn = Some(Conn {
                id,
                bind_ip,
                pc,
                gathered,
                remote_ufrag: None,
            });
        }
        let conn = self.conn.as_mut().ok_or("no subscriber connection")?;
        let answer = answer_offer(&conn.pc, &mut conn.gathered, sdp).await?;
        conn.remote_ufrag = ufrag;
        Ok(answer)
    }

    /// Asks the sender of a remote video stream for a keyframe (RTCP PLI).
    pub async fn request_keyframe(&self, user_id: &str, kind: StreamKind) {
        let track = self
            .shared
            .lock()
            .tracks
            .get(&(user_id.to_owned(), kind))
            .cloned();
        if let Some((track, ssrc)) = track {
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: ssrc,
            };
            let _ = track.write_rtcp(vec![Box::new(pli)]).await;
        }
    }

    async fn close_connection(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.pc.close().await;
        }
        self.shared.lock().tracks.clear();
    }

    /// Ends the connection.
    pub async fn close(&mut self) {
        self.close_connection().await;
    }
}
