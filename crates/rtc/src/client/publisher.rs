//! The publisher connection: our audio, camera and screen, packetised here with RTP timestamps
//! taken from each frame's capture time (see `trtc_protocol::rtp::rtp_timestamp`), sent with
//! send-side congestion control (GCC over TWCC feedback) whose estimate the encoders follow.
//!
//! The same TWCC feedback gives the uplink's loss: every packet we send, retransmissions
//! included, carries a transport-wide sequence number that the server reports as received or
//! not. RTCP receiver reports would undercount it: without RTX a retransmission reuses the
//! lost packet's sequence number, so a loss repaired by NACK before the next report never
//! shows in `fraction lost` (5 % dropped on the wire read as ~0 % for video).

use super::overrun::Overrun;
use super::pacer::{PriorityPacer, Shared};
use super::ramp::CarefulRamp;
use super::{ConnRole, PeerEvent, TARGET_FELL_BY};
use crate::setup::{
    codec, err, gathering, media_engine, next_conn_id, peer_connection, rtc_kind, wait_gathered,
    AnswerAs, Ice, LinkReporter, TransportError,
};
use bytes::Bytes;
use rtc::interceptor::{BandwidthEstimator, EstimatorStats, Gcc, PacketReport, Registry, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_congestion_control, CongestionFeedback,
};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp::packetizer::Payloader;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodingParameters, RTCRtpEncodingParameters};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
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
/// …except after a standing queue's cut, until the careful ramp is done: the link has just
/// been overrun, its queue is full and may be short. A 16 KB keyframe paced at 2.5 × 250 kbps into a 300 kbps
/// link with 300 ms of queue lost its tail there, its repairs were lost again, and pictures
/// stopped for seconds; at 1.2 × the estimate (0.85 of what the link delivered), headers and
/// all, the queue never drained and the next keyframe was lost in it too. At the estimate
/// itself, the link's queue drains. Not after GCC's own back-offs: under 30 % random loss
/// (nothing queues), keyframes crawled out at the estimate and the first fresh picture after
/// the loss came 2.4–7 s after it stopped instead of 0.5–1 s.
const BACKED_OFF_PACING_FACTOR: f64 = 1.0;
/// The least a standing queue's cut leaves of the target.
const MAX_CUT: f64 = 0.5;
/// A cut this soon after the previous one finds the same queue still standing after a
/// halving: no longer one misread, so it may leave a quarter of the target. From a 1 Mbps
/// start on a 300 kbps link, halving per cut took three cuts (~2 s) to get under the link,
/// and the queue's losses stalled pictures for 5.6 s.
const REPEATED_CUT: Duration = Duration::from_secs(2);

/// What the estimator learns, for statistics and the encoders.
#[derive(Debug, Default)]
struct Feedback {
    /// The congestion controller's target (`estimate_bps`), and what the pacer reads.
    shared: Arc<Shared>,
    /// Packets the server's TWCC feedback reported received, and not received.
    received: AtomicU64,
    lost: AtomicU64,
}

/// Publishes the estimator's target and the feedback's loss counts.
struct ReportingEstimator {
    inner: Gcc,
    feedback: Arc<Feedback>,
    ramp: CarefulRamp,
    overrun: Overrun,
    last_cut: Option<Instant>,
    /// Where a fall of the target is told, and the target last told or published rising.
    fell: TargetFall,
}

/// Tells the owner of a fall in the target at once; rises wait for its next snapshot.
struct TargetFall {
    conn: u64,
    events: mpsc::UnboundedSender<PeerEvent>,
    told: f64,
}

impl TargetFall {
    fn follow(&mut self, target: f64) {
        if target < self.told * (1.0 - TARGET_FELL_BY) {
            let _ = self.events.send(PeerEvent::TargetFell {
                conn: self.conn,
                bps: target as u64,
            });
            self.told = target;
        } else if target > self.told {
            self.told = target;
        }
    }
}

impl ReportingEstimator {
    fn publish(&mut self, now: Instant) {
        let target = self.ramp.limit(now, self.inner.target_bitrate());
        self.fell.follow(target);
        self.feedback
            .shared
            .estimate_bps
            .store(target as u64, Ordering::Relaxed);
    }
}

