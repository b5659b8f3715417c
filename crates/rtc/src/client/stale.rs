//! Which queued video is too old to send, and what dropping it leaves the receiver with.
//!
//! A picture that has waited [`STALE_AFTER`] in the pacer reaches the other side later than
//! anyone watching wants it, and every picture after it depends on it, so its stream's queued
//! packets go together and a keyframe is asked of our own encoder (the receiver would only
//! ask for one after NACKs for the gap had failed, a round trip or more later). What is
//! dropped is remembered, so the receiver's NACKs for it are not answered either. Nor are
//! NACKs for anything sent before the stream's newest keyframe: the receiver goes on from the
//! keyframe, and under a link that has just been overrun, repairing the pictures before it
//! spent the retransmission budget the keyframe's own repairs needed (pictures stopped for 3 s
//! after a step from 2 Mbps to 300 kbps).
//!
//! A keyframe is what a receiver needs to go on, so it is never dropped: stale pictures queued
//! before one are dropped without asking for another, and for [`RESYNC_GRACE`] after one has
//! left, its stream is not dropped from at all (the pictures behind a slow keyframe are late,
//! but dropping them would cost another keyframe, which is later still). Without those two
//! rules a link too slow for a keyframe in [`STALE_AFTER`] would drop every keyframe it was
//! given and never show a picture.

use super::h264::starts_keyframe;
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
    /// Its first packet's sequence number.
    first_seq: u16,
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
                    let known = self.keyframes.get(&h.ssrc);
                    if known.is_none_or(|k| k.timestamp != h.timestamp) {
                        let k = Keyframe {
                            timestamp: h.timestamp,
                            first_seq: h.sequence_number,
                            released_at: None,
                        };
                        self.keyframes.insert(h.ssrc, k);
                    }
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

    /// Whether a retransmission of `seq` of `ssrc` is wanted no more: it was dropped here, or
    /// it was sent before the stream's newest keyframe.
    pub(crate) fn superseded(&self, ssrc: u32, seq: u16) -> bool {
        let before_keyframe = self.keyframes.get(&ssrc).is_some_and(|k| {
            let behind = k.first_seq.wrapping_sub(seq);
            (1..0x8000).contains(&behind)
        });
        before_keyframe || self.dropped.contains(&(ssrc, seq))
    }

    /// The link was overrun, and its queue lost part of what went before: everything queued
    /// that may be dropped is; the streams without a keyframe queued need one.
    pub(crate) fn overrun(&mut self, now: Instant, video: &mut VecDeque<VideoPacket>) -> Vec<u32> {
        let mut ask = self.drop_stale(now, Duration::ZERO, video);
        for &ssrc in self.keyframes.keys() {
            let on_its_way = video.iter().any(|v| v.ssrc == ssrc && v.keyframe);
            if !on_its_way && !ask.contains(&ssrc) {
                ask.push(ssrc);
            }
        }
        ask
    }

    /// Drops what has waited `older_than` (normally [`STALE_AFTER`]) at the front of `video`;
    /// the SSRCs that need a keyframe.
    pub(crate) fn drop_stale(
        &mut self,
        now: Instant,
        older_than: Duration,
        video: &mut VecDeque<VideoPacket>,
    ) -> Vec<u32> {
        let mut ask = vec![];
        while let Some(front) = video.front() {
            if front.keyframe || now.saturating_duration_since(front.queued_at) < older_than {
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
