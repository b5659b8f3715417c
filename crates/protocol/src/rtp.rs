//! What both ends of a peer connection agree on without negotiating: payload types, codec
//! parameters and the names that tie an RTP track to a user's stream.
//!
//! Every peer connection (client publisher, client subscriber, and the server's side of both)
//! registers exactly these codecs with exactly these payload types, so the SFU can forward a
//! packet from one connection to another without rewriting its payload type.

/// Opus, 48 kHz (signalled with two channels as RFC 7587 requires; we send mono).
pub const PT_OPUS: u8 = 111;
/// H.264, packetization mode 1.
pub const PT_H264: u8 = 102;
/// RTP clock rate of video.
pub const VIDEO_CLOCK_RATE: u32 = 90_000;
/// RTP clock rate of Opus.
pub const AUDIO_CLOCK_RATE: u32 = 48_000;
/// H.264 format parameters: constrained baseline (what openh264 produces), level 3.1.
pub const H264_FMTP: &str =
    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
/// Opus format parameters.
pub const OPUS_FMTP: &str = "minptime=10;useinbandfec=1";

/// Which of a user's streams an RTP track carries; its name is the track id in the SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamKind {
    /// Microphone audio.
    Audio,
    /// The big (camera) video stream; TRTC streamType 0.
    Big,
    /// The sub stream (screen share); TRTC streamType 2.
    Sub,
}

impl StreamKind {
    /// All kinds, in the order their transceivers are created.
    pub const ALL: [StreamKind; 3] = [StreamKind::Audio, StreamKind::Big, StreamKind::Sub];

    /// The track id used in SDP.
    pub fn track_id(self) -> &'static str {
        match self {
            StreamKind::Audio => "audio",
            StreamKind::Big => "big",
            StreamKind::Sub => "sub",
        }
    }

    /// Parses a track id: the kind's name, optionally followed by `:` and the publisher's
    /// userId (the SFU's form: track ids must be unique within a peer connection, and a
    /// receiver that sees two tracks with one id treats them as one).
    pub fn from_track_id(id: &str) -> Option<StreamKind> {
        let kind = id.split_once(':').map_or(id, |(k, _)| k);
        StreamKind::ALL.into_iter().find(|k| k.track_id() == kind)
    }

    /// The SFU's track id for this kind of `user_id`'s streams.
    pub fn forwarded_track_id(self, user_id: &str) -> String {
        format!("{}:{user_id}", self.track_id())
    }

    /// Video or audio.
    pub fn is_video(self) -> bool {
        self != StreamKind::Audio
    }

    /// TRTC's streamType for video kinds (0 big, 2 sub).
    pub fn stream_type(self) -> u8 {
        match self {
            StreamKind::Sub => 2,
            _ => 0,
        }
    }

    /// The video kind of a TRTC streamType (2 sub, anything else big).
    pub fn from_stream_type(stream_type: u8) -> StreamKind {
        if stream_type == 2 {
            StreamKind::Sub
        } else {
            StreamKind::Big
        }
    }

    /// Sets this kind in `state`.
    pub fn set_in_state(self, state: &mut crate::messages::MediaState, on: bool) {
        match self {
            StreamKind::Audio => state.audio = on,
            StreamKind::Big => state.video = on,
            StreamKind::Sub => state.sub = on,
        }
    }

    /// What a person calls it.
    pub fn describe(self) -> &'static str {
        match self {
            StreamKind::Audio => "audio",
            StreamKind::Big => "camera",
            StreamKind::Sub => "screen",
        }
    }

    /// Whether `state` has this kind published.
    pub fn in_state(self, state: &crate::messages::MediaState) -> bool {
        match self {
            StreamKind::Audio => state.audio,
            StreamKind::Big => state.video,
            StreamKind::Sub => state.sub,
        }
    }
}

/// The RTP timestamp of a capture instant: the capture time in microseconds since the Unix
/// epoch, in the stream's clock rate, modulo 2^32. Senders use it instead of a random offset so
/// that a receiver (with a synchronised clock) reads capture-to-now delay off every packet,
/// through any number of forwarding hops, without per-hop sender-report translation.
pub fn rtp_timestamp(capture_unix_us: u64, clock_rate: u32) -> u32 {
    ((capture_unix_us as u128 * clock_rate as u128 / 1_000_000) & 0xffff_ffff) as u32
}

/// Milliseconds from the capture instant encoded in `ts` to `now_unix_us`. Wraps correctly
/// (the RTP timestamp wraps every 13 h at 90 kHz); a sender clock ahead of ours gives a
/// negative value, which callers clamp.
pub fn capture_age_ms(ts: u32, now_unix_us: u64, clock_rate: u32) -> i64 {
    let now_ts = rtp_timestamp(now_unix_us, clock_rate);
    let diff = now_ts.wrapping_sub(ts) as i32 as i64;
    diff * 1000 / clock_rate as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_age_survives_the_wrap() {
        let t = 1_700_000_000_000_000u64;
        assert_eq!(
            capture_age_ms(rtp_timestamp(t, 90_000), t + 42_000, 90_000),
            42
        );
        // Find an instant just before the 32-bit wrap and look across it.
        let period_us = (1u64 << 32) * 1_000_000 / 90_000;
        let before_wrap = (t / period_us + 1) * period_us - 5_000;
        let ts = rtp_timestamp(before_wrap, 90_000);
        assert_eq!(capture_age_ms(ts, before_wrap + 30_000, 90_000), 30);
        assert_eq!(
            capture_age_ms(rtp_timestamp(t + 10_000, 48_000), t, 48_000),
            -10
        );
    }

    #[test]
    fn track_ids_round_trip() {
        for k in StreamKind::ALL {
            assert_eq!(StreamKind::from_track_id(k.track_id()), Some(k));
        }
        assert_eq!(StreamKind::from_track_id("camera"), None);
        assert_eq!(
            StreamKind::from_track_id(&StreamKind::Sub.forwarded_track_id("a:b")),
            Some(StreamKind::Sub)
        );
    }
}