impl BandwidthEstimator for ReportingEstimator {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.inner.on_reports(now, reports);
        if let Some(cut) = self.overrun.on_reports(now, reports) {
            let rate = cut.rate;
            // Unless the link unmistakably took less than it was given (`overrun.rs`), at most
            // a halving per cut (one every 600 ms or more): a stalled process reads like a
            // queue too, and one misread must not leave the call at the floor.
            let repeated = self
                .last_cut
                .is_some_and(|at| now.saturating_duration_since(at) < REPEATED_CUT);
            self.last_cut = Some(now);
            if cut.unmistakable {
                let shared = &self.feedback.shared;
                let drain_us = (cut.queued_ms * 1e3) as u64;
                shared.drain_us.store(drain_us, Ordering::Relaxed);
                shared.overruns.fetch_add(1, Ordering::Relaxed);
            }
            let least = match (cut.unmistakable, repeated) {
                (true, _) => 0.0,
                (false, true) => MAX_CUT * MAX_CUT,
                (false, false) => MAX_CUT,
            };
            let bounded = if self.ramp.last > 0.0 {
                rate.max(self.ramp.last * least)
            } else {
                rate
            };
            self.ramp.cut(now, bounded.max(MIN_BPS));
        }
        let lost = reports.iter().filter(|r| !r.arrived).count() as u64;
        self.feedback.lost.fetch_add(lost, Ordering::Relaxed);
        self.feedback
            .received
            .fetch_add(reports.len() as u64 - lost, Ordering::Relaxed);
        self.publish(now);
    }
    fn target_bitrate(&self) -> f64 {
        // Read only by the pacer (see `PACING_FACTOR`); the encoders get the estimate itself.
        let target = if self.ramp.last > 0.0 {
            self.ramp.last
        } else {
            self.inner.target_bitrate()
        };
        let factor = if self.ramp.held_since_a_queue_cut() {
            BACKED_OFF_PACING_FACTOR
        } else {
            PACING_FACTOR
        };
        target * factor
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
        self.publish(now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
    fn stats(&self) -> EstimatorStats {
        self.inner.stats()
    }
}

struct Handler(LinkReporter);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.0.gathering(state);
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.0.state(state);
    }
}

struct Outgoing {
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    state: parking_lot::Mutex<Packetiser>,
    bytes: AtomicU64,
    packets: AtomicU64,
}

struct Packetiser {
    payloader: Box<dyn Payloader>,
    seq: u16,
}

/// What one local stream has sent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SentCounters {
    /// RTP bytes (payload and fixed header).
    pub bytes: u64,
    /// RTP packets.
    pub packets: u64,
}

/// The publisher's counters, read by the statistics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublisherStats {
    /// Per stream kind.
    pub sent: HashMap<StreamKind, SentCounters>,
    /// The congestion controller's target, bps.
    pub target_bps: u64,
    /// Packets the server reported received and not received so far (TWCC feedback).
    pub feedback_received: u64,
    /// See `feedback_received`.
    pub feedback_lost: u64,
    /// The media path's round trip from RTCP reports, ms; `None` until the server has answered
    /// a sender report.
    pub rtt_ms: Option<u32>,
}

/// The publisher connection.
pub struct Publisher {
    id: u64,
    pc: Arc<dyn PeerConnection>,
    tracks: HashMap<StreamKind, Arc<Outgoing>>,
    feedback: Arc<Feedback>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").field("id", &self.id).finish()
    }
}

