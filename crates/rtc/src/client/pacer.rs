//! The publisher's pacer, in the library's pacer slot. Audio leaves before anything else,
//! retransmissions before new video, and how long the oldest waiting video packet has waited
//! is published, so the video encoder can skip pictures rather than queue them.
//!
//! webrtc 0.21's pacer is one FIFO of up to 4,096 packets for every track. Through a 300 kbps
//! link (the links benchmark) each keyframe and each overshoot of the encoder queued there,
//! glass-to-glass rose to 2.4–3.5 s, and the tone, stuck behind the video, was heard in 72 %
//! of 20 ms frames. libwebrtc sends audio first for the same reason, and pauses the encoder
//! while its pacer queue is long.
//!
//! Two limits keep what leaves worth sending:
//! - Retransmissions may take [`RESEND_SHARE`] of the estimate; NACKs beyond that are not
//!   answered (the receiver asks again or for a keyframe). Under heavy loss, answering every
//!   NACK of a lost retransmission again spends the link on repairs of repairs.
//! - Video that has waited [`STALE_AFTER`] is dropped rather than sent late (see [`super::stale`]).

use super::resend_budget::Budget;
use super::rtt::RttMeter;
use super::stale::{Staleness, VideoPacket, STALE_AFTER};
use rtc::interceptor::{Attribute, Interceptor, Pacer, Packet, StreamInfo, TaggedPacket};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use rtc::shared::marshal::MarshalSize;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The share of the congestion controller's estimate retransmissions may use. 10 % random
/// loss needs about a tenth for one repair each; 30 % needs a third and more for the repairs
/// that are lost again, which is where the link is better spent on a fresh keyframe.
pub(super) const RESEND_SHARE: f64 = 0.3;
/// The retransmission budget holds at most this much of its rate: a NACK names a run of
/// packets at once, and a lost picture's packets are all wanted together.
pub(super) const RESEND_BURST: Duration = Duration::from_millis(500);
/// …and never less than this many full-sized packets.
pub(super) const RESEND_BURST_PACKETS: f64 = 4.0;

/// What the pacer and the congestion controller share.
#[derive(Debug, Default)]
pub(super) struct Shared {
    /// The estimate, bps: the target arrives multiplied by a pacing factor that varies, and
    /// the retransmission budget is a share of the estimate itself.
    pub(super) estimate_bps: AtomicU64,
    /// The media round trip, µs; 0 until measured (see `rtt.rs`).
    pub(super) rtt_us: AtomicU64,
    /// Counts the times the link was unmistakably overrun (`overrun.rs`): each time, the video
    /// queued here is dropped at once and a keyframe asked for. The link's queue has already
    /// lost some of what went before it, so a keyframe is needed anyway, and every packet
    /// still sent of the pictures before it only delays that keyframe. Then video waits here
    /// for [`Shared::drain_us`] (at most [`MAX_DRAIN`]): sent into the full queue, the
    /// keyframe lost its first packets there, and the pictures stopped for 2 s more.
    pub(super) overruns: AtomicU64,
    /// How long the link's queue takes to drain, µs: the wait it showed at the last overrun.
    pub(super) drain_us: AtomicU64,
}

/// The longest video waits for the link's queue to drain after an overrun.
const MAX_DRAIN: Duration = Duration::from_millis(500);

/// Who is told that a stream's queued video was dropped and a keyframe is the way on.
pub(super) type OnStale = Box<dyn Fn(u32) + Send + Sync>;

pub(super) struct PriorityPacer {
    bucket: Pacer,
    shared: Arc<Shared>,
    /// The overruns acted on.
    overruns_seen: u64,
    /// After an overrun, only audio leaves until then.
    video_held_until: Option<Instant>,
    resend_budget: Budget,
    audio_ssrcs: HashSet<u32>,
    audio: VecDeque<TaggedPacket>,
    resends: VecDeque<TaggedPacket>,
    video: VecDeque<VideoPacket>,
    staleness: Staleness,
    on_stale: OnStale,
    /// Released, on their way on through the chain.
    released: VecDeque<TaggedPacket>,
    /// Not paced (RTCP), straight on.
    unpaced: VecDeque<TaggedPacket>,
    reads: VecDeque<TaggedPacket>,
    /// How long the oldest queued video packet has waited, µs, as of the last release.
    video_wait_us: Arc<AtomicU64>,
    /// The last `handle_timeout`'s time.
    last_timeout: Option<Instant>,
    /// Every RTCP packet either way passes here (see `rtt.rs`).
    rtt: RttMeter,
}

