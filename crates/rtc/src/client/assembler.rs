//! Rebuilds access units (video) from RTP packets that may arrive out of order, and passes
//! audio packets straight on.
//!
//! A lost video packet is asked for again by NACK (webrtc's interceptors on every hop) and
//! arrives late, after packets sent behind it. So packets after a gap are held, in sequence
//! order, for as long as gaps have lately taken to fill on this path
//! ([`super::repair_wait`]: 150 ms on loopback, longer on a long path); the gap filled,
//! everything held is consumed at once. A gap still open after that is given up: the access
//! unit it belonged to is dropped (the decoder then asks for a keyframe) and the packets
//! behind it go on. Frames that arrive whole are never held, so loss costs delay only while
//! it lasts. A keyframe that arrives whole behind a gap ends the wait at once: nothing before
//! it is needed to go on, and after a loss it is what the decoder waits for.
//!
//! Audio behind a gap is held only as long as the stream's jitter says a packet may be late
//! ([`Assembler::set_audio_wait`]: on a steady link a few ms, at most [`MAX_AUDIO_WAIT`]):
//! a retransmission would come too late for playout, which the decoder's concealment and
//! in-band FEC cover, but on a jittery path packets overtake each other (±30 ms of jitter
//! reorders about a fifth of 20 ms packets), and one played in order beats one concealed.

use super::h264::{begins_keyframe, has_idr, stap_a_well_formed};
use super::repair_wait::RepairWait;
use super::subscriber::RemoteFrame;
use bytes::Bytes;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use trtc_protocol::rtp::StreamKind;

/// Packets held behind a gap at most (about a second of 720p); beyond it the gap is given up.
const MAX_HELD: usize = 512;
/// The longest audio waits behind a gap: the playout cushion (20 ms + 3 × jitter) covers it.
pub(crate) const MAX_AUDIO_WAIT: Duration = Duration::from_millis(60);
/// Audio's wait per ms of RFC 3550 jitter: uniform spread of ±s ms reads as a jitter of about
/// 2s/3 and makes a packet up to 2s − 20 ms late behind the one sent after it.
const AUDIO_WAIT_PER_JITTER_MS: f64 = 2.5;
/// Our senders' audio packets are 20 ms apart.
const AUDIO_PACKET_GAP: Duration = Duration::from_millis(20);

struct Held {
    payload: Bytes,
    timestamp: u32,
    marker: bool,
    arrived: Instant,
}

/// One remote stream's reassembly.
pub(crate) struct Assembler {
    user_id: Arc<str>,
    kind: StreamKind,
    h264: H264Packet,
    /// The sequence number consumed next.
    next_seq: Option<u16>,
    /// Packets beyond `next_seq`, waiting for the gap before them to fill.
    held: HashMap<u16, Held>,
    /// Those of them that begin a keyframe.
    keyframes_held: Vec<u16>,
    /// Packets were given up just before `next_seq`.
    skipped: bool,
    /// An access unit since the last one delivered was incomplete and dropped: the next one
    /// delivered follows a loss (and a P picture then has no reference to decode against).
    dropped_unit: bool,
    /// The access unit being built: its timestamp, when its first packet arrived, its data,
    /// and whether a packet of it is lost.
    timestamp: Option<u32>,
    started: Option<Instant>,
    buf: Vec<u8>,
    broken: bool,
    /// How long audio waits behind a gap.
    audio_wait: Duration,
    /// How long video waits behind a gap.
    repair: RepairWait,
}

impl Assembler {
    pub(crate) fn new(user_id: Arc<str>, kind: StreamKind) -> Self {
        Assembler {
            user_id,
            kind,
            h264: H264Packet::default(),
            next_seq: None,
            held: HashMap::new(),
            keyframes_held: Vec::new(),
            skipped: false,
            dropped_unit: false,
            timestamp: None,
            started: None,
            buf: Vec::new(),
            broken: false,
            audio_wait: Duration::ZERO,
            repair: RepairWait::default(),
        }
    }

    /// Sizes audio's wait behind a gap to the stream's measured jitter (ms).
    pub(crate) fn set_audio_wait(&mut self, jitter_ms: f64) {
        let ms =
            (jitter_ms.max(0.0) * AUDIO_WAIT_PER_JITTER_MS).min(MAX_AUDIO_WAIT.as_secs_f64() * 1e3);
        self.audio_wait = Duration::from_secs_f64(ms / 1e3);
    }