impl Publisher {
    /// A new connection bound to `bind_ip` with all three tracks, and its complete offer. Its
    /// state changes and keyframe requests go to `events`.
    /// The pacer writes how long its oldest video packet has waited (µs) into `send_queue`,
    /// for the video encoders to skip pictures by.
    pub async fn connect(
        bind_ip: IpAddr,
        events: mpsc::UnboundedSender<PeerEvent>,
        send_queue: Arc<AtomicU64>,
    ) -> Result<(Publisher, String), TransportError> {
        let id = next_conn_id();
        let mut engine = media_engine()?;
        let feedback = Arc::new(Feedback::default());
        feedback
            .shared
            .estimate_bps
            .store(START_BPS as u64, Ordering::Relaxed);
        let estimator = ReportingEstimator {
            inner: Gcc::new(START_BPS, MIN_BPS, MAX_BPS),
            ramp: CarefulRamp::default(),
            overrun: Overrun::default(),
            last_cut: None,
            feedback: Arc::clone(&feedback),
            fell: TargetFall {
                conn: id,
                events: events.clone(),
                told: START_BPS,
            },
        };
        let ssrcs: Vec<(StreamKind, u32)> = StreamKind::ALL
            .iter()
            .map(|k| (*k, rand::random()))
            .collect();
        // Feedback for any of our tracks may arrive on any track's queue (see
        // `keyframe_requests`), and the pacer names streams by SSRC too.
        let kinds: HashMap<u32, StreamKind> = ssrcs.iter().map(|(k, s)| (*s, *k)).collect();
        let on_stale = {
            let (events, kinds) = (events.clone(), kinds.clone());
            Box::new(move |ssrc| {
                if let Some(kind) = kinds.get(&ssrc) {
                    let _ = events.send(PeerEvent::KeyframeRequested(*kind));
                }
            })
        };
        let registry = configure_congestion_control(
            Registry::new(),
            estimator,
            CongestionFeedback::Twcc,
            &mut engine,
        )
        .map_err(err)?
        // In place of the library's one-queue pacer (see `pacer.rs`).
        .with(
            Slot::Pacer,
            PriorityPacer::new(
                START_BPS * PACING_FACTOR,
                Arc::clone(&feedback.shared),
                send_queue,
                on_stale,
            ),
        );
        let registry =
            crate::setup::interceptors(registry, &mut engine, crate::setup::Flow::Sends)?;
        let (gathered_tx, mut gathered) = gathering();
        let handler = Arc::new(Handler(LinkReporter {
            conn: id,
            role: ConnRole::Publisher,
            gathered: gathered_tx,
            events: events.clone(),
        }));
        let pc = peer_connection(
            SocketAddr::new(bind_ip, 0),
            registry,
            engine,
            handler,
            AnswerAs::DtlsClient,
            Ice::Full,
        )
        .await?;
        let mut tracks = HashMap::new();
        // In `StreamKind::ALL`'s order: the offer's media sections keep theirs.
        for &(kind, ssrc) in &ssrcs {
            let codec = codec(kind);
            let payloader = codec.payloader().map_err(err)?;
            let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                "local".to_owned(),
                kind.track_id().to_owned(),
                kind.track_id().to_owned(),
                rtc_kind(kind),
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
                .map_err(err)?;
            tracks.insert(
                kind,
                Arc::new(Outgoing {
                    track,
                    ssrc,
                    state: parking_lot::Mutex::new(Packetiser {
                        payloader,
                        seq: rand::random(),
                    }),
                    bytes: AtomicU64::new(0),
                    packets: AtomicU64::new(0),
                }),
            );
        }
        // Each listener routes by the SSRC in the request.
        for out in tracks.values() {
            let track = Arc::clone(&out.track);
            let (events, kinds) = (events.clone(), kinds.clone());
            tokio::spawn(async move {
                while let Some(event) = track.poll().await {
                    let TrackLocalEvent::OnRtcpPacket(packets) = event else {
                        continue;
                    };
                    for ssrc in crate::setup::keyframe_requests(&packets) {
                        if let Some(kind) = kinds.get(&ssrc) {
                            let _ = events.send(PeerEvent::KeyframeRequested(*kind));
                        }
                    }
                }
            });
        }
        let offer = pc.create_offer(None).await.map_err(err)?;
        pc.set_local_description(offer).await.map_err(err)?;
        wait_gathered(&mut gathered).await;
        let sdp = pc
            .local_description()
            .await
            .ok_or("no local description")?
            .sdp;
        Ok((
            Publisher {
                id,
                pc,
                tracks,
                feedback,
            },
            sdp,
        ))
    }

    /// This connection's id, as its [`PeerEvent`]s carry it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The server's answer.
    pub async fn apply_answer(&self, sdp: String) -> Result<(), TransportError> {
        let answer = RTCSessionDescription::answer(sdp).map_err(err)?;
        self.pc.set_remote_description(answer).await.map_err(err)?;
        Ok(())
    }

    /// Sends one encoded frame (an H.264 access unit or an Opus packet) captured at
    /// `capture_us`. Before the connection is up packets are dropped, as a real-time sender must.
    pub async fn send(&self, kind: StreamKind, data: Vec<u8>, capture_us: u64) {
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
            let mut st = out.state.lock();
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
            out.packets.fetch_add(1, Ordering::Relaxed);
            let _ = out.track.write_rtp(p).await;
        }
    }

    /// What has been sent, the estimate, and the server's feedback so far.
    pub fn stats(&self) -> PublisherStats {
        PublisherStats {
            sent: self
                .tracks
                .iter()
                .map(|(k, t)| {
                    let c = SentCounters {
                        bytes: t.bytes.load(Ordering::Relaxed),
                        packets: t.packets.load(Ordering::Relaxed),
                    };
                    (*k, c)
                })
                .collect(),
            target_bps: self.feedback.shared.estimate_bps.load(Ordering::Relaxed),
            feedback_received: self.feedback.received.load(Ordering::Relaxed),
            feedback_lost: self.feedback.lost.load(Ordering::Relaxed),
            rtt_ms: match self.feedback.shared.rtt_us.load(Ordering::Relaxed) {
                0 => None,
                us => Some(us.div_ceil(1_000).min(u64::from(u32::MAX)) as u32),
            },
        }
    }

    /// Ends the connection.
    pub async fn close(&self) {
        let _ = self.pc.close().await;
    }
}
