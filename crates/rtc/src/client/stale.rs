//! Which queued video is too old to send, and what dropping it leaves the receiver with.
//!
//! A picture that has waited [`STALE_AFTER`] in the pacer reaches the other side later than
//! anyone watching wants it, and every picture after it depends on it, so its stream's queued
//! packets go together and a keyframe is asked of our own encoder (the receiver would only
//! ask for one after NACKs for the gap had failed, a round trip or more later). What is
//! dropped is remembered, so the receiver's NACKs for it are not answered either.
//!
//! A keyframe is what a receiver needs to go on, so it is never dropped: stale pictures queued
//! before one are dropped without asking for another, and for [`RESYNC_GRACE`] after one has
//! left, its stream is not dropped from at all (the pictures behind a slow keyframe are late,
//! but dropping them would cost another keyframe, which is later still). Without those two
//! rules a link too slow for a keyframe in [`STALE_AFTER`] would drop every keyframe it was
//! given and never show a picture.

use rtc::interceptor::{Packet, TaggedPacket};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Video queued this long is dropped rather than sent. The encoder already skips pictures
/// once video has waited 200 ms; this is for what was queued before the rate fell.
pub(crate) const STALE_AFTER: Duration = Duration::from_millis(400);
/// After a keyframe has left, nothing of its stream is dropped for this long.
const RESYNC_GRACE: Duration = Duration::from_secs(1);
/// Dropped packets remembered so their NACKs go unanswered: a few seconds of video.
const DROPPED_MEMORY: usize = 2_048;

/// One queued video packet and what the drop rules need to know of it.
pub(crate) struct VideoPacket {
    pub queued_at: Instant,
    ssrc: u32,
    seq: u16,
    /// Part of a keyframe (an access unit with an IDR slice or parameter sets).
    pub keyframe: bool,
    pub packet: TaggedPacket,
}

#[derive(Debug, Clone, Copy)]
struct Keyframe {
    /// Its RTP timestamp: every packet of the access unit carries it.
    timestamp: u32,
    released_at: Option<Instant>,
}

#[derive(Debug, Default)]
pub(crate) struct Staleness {
    /// The newest keyframe queued per SSRC.
    keyframes: HashMap<u32, Keyframe>,
    dropped: HashSet<(u32, u16)>,
    dropped_order: VecDeque<(u32, u16)>,
}

impl Staleness {
    /// Wraps a video packet queued now, noting whether it belongs to a keyframe.
    pub(crate) fn classify(&mut self, packet: TaggedPacket) -> VideoPacket {
        let (ssrc, seq, keyframe) = match &packet.message.packet {
            Packet::Rtp(rtp) => {
                let h = &rtp.header;
                let keyframe = if starts_keyframe(&rtp.payload) {
                    let k = Keyframe {
                        timestamp: h.timestamp,
                        released_at: None,
                    };
                    self.keyframes.insert(h.ssrc, k);
                    true
                } else {
                    self.keyframes
                        .get(&h.ssrc)
                        .is_some_and(|k| k.timestamp == h.timestamp)
                };
                (h.ssrc, h.sequence_number, keyframe)
            }
            _ => (0, 0, false),
        };
        VideoPacket {
            queued_at: packet.now,
            ssrc,
            seq,
            keyframe,
            packet,
        }
    }

    /// `packet` left the pacer at `now`.
    pub(crate) fn released(&mut self, now: Instant, packet: &VideoPacket) {
        if packet.keyframe {
            if let Some(k) = self.keyframes.get_mut(&packet.ssrc) {
                k.released_at = Some(now);
            }
        }
    }

    /// Whether `seq` of `ssrc` was dropped here (so a retransmission of it is not wanted).
    pub(crate) fn was_dropped(&self, ssrc: u32, seq: u16) -> bool {
        self.dropped.contains(&(ssrc, seq))
    }

    /// Drops what has gone stale at the front of `video`; the SSRCs that need a keyframe.
    pub(crate) fn drop_stale(
        &mut self,
        now: Instant,
        video: &mut VecDeque<VideoPacket>,
    ) -> Vec<u32> {
        let mut ask = vec![];
        while let Some(front) = video.front() {
            if front.keyframe || now.saturating_duration_since(front.queued_at) < STALE_AFTER {
                break;
            }
            let ssrc = front.ssrc;
            let resyncing = self
                .keyframes
                .get(&ssrc)
                .and_then(|k| k.released_at)
                .is_some_and(|at| now.saturating_duration_since(at) < RESYNC_GRACE);
            if resyncing {
                break;
            }
            let keyframe_queued = video.iter().any(|v| v.ssrc == ssrc && v.keyframe);
            let mut reached_keyframe = false;
            let mut gone = vec![];
            video.retain(|v| {
                if v.ssrc != ssrc || reached_keyframe {
                    return true;
                }
                reached_keyframe = v.keyframe;
                if !v.keyframe {
                    gone.push(v.seq);
                }
                v.keyframe
            });
            for seq in gone {
                self.remember_dropped(ssrc, seq);
            }
            if !keyframe_queued {
                ask.push(ssrc);
            }
        }
        ask
    }

    fn remember_dropped(&mut self, ssrc: u32, seq: u16) {
        if self.dropped.insert((ssrc, seq)) {
            self.dropped_order.push_back((ssrc, seq));
        }
        while self.dropped_order.len() > DROPPED_MEMORY {
            if let Some(old) = self.dropped_order.pop_front() {
                self.dropped.remove(&old);
            }
        }
    }
}

/// Whether an H.264 RTP payload (RFC 6184) starts or carries part of a keyframe: an IDR slice
/// or a sequence parameter set, alone, in a STAP-A, or fragmented in FU-A.
fn starts_keyframe(payload: &[u8]) -> bool {
    const IDR: u8 = 5;
    const SPS: u8 = 7;
    const STAP_A: u8 = 24;
    const FU_A: u8 = 28;
    let key = |nal_header: u8| matches!(nal_header & 0x1f, IDR | SPS);
    match payload.first().map(|b| b & 0x1f) {
        Some(STAP_A) => {
            let mut rest = payload.get(1..).unwrap_or_default();
            while let [hi, lo, nal, ..] = *rest {
                if key(nal) {
                    return true;
                }
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                rest = rest.get(2 + len..).unwrap_or_default();
            }
            false
        }
        Some(FU_A) => payload.get(1).is_some_and(|&fu| key(fu)),
        Some(_) => payload.first().is_some_and(|&nal| key(nal)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::starts_keyframe;

    #[test]
    fn keyframes_are_told_in_every_packetisation() {
        assert!(starts_keyframe(&[0x65, 1, 2]), "an IDR slice");
        assert!(!starts_keyframe(&[0x41, 1, 2]), "a P slice");
        // STAP-A: SPS (2 bytes), PPS (2 bytes).
        assert!(starts_keyframe(&[0x78, 0, 2, 0x67, 9, 0, 2, 0x68, 9]));
        assert!(
            !starts_keyframe(&[0x78, 0, 2, 0x06, 9, 0, 2, 0x41, 9]),
            "SEI and P"
        );
        assert!(starts_keyframe(&[0x7c, 0x05, 1]), "an IDR fragment");
        assert!(!starts_keyframe(&[0x7c, 0x01, 1]), "a P fragment");
        assert!(
            !starts_keyframe(&[0x78, 0, 200, 0x41]),
            "a truncated STAP-A"
        );
        assert!(!starts_keyframe(&[]));
    }
}