    /// Takes one packet that arrived at `now`; returns how many packets were given up as lost.
    pub(crate) fn push(
        &mut self,
        packet: &rtc::rtp::Packet,
        now: Instant,
        deliver: &dyn Fn(RemoteFrame),
    ) -> u64 {
        let h = &packet.header;
        let next = *self.next_seq.get_or_insert(h.sequence_number);
        let ahead = h.sequence_number.wrapping_sub(next);
        if ahead >= 0x8000 {
            // A duplicate, or too late: its gap was given up (which still times the fill).
            if self.kind.is_video() {
                self.repair.arrived_late(h.sequence_number, now);
            }
            return 0;
        }
        let p = Held {
            payload: Bytes::clone(&packet.payload),
            timestamp: h.timestamp,
            marker: h.marker,
            arrived: now,
        };
        if !self.kind.is_video() {
            return self.push_audio(h.sequence_number, ahead, p, now, deliver);
        }
        if ahead == 0 && self.held.is_empty() {
            // In order with nothing waiting (nearly every packet): straight through.
            self.next_seq = Some(h.sequence_number.wrapping_add(1));
            self.consume(p, now, deliver);
            return 0;
        }
        let seq = h.sequence_number;
        if ahead == 0 {
            // The gap in front fills; it was seen when the first packet after it arrived.
            // (Holes further back fill about as late and would only say the same again.)
            let seen = self.held.iter().min_by_key(|(s, _)| s.wrapping_sub(seq));
            if let Some((_, after)) = seen {
                self.repair.filled(after.arrived, now);
            }
        }
        if begins_keyframe(&p.payload) && !self.held.contains_key(&seq) {
            self.keyframes_held.push(seq);
        }
        self.held.entry(seq).or_insert(p);
        let mut lost = 0;
        loop {
            self.drain(now, deliver);
            // The gap at `next_seq` was seen when the first packet after it arrived; each gap
            // waits from then, so gaps close together wait together, not one after another.
            let next = self.next_seq.unwrap_or(h.sequence_number);
            let Some((&oldest, first_after)) =
                self.held.iter().min_by_key(|(s, _)| s.wrapping_sub(next))
            else {
                return lost;
            };
            let seen = first_after.arrived;
            let (to, keyframe) = match self.whole_keyframe_held(next) {
                Some(keyframe) => (keyframe, true),
                None if now.duration_since(seen) < self.repair.wait()
                    && self.held.len() <= MAX_HELD =>
                {
                    return lost;
                }
                // Going on from a keyframe's first packet breaks nothing: the gap lies before
                // it (the pictures our pacer dropped ahead of a keyframe make such gaps, which
                // no repair fills).
                None => (oldest, self.keyframes_held.contains(&oldest)),
            };
            // Give the gap up: go on from the oldest packet held, or from the keyframe (the
            // pictures held before it go with the gap).
            let gap = to.wrapping_sub(next);
            let before = self.held.len();
            self.held.retain(|s, _| s.wrapping_sub(to) < 0x8000);
            lost += u64::from(gap) - (before - self.held.len()) as u64;
            for k in 0..gap.min(MAX_HELD as u16) {
                self.repair.gave_up(next.wrapping_add(k), seen);
            }
            self.next_seq = Some(to);
            if keyframe {
                // It begins its unit: whole, though units before it were not.
                self.dropped_unit = true;
            } else {
                self.skipped = true;
            }
        }
    }

    /// The first packet of a keyframe held ahead of `next` whose every packet is here.
    fn whole_keyframe_held(&mut self, next: u16) -> Option<u16> {
        let held = &self.held;
        self.keyframes_held
            .retain(|&k| held.contains_key(&k) && k.wrapping_sub(next) < 0x8000);
        self.keyframes_held.iter().copied().find(|&first| {
            let timestamp = held[&first].timestamp;
            (0..MAX_HELD as u16)
                .map(|i| held.get(&first.wrapping_add(i)))
                .take_while(|p| p.is_some_and(|p| p.timestamp == timestamp))
                .any(|p| p.is_some_and(|p| p.marker))
        })
    }