impl PriorityPacer {
    /// Pacing at `start_bps` until the first target arrives.
    pub(super) fn new(
        start_bps: f64,
        shared: Arc<Shared>,
        video_wait_us: Arc<AtomicU64>,
        on_stale: OnStale,
    ) -> Self {
        PriorityPacer {
            bucket: Pacer::new(start_bps),
            resend_budget: Budget::new(
                shared.estimate_bps.load(Ordering::Relaxed) as f64 * RESEND_SHARE,
            ),
            overruns_seen: shared.overruns.load(Ordering::Relaxed),
            video_held_until: None,
            shared,
            audio_ssrcs: HashSet::new(),
            audio: VecDeque::new(),
            resends: VecDeque::new(),
            video: VecDeque::new(),
            staleness: Staleness::default(),
            on_stale,
            released: VecDeque::new(),
            unpaced: VecDeque::new(),
            reads: VecDeque::new(),
            video_wait_us,
            last_timeout: None,
            rtt: RttMeter::default(),
        }
    }

    fn bits(p: &TaggedPacket) -> f64 {
        match &p.message.packet {
            Packet::Rtp(rtp) => (rtp.marshal_size() * 8) as f64,
            _ => 0.0,
        }
    }

    /// The next packet to leave: audio, else (unless video is held) a retransmission or video.
    fn head_bits(&self) -> Option<f64> {
        let audio = self.audio.front().map(Self::bits);
        if self.video_held_until.is_some() {
            return audio;
        }
        audio.or_else(|| {
            self.resends
                .front()
                .or_else(|| self.video.front().map(|v| &v.packet))
                .map(Self::bits)
        })
    }

    fn note_video_wait(&self, now: Instant) {
        let waited = self.video.front().map_or(0, |v| {
            now.saturating_duration_since(v.queued_at).as_micros() as u64
        });
        self.video_wait_us.store(waited, Ordering::Relaxed);
    }

