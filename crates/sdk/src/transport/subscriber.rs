//! The subscriber connection: the server offers everyone else's tracks; each track's packets are
//! reassembled into access units here and handed to the media layer with their RTP timestamp
//! (the sender's capture clock).

use super::assembler::Assembler;
use super::{
    gathering, media_engine, new_peer_connection, note_gathering, wait_gathered, TransportEvent,
};
use rtc::interceptor::Registry;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::{mpsc, watch};
use trtc_protocol::rtp::StreamKind;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
};

/// One reassembled access unit (video) or packet (audio) from a remote user.
#[derive(Debug)]
pub(crate) struct RemoteFrame {
    pub user_id: String,
    pub kind: StreamKind,
    pub data: Vec<u8>,
    /// The sender's capture time in the stream's RTP clock.
    pub rtp_timestamp: u32,
    /// Video: an IDR picture (with its parameter sets).
    pub keyframe: bool,
}

/// Receive counters of one remote stream.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ReceiveCounters {
    pub bytes: u64,
    pub packets: u64,
    pub lost: u64,
}

type Deliver = Arc<dyn Fn(RemoteFrame) + Send + Sync>;
type Key = (String, StreamKind);

#[derive(Default)]
struct Shared {
    tracks: HashMap<Key, (Arc<dyn TrackRemote>, u32)>,
    counters: HashMap<Key, ReceiveCounters>,
}

struct Handler {
    gathered: watch::Sender<bool>,
    shared: Arc<Mutex<Shared>>,
    deliver: Deliver,
    events: mpsc::UnboundedSender<TransportEvent>,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        note_gathering(&self.gathered, state);
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(?state, "subscriber connection");
        if state == RTCPeerConnectionState::Failed {
            let _ = self
                .events
                .send(TransportEvent::Failed { publisher: false });
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let user_id = track.stream_id().await;
        let (id, ssrcs) = (track.track_id().await, track.ssrcs().await);
        tracing::debug!(user = %user_id, %id, ?ssrcs, "on_track");
        let Some(kind) = StreamKind::from_track_id(&id) else {
            return;
        };
        let Some(ssrc) = ssrcs.first().copied() else {
            return;
        };
        let key = (user_id.clone(), kind);
        lock(&self.shared)
            .tracks
            .insert(key.clone(), (Arc::clone(&track), ssrc));
        let shared = Arc::clone(&self.shared);
        let deliver = Arc::clone(&self.deliver);
        tokio::spawn(async move {
            let mut assembler = Assembler::new(user_id, kind);
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(packet) => {
                        let lost = assembler.push(&packet, Instant::now(), &*deliver);
                        let mut s = lock(&shared);
                        let c = s.counters.entry(key.clone()).or_default();
                        c.bytes += packet.payload.len() as u64 + 12;
                        c.packets += 1;
                        c.lost += lost;
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
            let mut s = lock(&shared);
            if s.tracks
                .get(&key)
                .is_some_and(|(t, _)| Arc::ptr_eq(t, &track))
            {
                s.tracks.remove(&key);
            }
        });
    }
}

/// The subscriber connection (created by the server's first offer).
pub(crate) struct Subscriber {
    bind_ip: IpAddr,
    pc: Option<(Arc<dyn PeerConnection>, watch::Receiver<bool>)>,
    shared: Arc<Mutex<Shared>>,
    deliver: Deliver,
    events: mpsc::UnboundedSender<TransportEvent>,
}

impl Subscriber {
    pub(crate) fn new(
        bind_ip: IpAddr,
        deliver: Deliver,
        events: mpsc::UnboundedSender<TransportEvent>,
    ) -> Self {
        Subscriber {
            bind_ip,
            pc: None,
            shared: Arc::default(),
            deliver,
            events,
        }
    }

    /// Answers the server's offer: the first one creates the connection, later ones
    /// renegotiate it as publishers come and go.
    pub(crate) async fn handle_offer(&mut self, sdp: String) -> Result<String, String> {
        if self.pc.is_none() {
            let mut engine = media_engine()?;
            let registry = super::interceptors(Registry::new(), &mut engine)?;
            let (gathered_tx, gathered) = gathering();
            let handler = Arc::new(Handler {
                gathered: gathered_tx,
                shared: Arc::clone(&self.shared),
                deliver: Arc::clone(&self.deliver),
                events: self.events.clone(),
            });
            let pc = new_peer_connection(self.bind_ip, registry, engine, handler).await?;
            self.pc = Some((pc, gathered));
        }
        let (pc, gathered) = self.pc.as_mut().ok_or("no subscriber connection")?;
        let offer = RTCSessionDescription::offer(sdp).map_err(|e| e.to_string())?;
        pc.set_remote_description(offer)
            .await
            .map_err(|e| e.to_string())?;
        let answer = pc.create_answer(None).await.map_err(|e| e.to_string())?;
        pc.set_local_description(answer)
            .await
            .map_err(|e| e.to_string())?;
        wait_gathered(gathered).await;
        Ok(pc
            .local_description()
            .await
            .ok_or("no local description")?
            .sdp)
    }

    /// Asks the sender of a remote video stream for a keyframe.
    pub(crate) async fn request_keyframe(&self, user_id: &str, kind: StreamKind) {
        let track = lock(&self.shared)
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

    /// Counters of every remote stream so far.
    pub(crate) fn counters(&self) -> HashMap<(String, StreamKind), ReceiveCounters> {
        lock(&self.shared).counters.clone()
    }

    pub(crate) async fn close(&mut self) {
        if let Some((pc, _)) = self.pc.take() {
            let _ = pc.close().await;
        }
        *lock(&self.shared) = Shared::default();
    }
}