    fn push_audio(
        &mut self,
        seq: u16,
        ahead: u16,
        p: Held,
        now: Instant,
        deliver: &dyn Fn(RemoteFrame),
    ) -> u64 {
        let pass = |p: Held| {
            deliver(RemoteFrame {
                user_id: Arc::clone(&self.user_id),
                kind: self.kind,
                data: p.payload.to_vec(),
                rtp_timestamp: p.timestamp,
                keyframe: false,
                held: now.duration_since(p.arrived),
                after_loss: false,
            });
        };
        if ahead == 0 && self.held.is_empty() {
            self.next_seq = Some(seq.wrapping_add(1));
            pass(p);
            return 0;
        }
        self.held.entry(seq).or_insert(p);
        let mut lost = 0;
        loop {
            let mut next = self.next_seq.unwrap_or(seq);
            while let Some(p) = self.held.remove(&next) {
                next = next.wrapping_add(1);
                pass(p);
            }
            self.next_seq = Some(next);
            let Some((&oldest, first_after)) =
                self.held.iter().min_by_key(|(s, _)| s.wrapping_sub(next))
            else {
                return lost;
            };
            // Held packets move only when another arrives (one per 20 ms): wait on only if
            // the next one is due before the wait runs out.
            let waited = now.duration_since(first_after.arrived) + AUDIO_PACKET_GAP;
            if waited <= self.audio_wait && self.held.len() <= MAX_HELD {
                return lost;
            }
            lost += u64::from(oldest.wrapping_sub(next));
            self.next_seq = Some(oldest);
        }
    }

    /// Consumes held packets while the next one in sequence is there.
    fn drain(&mut self, now: Instant, deliver: &dyn Fn(RemoteFrame)) {
        while let Some(seq) = self.next_seq {
            let Some(p) = self.held.remove(&seq) else {
                return;
            };
            self.next_seq = Some(seq.wrapping_add(1));
            self.consume(p, now, deliver);
        }
    }