    /// A retransmission is queued if the budget has room and it repairs something still
    /// wanted: what was dropped as stale stays dropped, what a newer keyframe replaced stays
    /// unrepaired.
    fn admit_resend(&mut self, msg: TaggedPacket) {
        let Packet::Rtp(rtp) = &msg.message.packet else {
            return;
        };
        if self
            .staleness
            .superseded(rtp.header.ssrc, rtp.header.sequence_number)
        {
            return;
        }
        let bits = Self::bits(&msg);
        if self.resend_budget.take(msg.now, bits) {
            self.resends.push_back(msg);
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for PriorityPacer {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        // The congestion controller's target rides in on the feedback it came from.
        if let Some(Attribute::TargetBitrateChanged { bits_per_second }) =
            msg.message.get(&Attribute::TargetBitrateChanged {
                bits_per_second: 0.0,
            })
        {
            self.bucket.set_target_bitrate(*bits_per_second);
            self.resend_budget
                .set_rate(self.shared.estimate_bps.load(Ordering::Relaxed) as f64 * RESEND_SHARE);
        }
        if let Packet::Rtcp(packets) = &msg.message.packet {
            self.rtt.on_read(msg.now, packets);
            if let Some(us) = self.rtt.smoothed_us() {
                self.shared.rtt_us.store(us, Ordering::Relaxed);
            }
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        let Packet::Rtp(rtp) = &msg.message.packet else {
            if let Packet::Rtcp(packets) = &msg.message.packet {
                self.rtt.on_write(msg.now, packets);
            }
            // RTCP (and whatever else the chain carries) is not paced: feedback is worth
            // something only while it is fresh.
            self.unpaced.push_back(msg);
            return Ok(());
        };
        // Current at enqueue time, so the deadline `poll_timeout` gives is never in the past.
        self.bucket.refill(msg.now);
        if self.audio_ssrcs.contains(&rtp.header.ssrc) {
            self.audio.push_back(msg);
        } else if msg.message.has(&Attribute::Retransmission) {
            self.admit_resend(msg);
        } else {
            let packet = self.staleness.classify(msg);
            self.video.push_back(packet);
        }
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.unpaced
            .pop_front()
            .or_else(|| self.released.pop_front())
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        self.last_timeout = Some(now);
        self.bucket.refill(now);
        if self.video_held_until.is_some_and(|t| now >= t) {
            self.video_held_until = None;
        }
        let overruns = self.shared.overruns.load(Ordering::Relaxed);
        let asked = if overruns != self.overruns_seen {
            self.overruns_seen = overruns;
            let drain = Duration::from_micros(self.shared.drain_us.load(Ordering::Relaxed));
            self.video_held_until = Some(now + drain.min(MAX_DRAIN));
            self.resends.clear();
            self.staleness.overrun(now, &mut self.video)
        } else if self.video_held_until.is_some() {
            // Pictures made before the keyframe are worth nothing; it goes first.
            self.staleness
                .drop_stale(now, Duration::ZERO, &mut self.video)
        } else {
            self.staleness.drop_stale(now, STALE_AFTER, &mut self.video)
        };
        for ssrc in asked {
            (self.on_stale)(ssrc);
        }
        let video_held = self.video_held_until.is_some();
        while let Some(bits) = self.head_bits() {
            if !self.bucket.can_release(bits) {
                break;
            }
            let mut p = if let Some(p) = self.audio.pop_front() {
                p
            } else if video_held {
                break;
            } else if let Some(p) = self.resends.pop_front() {
                p
            } else if let Some(v) = self.video.pop_front() {
                self.staleness.released(now, &v);
                v.packet
            } else {
                break;
            };
            self.bucket.consume(bits);
            // It departs now: the send history congestion control reads must see this
            // instant, or the wait here is charged to the network.
            p.now = now;
            self.released.push_back(p);
        }
        self.note_video_wait(now);
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        let mut release = self.head_bits().and_then(|b| self.bucket.releasable_at(b));
        if let Some(until) = self.video_held_until {
            if !self.video.is_empty() || !self.resends.is_empty() {
                release = Some(release.map_or(until, |r| r.min(until)));
            }
        }
        // Queued video must also be looked at when it turns stale, even if the rate would
        // hold it longer; once looked at (a keyframe, which stays), not again and again.
        let stale = self
            .video
            .front()
            .map(|v| v.queued_at + STALE_AFTER)
            .filter(|at| self.last_timeout.is_none_or(|last| *at > last));
        match (release, stale) {
            (Some(r), Some(s)) => Some(r.min(s)),
            (r, s) => r.or(s),
        }
    }
}

impl Drop for PriorityPacer {
    fn drop(&mut self) {
        // Its queue is gone with it: the next connection's encoders start unhindered.
        self.video_wait_us.store(0, Ordering::Relaxed);
    }
}

impl Interceptor for PriorityPacer {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        if info.mime_type.to_ascii_lowercase().starts_with("audio/") {
            self.audio_ssrcs.insert(info.ssrc);
        }
    }
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.audio_ssrcs.remove(&info.ssrc);
    }
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::AttributedPacket;
    use rtc::shared::TransportMessage;
    use std::sync::Mutex;

    const AUDIO: u32 = 1;
    const VIDEO: u32 = 2;
    /// A non-IDR slice and an IDR slice, as single-NAL packets.
    const P_SLICE: u8 = 0x41;
    const IDR_SLICE: u8 = 0x65;

    fn rtp(ssrc: u32, seq: u16, bytes: usize, now: Instant) -> TaggedPacket {
        video(ssrc, seq, u32::from(seq), P_SLICE, bytes, now)
    }

    fn video(ssrc: u32, seq: u16, ts: u32, nal: u8, bytes: usize, now: Instant) -> TaggedPacket {
        let mut p = rtc::rtp::Packet::default();
        p.header.ssrc = ssrc;
        p.header.sequence_number = seq;
        p.header.timestamp = ts;
        let mut payload = vec![0u8; bytes];
        payload[0] = nal;
        p.payload = bytes::Bytes::from(payload);
        TransportMessage {
            now,
            transport: Default::default(),
            message: AttributedPacket::new(Packet::Rtp(p)),
        }
    }

    /// Queues 1,200-byte video packets `seqs` of the picture `ts` made of `nal` slices.
    fn queue(
        pacer: &mut PriorityPacer,
        seqs: impl IntoIterator<Item = u16>,
        ts: u32,
        nal: u8,
        now: Instant,
    ) {
        for seq in seqs {
            pacer
                .handle_write(video(VIDEO, seq, ts, nal, 1_200, now))
                .unwrap();
        }
    }

    fn resend(ssrc: u32, seq: u16, now: Instant) -> TaggedPacket {
        let mut p = rtp(ssrc, seq, 1_200, now);
        p.message.add(Attribute::Retransmission);
        p
    }

    fn sent(pacer: &mut PriorityPacer) -> Vec<(u32, u16)> {
        std::iter::from_fn(|| pacer.poll_write())
            .filter_map(|p| match p.message.packet {
                Packet::Rtp(r) => Some((r.header.ssrc, r.header.sequence_number)),
                _ => None,
            })
            .collect()
    }

    /// A pacer at `bps` (the estimate is the same: pacing factor 1) and the SSRCs it was
    /// told to get keyframes for.
    fn pacer(bps: f64, wait: &Arc<AtomicU64>) -> (PriorityPacer, Arc<Mutex<Vec<u32>>>) {
        let asked = Arc::new(Mutex::new(vec![]));
        let told = Arc::clone(&asked);
        let on_stale: OnStale = Box::new(move |ssrc| told.lock().unwrap().push(ssrc));
        let shared = Shared {
            estimate_bps: AtomicU64::new(bps as u64),
            ..Shared::default()
        };
        let mut pacer = PriorityPacer::new(bps, Arc::new(shared), Arc::clone(wait), on_stale);
        pacer.bind_local_stream(&StreamInfo {
            ssrc: AUDIO,
            mime_type: "audio/opus".into(),
            ..Default::default()
        });
        (pacer, asked)
    }

    #[test]
    fn audio_overtakes_waiting_video_and_the_wait_is_told() {
        let t0 = Instant::now();
        let wait = Arc::new(AtomicU64::new(0));
        // 100 kbps: a 1,200-byte packet every ~0.1 s once the first burst is spent.
        let (mut pacer, _) = pacer(100_000.0, &wait);
        for seq in 0..10 {
            pacer.handle_write(rtp(VIDEO, seq, 1_200, t0)).unwrap();
        }
        pacer.handle_timeout(t0).unwrap();
        let first = sent(&mut pacer);
        assert!(first.len() < 10, "the budget holds video back: {first:?}");

        let later = t0 + Duration::from_millis(250);
        pacer.handle_write(rtp(AUDIO, 0, 100, later)).unwrap();
        pacer.handle_timeout(later).unwrap();
        let next = sent(&mut pacer);
        assert_eq!(next.first(), Some(&(AUDIO, 0)), "audio first: {next:?}");
        assert!(
            wait.load(Ordering::Relaxed) >= 250_000,
            "the oldest video has waited 250 ms"
        );
        drop(pacer);
        assert_eq!(
            wait.load(Ordering::Relaxed),
            0,
            "a gone pacer holds nothing back"
        );
    }

    #[test]
    fn retransmissions_go_before_new_video_within_their_share() {
        let t0 = Instant::now();
        let wait = Arc::new(AtomicU64::new(0));
        // 1 Mbps: retransmissions may take 300 kbps, 150 kbit at once (15 packets).
        // New video that leaves within the stale limit even behind the answered ones.
        let (mut pacer, _) = pacer(1_000_000.0, &wait);
        for seq in 0..20 {
            pacer.handle_write(rtp(VIDEO, seq, 1_200, t0)).unwrap();
        }
        for seq in 0..40 {
            pacer.handle_write(resend(VIDEO, 1_000 + seq, t0)).unwrap();
        }
        let mut order = vec![];
        for ms in 0..=1_000 {
            let now = t0 + Duration::from_millis(ms);
            pacer.handle_timeout(now).unwrap();
            order.extend(sent(&mut pacer));
        }
        let resent: Vec<usize> = (0..order.len()).filter(|&i| order[i].1 >= 1_000).collect();
        assert!(
            (14..=16).contains(&resent.len()),
            "a burst of the share answered, the rest not: {} of 40",
            resent.len()
        );
        assert_eq!(
            resent.last().map(|&i| i + 1),
            Some(resent.len()),
            "the answered ones left before any new video: {order:?}"
        );
        assert_eq!(order.len(), resent.len() + 20, "new video all sent");
    }

    #[test]
    fn stale_video_is_dropped_a_keyframe_asked_for_and_its_nacks_unanswered() {
        let t0 = Instant::now();
        let wait = Arc::new(AtomicU64::new(0));
        // 100 kbps: 30 packets of 1,200 bytes take ~2.9 s.
        let (mut pacer, asked) = pacer(100_000.0, &wait);
        queue(&mut pacer, 0..30, 0, P_SLICE, t0);
        let mut order = vec![];
        let stale_at = t0 + STALE_AFTER + Duration::from_millis(1);
        for now in [t0, t0 + Duration::from_millis(200), stale_at] {
            pacer.handle_timeout(now).unwrap();
            order.extend(sent(&mut pacer));
        }
        assert!(
            order.len() < 10,
            "only what the rate allowed left: {order:?}"
        );
        assert_eq!(*asked.lock().unwrap(), vec![VIDEO], "a keyframe asked for");
        assert_eq!(wait.load(Ordering::Relaxed), 0, "nothing waits any more");
        // The receiver asks for what it never got; it will not get it.
        let later = stale_at + Duration::from_millis(100);
        pacer.handle_write(resend(VIDEO, 29, later)).unwrap();
        pacer.handle_timeout(later).unwrap();
        assert!(
            sent(&mut pacer).is_empty(),
            "a dropped packet is not resent"
        );
    }

    #[test]
    fn an_overrun_link_drops_the_queued_video_and_asks_for_a_keyframe() {
        let t0 = Instant::now();
        let wait = Arc::new(AtomicU64::new(0));
        // 100 kbps: a keyframe leaves, then P pictures queue behind the rate.
        let (mut pacer, asked) = pacer(100_000.0, &wait);
        queue(&mut pacer, [0], 0, IDR_SLICE, t0);
        queue(&mut pacer, 1..10, 1, P_SLICE, t0);
        pacer.handle_timeout(t0).unwrap();
        let before = sent(&mut pacer).len();
        assert!(before < 10, "P pictures wait: {before} sent");
        // The link's queue showed 200 ms of wait.
        pacer.shared.drain_us.store(200_000, Ordering::Relaxed);
        pacer.shared.overruns.fetch_add(1, Ordering::Relaxed);
        let now = t0 + Duration::from_millis(10);
        pacer.handle_timeout(now).unwrap();
        assert_eq!(*asked.lock().unwrap(), vec![VIDEO], "a keyframe asked for");
        // It comes, and waits for the link's queue to drain; audio does not.
        let at = |ms| now + Duration::from_millis(ms);
        pacer
            .handle_write(video(VIDEO, 10, 2, IDR_SLICE, 1_200, at(30)))
            .unwrap();
        pacer.handle_write(rtp(AUDIO, 0, 100, at(30))).unwrap();
        pacer.handle_timeout(at(30)).unwrap();
        assert_eq!(sent(&mut pacer), [(AUDIO, 0)], "only audio while it drains");
        assert_eq!(pacer.poll_timeout(), Some(at(200)));
        pacer.handle_timeout(at(200)).unwrap();
        assert_eq!(
            sent(&mut pacer),
            [(VIDEO, 10)],
            "then the keyframe, not what waited"
        );
    }

    #[test]
    fn what_a_keyframe_replaced_is_not_repaired_and_the_keyframe_is() {
        let t0 = Instant::now();
        let wait = Arc::new(AtomicU64::new(0));
        let (mut pacer, _) = pacer(1_000_000.0, &wait);
        queue(&mut pacer, 0..5, 0, P_SLICE, t0);
        queue(&mut pacer, 5..8, 1, IDR_SLICE, t0);
        pacer.handle_timeout(t0).unwrap();
        assert_eq!(sent(&mut pacer).len(), 8);
        let later = t0 + Duration::from_millis(100);
        for seq in [3, 4, 6] {
            pacer.handle_write(resend(VIDEO, seq, later)).unwrap();
        }
        pacer.handle_timeout(later).unwrap();
        assert_eq!(sent(&mut pacer), [(VIDEO, 6)], "only the keyframe's packet");
    }

    #[test]
    fn a_keyframe_is_never_dropped_nor_what_follows_it_at_once() {
        let t0 = Instant::now();
        let wait = Arc::new(AtomicU64::new(0));
        let (mut pacer, asked) = pacer(100_000.0, &wait);
        // Stale P-slices (ts 0), a keyframe (ts 1) behind them that takes ~1.6 s to send,
        // and a P-slice after it (ts 2).
        queue(&mut pacer, 0..10, 0, P_SLICE, t0);
        queue(&mut pacer, [10], 1, IDR_SLICE, t0);
        queue(&mut pacer, 11..27, 1, P_SLICE, t0);
        queue(&mut pacer, [27], 2, P_SLICE, t0);
        let mut order = vec![];
        for ms in (0..=3_000).step_by(10) {
            let now = t0 + Duration::from_millis(ms);
            pacer.handle_timeout(now).unwrap();
            order.extend(sent(&mut pacer).into_iter().map(|(_, seq)| seq));
        }
        let keyframe: Vec<u16> = (10..=27).collect();
        assert!(
            order.ends_with(&keyframe),
            "the keyframe whole, and the picture after it: {order:?}"
        );
        assert!(
            order.len() < 25,
            "stale pictures before it dropped: {order:?}"
        );
        assert!(
            asked.lock().unwrap().is_empty(),
            "a keyframe was on its way already"
        );
    }
}
