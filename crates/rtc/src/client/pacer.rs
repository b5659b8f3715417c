//! The publisher's pacer, in the library's pacer slot: audio leaves before any video waiting,
//! and how long the oldest waiting video packet has waited is published, so the video encoder
//! can skip pictures rather than queue them.
//!
//! webrtc 0.21's pacer is one FIFO of up to 4,096 packets for every track. Through a 300 kbps
//! link (the links benchmark) each keyframe and each overshoot of the encoder queued there,
//! glass-to-glass rose to 2.4–3.5 s, and the tone, stuck behind the video, was heard in 72 %
//! of 20 ms frames. libwebrtc sends audio first for the same reason, and pauses the encoder
//! while its pacer queue is long.

use rtc::interceptor::{Attribute, Interceptor, Pacer, Packet, StreamInfo, TaggedPacket};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use rtc::shared::marshal::MarshalSize;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub(super) struct PriorityPacer {
    bucket: Pacer,
    audio_ssrcs: HashSet<u32>,
    audio: VecDeque<TaggedPacket>,
    video: VecDeque<(Instant, TaggedPacket)>,
    /// Released, on their way on through the chain.
    released: VecDeque<TaggedPacket>,
    /// Not paced (RTCP), straight on.
    unpaced: VecDeque<TaggedPacket>,
    reads: VecDeque<TaggedPacket>,
    /// How long the oldest queued video packet has waited, µs, as of the last release.
    video_wait_us: Arc<AtomicU64>,
}

impl PriorityPacer {
    pub(super) fn new(start_bps: f64, video_wait_us: Arc<AtomicU64>) -> Self {
        PriorityPacer {
            bucket: Pacer::new(start_bps),
            audio_ssrcs: HashSet::new(),
            audio: VecDeque::new(),
            video: VecDeque::new(),
            released: VecDeque::new(),
            unpaced: VecDeque::new(),
            reads: VecDeque::new(),
            video_wait_us,
        }
    }

    fn bits(p: &TaggedPacket) -> f64 {
        match &p.message.packet {
            Packet::Rtp(rtp) => (rtp.marshal_size() * 8) as f64,
            _ => 0.0,
        }
    }

    fn head_bits(&self) -> Option<f64> {
        self.audio
            .front()
            .or_else(|| self.video.front().map(|(_, p)| p))
            .map(Self::bits)
    }

    fn note_video_wait(&self, now: Instant) {
        let waited = self.video.front().map_or(0, |(at, _)| {
            now.saturating_duration_since(*at).as_micros() as u64
        });
        self.video_wait_us.store(waited, Ordering::Relaxed);
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
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        let audio = match &msg.message.packet {
            Packet::Rtp(rtp) => self.audio_ssrcs.contains(&rtp.header.ssrc),
            // RTCP (and whatever else the chain carries) is not paced: feedback is worth
            // something only while it is fresh.
            _ => {
                self.unpaced.push_back(msg);
                return Ok(());
            }
        };
        // Current at enqueue time, so the deadline `poll_timeout` gives is never in the past.
        self.bucket.refill(msg.now);
        if audio {
            self.audio.push_back(msg);
        } else {
            self.video.push_back((msg.now, msg));
        }
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.unpaced
            .pop_front()
            .or_else(|| self.released.pop_front())
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        self.bucket.refill(now);
        while let Some(bits) = self.head_bits() {
            if !self.bucket.can_release(bits) {
                break;
            }
            let mut p = match self.audio.pop_front() {
                Some(p) => p,
                None => match self.video.pop_front() {
                    Some((_, p)) => p,
                    None => break,
                },
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
        // When the head can go; nothing queued, no wake-up.
        self.bucket.releasable_at(self.head_bits()?)
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
    use std::time::Duration;

    const AUDIO: u32 = 1;
    const VIDEO: u32 = 2;

    fn rtp(ssrc: u32, seq: u16, bytes: usize, now: Instant) -> TaggedPacket {
        let mut p = rtc::rtp::Packet::default();
        p.header.ssrc = ssrc;
        p.header.sequence_number = seq;
        p.payload = bytes::Bytes::from(vec![0u8; bytes]);
        TransportMessage {
            now,
            transport: Default::default(),
            message: AttributedPacket::new(Packet::Rtp(p)),
        }
    }

    fn sent(pacer: &mut PriorityPacer) -> Vec<(u32, u16)> {
        std::iter::from_fn(|| pacer.poll_write())
            .filter_map(|p| match p.message.packet {
                Packet::Rtp(r) => Some((r.header.ssrc, r.header.sequence_number)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn audio_overtakes_waiting_video_and_the_wait_is_told() {
        let t0 = Instant::now();
        let wait = Arc::new(AtomicU64::new(0));
        // 100 kbps: a 1,200-byte packet every ~0.1 s once the first burst is spent.
        let mut pacer = PriorityPacer::new(100_000.0, Arc::clone(&wait));
        pacer.bind_local_stream(&StreamInfo {
            ssrc: AUDIO,
            mime_type: "audio/opus".into(),
            ..Default::default()
        });
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
}
