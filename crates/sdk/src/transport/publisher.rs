//! The publisher connection: our audio, camera and screen, packetised here with RTP timestamps
//! taken from each frame's capture time (see `trtc_protocol::rtp::rtp_timestamp`), sent with
//! send-side congestion control (GCC over TWCC feedback) whose estimate the encoders follow.

use super::{
    codec, gathering, media_engine, new_peer_connection, note_gathering, wait_gathered,
    TransportEvent,
};
use bytes::Bytes;
use rtc::interceptor::{BandwidthEstimator, EstimatorStats, Gcc, PacketReport, Registry};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_congestion_control, CongestionFeedback,
};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp::packetizer::Payloader;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, watch};
use trtc_protocol::rtp::{
    rtp_timestamp, StreamKind, AUDIO_CLOCK_RATE, PT_H264, PT_OPUS, VIDEO_CLOCK_RATE,
};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
};

/// RTP payload size; leaves room for SRTP, extensions and a VPN's overhead within 1500 bytes.
const MTU: usize = 1200;
/// Where the estimate starts and the range it may move in, bps.
const START_BPS: f64 = 1_000_000.0;
const MIN_BPS: f64 = 100_000.0;
const MAX_BPS: f64 = 10_000_000.0;
/// The pacer sends at this multiple of the estimate, as libwebrtc's does (its pace multiplier
/// is 2.5). webrtc 0.21's pacer, given the estimate itself, drains exactly as fast as the
/// encoders fill it: every keyframe and every overshoot of the rate controller then stays in
/// the queue for good, and at 720p30 pictures waited seconds. The encoders still aim at the
/// estimate, so on average the pacer only smooths bursts.
const PACING_FACTOR: f64 = 2.5;

/// Publishes the estimator's target so the encoder threads can read it.
struct ReportingEstimator {
    inner: Gcc,
    target: Arc<AtomicU64>,
}

impl ReportingEstimator {
    fn publish(&self) {
        self.target
            .store(self.inner.target_bitrate() as u64, Ordering::Relaxed);
    }
}

impl BandwidthEstimator for ReportingEstimator {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.inner.on_reports(now, reports);
        self.publish();
    }
    fn target_bitrate(&self) -> f64 {
        // Read only by the pacer (see `PACING_FACTOR`); the encoders get the estimate itself.
        self.inner.target_bitrate() * PACING_FACTOR
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
        self.publish();
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
    fn stats(&self) -> EstimatorStats {
        self.inner.stats()
    }
}

struct Handler {
    gathered: watch::Sender<bool>,
    events: mpsc::UnboundedSender<TransportEvent>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        note_gathering(&self.gathered, state);
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(?state, "publisher connection");
        if state == RTCPeerConnectionState::Failed {
            let _ = self.events.send(TransportEvent::Failed { publisher: true });
        }
    }
}

struct Outgoing {
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    state: Mutex<Packetiser>,
    bytes: AtomicU64,
}

struct Packetiser {
    payloader: Box<dyn Payloader>,
    seq: u16,
}

/// The publisher connection.
pub(crate) struct Publisher {
    pc: Arc<dyn PeerConnection>,
    tracks: HashMap<StreamKind, Arc<Outgoing>>,
    /// The congestion controller's current target, bps.
    pub target_bps: Arc<AtomicU64>,
}

