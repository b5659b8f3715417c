//! What every publisher sends: a few seconds of the test pattern and the tone, encoded once at
//! start and replayed, so that a hundred publishers cost a hundred packetisers, not a hundred
//! encoders, and the machine's limit is the server's.
//!
//! The video clip is one GOP (a keyframe, then P-frames). Replaying it from the top after its
//! end breaks the references, which a decoder would notice and our receivers, which never
//! decode, do not; a keyframe request starts it from the top at once, as a real encoder would
//! send an IDR.

use anyhow::Context;
use trtc_media::codec::h264::{H264Config, H264Encoder};
use trtc_media::codec::opus::{frame_samples, OpusEncoder};
use trtc_media::params::TrtcAudioQuality;
use trtc_media::synthetic::{SyntheticAudio, SyntheticVideo};

/// The publishers' video settings.
#[derive(Debug, Clone, Copy)]
pub struct VideoShape {
    pub width: usize,
    pub height: usize,
    pub fps: u32,
    pub kbps: u32,
}

/// Encoded media to replay.
#[derive(Debug)]
pub struct Clip {
    /// Access units at `fps`; the first is a keyframe.
    pub video: Vec<Vec<u8>>,
    pub fps: u32,
    /// 20 ms Opus packets of the tone.
    pub audio: Vec<Vec<u8>>,
    /// One 20 ms packet of silence: what a microphone with nothing to say sends every
    /// [`SILENT_INTERVAL`] with Opus DTX, as most of a voice room's anchors do.
    pub silence: Vec<u8>,
}

/// Opus DTX sends one frame per 400 ms of silence.
pub const SILENT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(400);

/// Seconds of video in the clip: long enough that rate control has settled on the bitrate.
const VIDEO_SECONDS: u32 = 2;
/// Audio packets in the clip (1 s).
const AUDIO_PACKETS: u64 = 50;

impl Clip {
    /// Encodes the clip (about a second of CPU at 720p).
    pub fn encode(video: Option<VideoShape>, audio: bool) -> anyhow::Result<Clip> {
        let mut clip = Clip {
            video: vec![],
            fps: video.map_or(1, |v| v.fps),
            audio: vec![],
            silence: vec![],
        };
        if let Some(shape) = video {
            let frames = shape.fps * VIDEO_SECONDS;
            let mut encoder = H264Encoder::new(H264Config {
                bitrate_bps: shape.kbps * 1000,
                fps: shape.fps as f32,
                keyframe_interval: frames,
                qp: (10, 51),
                content: trtc_media::codec::h264::ContentHint::Camera,
            })
            .context("opening the H.264 encoder")?;
            let step_us = 1_000_000 / u64::from(shape.fps);
            for i in 0..frames {
                let picture =
                    SyntheticVideo::draw(shape.width, shape.height, i, u64::from(i) * step_us);
                if let Some(unit) = encoder.encode(&picture).context("encoding the clip")? {
                    clip.video.push(unit.data);
                }
            }
            anyhow::ensure!(!clip.video.is_empty(), "the encoder produced no video");
        }
        if audio {
            let quality = TrtcAudioQuality::Default;
            let (rate, channels, _) = quality.format();
            let mut encoder = OpusEncoder::new(quality).context("opening the Opus encoder")?;
            for i in 0..AUDIO_PACKETS {
                // Two 10 ms tone frames make one 20 ms packet.
                let mut frame = SyntheticAudio::tone(440.0, rate, channels, 2 * i, 0);
                let next = SyntheticAudio::tone(440.0, rate, channels, 2 * i + 1, 0);
                frame.samples.extend_from_slice(&next.samples);
                debug_assert_eq!(
                    frame.samples.len(),
                    frame_samples(rate) * usize::from(channels)
                );
                clip.audio
                    .push(encoder.encode(&frame).context("encoding the tone")?);
            }
            let mut quiet = SyntheticAudio::tone(440.0, rate, channels, 0, 0);
            quiet.samples.iter_mut().for_each(|s| *s = 0);
            quiet
                .samples
                .resize(frame_samples(rate) * usize::from(channels), 0);
            clip.silence = encoder.encode(&quiet).context("encoding silence")?;
        }
        Ok(clip)
    }
}