    /// Adds a packet, in sequence, to the access unit; delivers the unit at its marker, with
    /// how long it waited here since its first packet arrived (the jitter buffer's delay).
    fn consume(&mut self, p: Held, now: Instant, deliver: &dyn Fn(RemoteFrame)) {
        let skipped = std::mem::take(&mut self.skipped);
        if self.timestamp != Some(p.timestamp) {
            // A new access unit began before the last one's marker: the last one is incomplete.
            if self.timestamp.is_some() {
                self.dropped_unit = true;
            }
            self.buf.clear();
            // The depacketiser keeps a fragmented NAL unit's start until its end: an end lost
            // with the last unit would be glued onto this unit's first fragmented NAL unit
            // (keyframes after a loss arrived whole and still failed to decode).
            self.h264 = H264Packet::default();
            self.broken = skipped;
            self.timestamp = Some(p.timestamp);
            self.started = Some(p.arrived);
        } else if skipped {
            self.broken = true;
        }
        if !stap_a_well_formed(&p.payload) {
            // The library indexes past the end of a truncated aggregation packet (a panic
            // found by fuzzing, rtc-rtp 0.21.1): whatever a publisher sends must not end the
            // subscriber, so such a packet breaks only its access unit.
            self.broken = true;
        } else {
            match self.h264.depacketize(&p.payload) {
                Ok(nal) => self.buf.extend_from_slice(&nal),
                Err(_) => self.broken = true,
            }
        }
        if p.marker {
            let data = std::mem::take(&mut self.buf);
            if !self.broken && !data.is_empty() {
                deliver(RemoteFrame {
                    user_id: Arc::clone(&self.user_id),
                    kind: self.kind,
                    keyframe: has_idr(&data),
                    data,
                    rtp_timestamp: p.timestamp,
                    held: self
                        .started
                        .map_or(Duration::ZERO, |t| now.duration_since(t)),
                    after_loss: std::mem::take(&mut self.dropped_unit),
                });
            } else {
                self.dropped_unit = true;
            }
            self.broken = false;
            self.timestamp = None;
            self.started = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A single-NAL-unit packet (type 1, a non-IDR slice) whose first byte after the header is
    /// `tag` (the depacketiser wants more than two bytes).
    fn packet(seq: u16, timestamp: u32, marker: bool, tag: u8) -> rtc::rtp::Packet {
        let mut p = rtc::rtp::Packet::default();
        p.header.sequence_number = seq;
        p.header.timestamp = timestamp;
        p.header.marker = marker;
        p.payload = Bytes::from(vec![0x41, tag, 0]);
        p
    }

    /// Feeds `(seq, timestamp, marker, ms after start)` and returns the tags of each access
    /// unit delivered, and the packets counted lost.
    fn run(packets: &[(u16, u32, bool, u64)]) -> (Vec<Vec<u8>>, u64) {
        let out = RefCell::new(vec![]);
        let lost = feed(packets, &|f: RemoteFrame| {
            // Annex B: each NAL unit is 00 00 00 01 41 tag 00; keep the tags.
            let tags = f.data.chunks(7).map(|c| c[5]).collect();
            out.borrow_mut().push(tags);
        });
        (out.into_inner(), lost)
    }

    /// Feeds `(seq, timestamp, marker, ms after start)` (each packet tagged with its `seq`) to
    /// a new video assembler; returns the packets counted lost.
    fn feed(packets: &[(u16, u32, bool, u64)], deliver: &dyn Fn(RemoteFrame)) -> u64 {
        let start = Instant::now();
        let mut a = Assembler::new("u".into(), StreamKind::Big);
        packets
            .iter()
            .map(|&(seq, ts, marker, ms)| {
                let p = packet(seq, ts, marker, seq as u8);
                a.push(&p, start + Duration::from_millis(ms), deliver)
            })
            .sum()
    }

    #[test]
    fn a_truncated_aggregation_packet_breaks_its_unit_and_nothing_else() {
        // STAP-A whose second unit has one length byte: the library's depacketiser indexes
        // past the end of it (the fuzzer's find).
        let mut bad = packet(2, 10, true, 0);
        bad.payload = Bytes::from(vec![24, 0, 1, 0x41, 0]);
        let start = Instant::now();
        let out = RefCell::new(vec![]);
        let deliver = |f: RemoteFrame| out.borrow_mut().push(f.rtp_timestamp);
        let mut a = Assembler::new("u".into(), StreamKind::Big);
        a.push(&packet(1, 10, false, 1), start, &deliver);
        a.push(&bad, start, &deliver);
        a.push(&packet(3, 20, true, 3), start, &deliver);
        assert_eq!(
            out.into_inner(),
            vec![20],
            "the broken unit is dropped, the next one plays"
        );
        assert!(stap_a_well_formed(&[24, 0, 1, 0x41]));
        assert!(!stap_a_well_formed(&[24, 0, 1, 0x41, 0]));
        assert!(stap_a_well_formed(&[0x41, 1]));
    }

    #[test]
    fn in_order_packets_make_access_units_at_once() {
        let (units, lost) = run(&[(1, 10, false, 0), (2, 10, true, 0), (3, 20, true, 33)]);
        assert_eq!(units, vec![vec![1, 2], vec![3]]);
        assert_eq!(lost, 0);
    }

    #[test]
    fn a_retransmission_fills_its_gap_and_nothing_is_lost() {
        // 3 is lost and comes back 60 ms later, after 4 and 5 (the next picture).
        let (units, lost) = run(&[
            (1, 10, false, 0),
            (2, 10, false, 0),
            (4, 10, true, 1),
            (5, 20, true, 33),
            (3, 10, false, 60),
            (6, 30, true, 66),
        ]);
        assert_eq!(units, vec![vec![1, 2, 3, 4], vec![5], vec![6]]);
        assert_eq!(lost, 0);
    }

    #[test]
    fn a_gap_not_filled_in_time_drops_only_its_picture() {
        let (units, lost) = run(&[
            (1, 10, false, 0),
            (3, 10, true, 1),
            (4, 20, true, 33),
            (5, 30, true, 200),
            (2, 10, false, 210), // too late: given up
            (6, 40, true, 233),
        ]);
        assert_eq!(units, vec![vec![4], vec![5], vec![6]]);
        assert_eq!(lost, 1);
    }

    #[test]
    fn gaps_close_together_wait_together() {
        // Three gaps (2, 4, 6), each seen 10 ms after the last: all are given up by 170 ms, not
        // 3 × 150 ms, so 8 is out at once. (3, 5 and 7 go with their gaps: a lost packet just
        // before a picture may have been its first.)
        let (units, lost) = run(&[
            (1, 10, true, 0),
            (3, 30, true, 0),
            (5, 50, true, 10),
            (7, 70, true, 20),
            (8, 80, true, 170),
        ]);
        assert_eq!(units, vec![vec![1], vec![8]]);
        assert_eq!(lost, 3);
    }

    #[test]
    fn on_a_long_path_the_wait_learns_to_outlast_retransmissions() {
        // One packet a picture every 10 ms; every 20th is lost and its retransmission comes
        // 320 ms after the gap is seen (100 ms each way and the NACK cycle). The first gaps
        // are given up at 150 ms; their late packets teach the wait, and later gaps fill.
        let mut arrivals: Vec<(u16, u32, bool, u64)> = (1..=600u16)
            .map(|seq| {
                let ms = u64::from(seq) * 10;
                let ms = if seq % 20 == 0 { ms + 10 + 320 } else { ms };
                (seq, u32::from(seq), true, ms)
            })
            .collect();
        arrivals.sort_by_key(|a| a.3);
        let (units, lost) = run(&arrivals);
        // With the fixed 150 ms of before, all 30 gaps were given up.
        assert!(
            (1..=3).contains(&lost),
            "the first gaps given up, the rest filled: {lost} of 30 lost"
        );
        // A given-up packet takes the picture after it along (it may have been its first).
        assert_eq!(
            units.len() as u64,
            600 - 2 * lost,
            "every other picture whole"
        );
    }

    #[test]
    fn the_picture_after_a_lost_one_says_so() {
        // Picture 20 loses its last packet (3) for good; 30 and 40 arrive whole.
        let out = RefCell::new(vec![]);
        let packets = [
            (1, 10, true, 0),
            (2, 20, false, 66),
            (4, 30, true, 133),
            (5, 40, true, 400),
            (6, 50, true, 466),
        ];
        feed(&packets, &|f: RemoteFrame| {
            out.borrow_mut().push((f.rtp_timestamp, f.after_loss))
        });
        // 30 went with the gap (its first packet may have been the lost one), so 40 is the
        // first whole picture after the loss.
        assert_eq!(out.into_inner(), vec![(10, false), (40, true), (50, false)]);
    }

    #[test]
    fn a_whole_keyframe_behind_a_gap_goes_on_at_once() {
        // Picture 20 loses packet 3; the keyframe 30 (4: SPS, 5: IDR) arrives whole 1 ms
        // after packet 2, long before any repair could.
        let out = RefCell::new(vec![]);
        let start = Instant::now();
        let mut a = Assembler::new("u".into(), StreamKind::Big);
        let deliver = |f: RemoteFrame| {
            out.borrow_mut()
                .push((f.rtp_timestamp, f.keyframe, f.after_loss))
        };
        let mut sps = packet(4, 30, false, 4);
        sps.payload = Bytes::from(vec![0x67, 4, 0]);
        let mut idr = packet(5, 30, true, 5);
        idr.payload = Bytes::from(vec![0x65, 5, 0]);
        let at = |ms| start + Duration::from_millis(ms);
        a.push(&packet(1, 10, true, 1), at(0), &deliver);
        a.push(&packet(2, 20, false, 2), at(66), &deliver);
        assert_eq!(a.push(&sps, at(67), &deliver), 0, "a gap, waited on");
        assert_eq!(
            a.push(&idr, at(67), &deliver),
            1,
            "the keyframe ends the wait"
        );
        a.push(&packet(6, 40, true, 6), at(133), &deliver);
        assert_eq!(
            out.into_inner(),
            vec![(10, false, false), (30, true, true), (40, false, false)]
        );
    }

    #[test]
    fn a_keyframe_still_arriving_when_the_gap_before_it_is_given_up_is_whole() {
        // Packets 2–3 are never sent; the keyframe (4: SPS, 5: IDR, 6: IDR end) arrives one
        // packet per 100 ms, so the wait for the gap runs out while it is still coming.
        let out = RefCell::new(vec![]);
        let start = Instant::now();
        let mut a = Assembler::new("u".into(), StreamKind::Big);
        let deliver = |f: RemoteFrame| out.borrow_mut().push((f.rtp_timestamp, f.keyframe));
        let with = |seq, marker, payload: Vec<u8>| {
            let mut p = packet(seq, 30, marker, 0);
            p.payload = Bytes::from(payload);
            p
        };
        let at = |ms| start + Duration::from_millis(ms);
        a.push(&packet(1, 10, true, 1), at(0), &deliver);
        a.push(&with(4, false, vec![0x67, 4, 0]), at(100), &deliver);
        a.push(&with(5, false, vec![0x7c, 0x85, 5]), at(300), &deliver);
        a.push(&with(6, true, vec![0x7c, 0x45, 6]), at(900), &deliver);
        assert_eq!(out.into_inner(), vec![(10, false), (30, true)]);
    }

    #[test]
    fn a_fragment_lost_with_its_unit_leaves_nothing_in_the_next() {
        // Unit 10: an IDR fragment's start (1) whose end (2) is lost; unit 20, whole behind
        // the gap: an SPS (3) and an IDR in two fragments (4, 5).
        let with = |seq, ts, marker, payload: Vec<u8>| {
            let mut p = packet(seq, ts, marker, 0);
            p.payload = Bytes::from(payload);
            p
        };
        let out = RefCell::new(vec![]);
        let start = Instant::now();
        let mut a = Assembler::new("u".into(), StreamKind::Big);
        let deliver = |f: RemoteFrame| out.borrow_mut().push(f.data);
        a.push(&with(1, 10, false, vec![0x7c, 0x85, 0xaa]), start, &deliver);
        a.push(&with(3, 20, false, vec![0x67, 0xbb, 0]), start, &deliver);
        a.push(&with(4, 20, false, vec![0x7c, 0x85, 0xcc]), start, &deliver);
        a.push(&with(5, 20, true, vec![0x7c, 0x45, 0xdd]), start, &deliver);
        let sps = [0, 0, 0, 1, 0x67, 0xbb, 0];
        let idr = [0, 0, 0, 1, 0x65, 0xcc, 0xdd];
        assert_eq!(out.into_inner(), vec![[sps, idr].concat()]);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let (units, lost) = run(&[
            (65534, 10, true, 0),
            (0, 20, true, 66),
            (65535, 15, true, 70),
        ]);
        assert_eq!(units, vec![vec![254], vec![255], vec![0]]);
        assert_eq!(lost, 0);
    }

    #[test]
    fn duplicates_are_ignored() {
        let (units, _) = run(&[(1, 10, true, 0), (1, 10, true, 1), (2, 20, true, 33)]);
        assert_eq!(units, vec![vec![1], vec![2]]);
    }

    #[test]
    fn a_picture_held_behind_a_gap_reports_its_wait() {
        let held = RefCell::new(vec![]);
        let packets = [
            (1, 10, false, 0),
            (3, 10, true, 2),
            (2, 10, false, 60),
            (4, 20, true, 70),
        ];
        feed(&packets, &|f: RemoteFrame| {
            held.borrow_mut().push(f.held.as_millis())
        });
        assert_eq!(held.into_inner(), vec![60, 0]);
    }

    /// Feeds audio packets `(seq, ms after start)` to an assembler waiting `wait_jitter_ms`'s
    /// worth; returns the sequence numbers delivered, in order, and the count given up.
    fn run_audio(jitter_ms: f64, packets: &[(u16, u64)]) -> (Vec<u16>, u64) {
        let start = Instant::now();
        let out = RefCell::new(vec![]);
        let deliver = |f: RemoteFrame| out.borrow_mut().push((f.rtp_timestamp / 960) as u16);
        let mut a = Assembler::new("u".into(), StreamKind::Audio);
        a.set_audio_wait(jitter_ms);
        let mut lost = 0;
        for &(seq, ms) in packets {
            let mut p = rtc::rtp::Packet::default();
            p.header.sequence_number = seq;
            p.header.timestamp = u32::from(seq) * 960;
            p.payload = Bytes::from_static(&[1, 2, 3]);
            lost += a.push(&p, start + Duration::from_millis(ms), &deliver);
        }
        (out.into_inner(), lost)
    }

    #[test]
    fn on_a_jittery_path_audio_that_overtook_is_put_back_in_order() {
        // ~20 ms of jitter: 3 arrives 25 ms after 4.
        let (order, lost) = run_audio(20.0, &[(1, 0), (2, 20), (4, 55), (3, 80), (5, 100)]);
        assert_eq!(order, vec![1, 2, 3, 4, 5]);
        assert_eq!(lost, 0);
    }

    #[test]
    fn on_a_steady_path_a_lost_audio_packet_costs_no_wait() {
        let (order, lost) = run_audio(1.0, &[(1, 0), (2, 20), (4, 60), (5, 80), (3, 90)]);
        assert_eq!(
            order,
            vec![1, 2, 4, 5],
            "4 passes at once; 3 comes too late"
        );
        assert_eq!(lost, 1);
        let (order, lost) = run_audio(500.0, &[(1, 0), (3, 40), (4, 60), (5, 80), (6, 100)]);
        assert_eq!(
            order,
            vec![1, 3, 4, 5, 6],
            "never more than 60 ms of waiting"
        );
        assert_eq!(lost, 1);
    }
}