impl Publisher {
    /// A connection with all three tracks, and its offer.
    pub(crate) async fn connect(
        bind_ip: IpAddr,
        events: mpsc::UnboundedSender<TransportEvent>,
    ) -> Result<(Publisher, String), String> {
        let mut engine = media_engine()?;
        let target_bps = Arc::new(AtomicU64::new(START_BPS as u64));
        let estimator = ReportingEstimator {
            inner: Gcc::new(START_BPS, MIN_BPS, MAX_BPS),
            target: Arc::clone(&target_bps),
        };
        let registry = configure_congestion_control(
            Registry::new(),
            estimator,
            CongestionFeedback::Twcc,
            &mut engine,
        )
        .map_err(|e| e.to_string())?;
        let registry = super::interceptors(registry, &mut engine)?;
        let (gathered_tx, mut gathered) = gathering();
        let handler = Arc::new(Handler {
            gathered: gathered_tx,
            events: events.clone(),
        });
        let pc = new_peer_connection(bind_ip, registry, engine, handler).await?;
        let mut tracks = HashMap::new();
        for kind in StreamKind::ALL {
            let ssrc: u32 = rand::random();
            let rtc_kind = if kind.is_video() {
                RtpCodecKind::Video
            } else {
                RtpCodecKind::Audio
            };
            let codec = codec(kind);
            let payloader = codec.payloader().map_err(|e| e.to_string())?;
            let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                "local".to_owned(),
                kind.track_id().to_owned(),
                kind.track_id().to_owned(),
                rtc_kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec,
                    ..Default::default()
                }],
            )));
            pc.add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
                .await
                .map_err(|e| e.to_string())?;
            tracks.insert(
                kind,
                Arc::new(Outgoing {
                    track,
                    ssrc,
                    state: Mutex::new(Packetiser {
                        payloader,
                        seq: rand::random(),
                    }),
                    bytes: AtomicU64::new(0),
                }),
            );
        }
        // Feedback for any of our tracks may arrive on any track's queue (see
        // `keyframe_requests`), so each listener routes by the SSRC in the request.
        let kinds: HashMap<u32, StreamKind> = tracks.iter().map(|(k, t)| (t.ssrc, *k)).collect();
        for out in tracks.values() {
            let track = Arc::clone(&out.track);
            let (events, kinds) = (events.clone(), kinds.clone());
            tokio::spawn(async move {
                while let Some(event) = track.poll().await {
                    let TrackLocalEvent::OnRtcpPacket(packets) = event else {
                        continue;
                    };
                    for ssrc in super::keyframe_requests(&packets) {
                        if let Some(kind) = kinds.get(&ssrc) {
                            let _ = events.send(TransportEvent::KeyframeRequested(*kind));
                        }
                    }
                }
            });
        }
        let offer = pc.create_offer(None).await.map_err(|e| e.to_string())?;
        pc.set_local_description(offer)
            .await
            .map_err(|e| e.to_string())?;
        wait_gathered(&mut gathered).await;
        let sdp = pc
            .local_description()
            .await
            .ok_or("no local description")?
            .sdp;
        Ok((
            Publisher {
                pc,
                tracks,
                target_bps,
            },
            sdp,
        ))
    }

    /// The server's answer.
    pub(crate) async fn apply_answer(&mut self, sdp: String) -> Result<(), String> {
        let answer = RTCSessionDescription::answer(sdp).map_err(|e| e.to_string())?;
        self.pc
            .set_remote_description(answer)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Sends one encoded frame (an H.264 access unit or an Opus packet) captured at
    /// `capture_us`. Before the connection is up packets are dropped, as a real-time sender must.
    pub(crate) async fn send(&self, kind: StreamKind, data: Vec<u8>, capture_us: u64) {
        let Some(out) = self.tracks.get(&kind) else {
            return;
        };
        let (pt, rate) = if kind.is_video() {
            (PT_H264, VIDEO_CLOCK_RATE)
        } else {
            (PT_OPUS, AUDIO_CLOCK_RATE)
        };
        let timestamp = rtp_timestamp(capture_us, rate);
        let packets: Vec<rtc::rtp::Packet> = {
            let mut st = out.state.lock().unwrap_or_else(|e| e.into_inner());
            let Ok(payloads) = st.payloader.payload(MTU, &Bytes::from(data)) else {
                return;
            };
            let n = payloads.len();
            payloads
                .into_iter()
                .enumerate()
                .map(|(i, payload)| {
                    st.seq = st.seq.wrapping_add(1);
                    rtc::rtp::Packet {
                        header: rtc::rtp::header::Header {
                            version: 2,
                            marker: i + 1 == n,
                            payload_type: pt,
                            sequence_number: st.seq,
                            timestamp,
                            ssrc: out.ssrc,
                            ..Default::default()
                        },
                        payload,
                    }
                })
                .collect()
        };
        for p in packets {
            out.bytes
                .fetch_add(p.payload.len() as u64 + 12, Ordering::Relaxed);
            let _ = out.track.write_rtp(p).await;
        }
    }

    /// RTP bytes handed to the connection for `kind` so far.
    pub(crate) fn bytes_sent(&self, kind: StreamKind) -> u64 {
        self.tracks
            .get(&kind)
            .map_or(0, |t| t.bytes.load(Ordering::Relaxed))
    }

    pub(crate) async fn close(&self) {
        let _ = self.pc.close().await;
    }
}
