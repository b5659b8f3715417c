//! Opus at TRTC's audio qualities, 20 ms frames.

use super::CodecError;
use crate::frame::AudioFrame;
use crate::params::TrtcAudioQuality;

/// Samples per channel in one 20 ms frame at `rate`.
pub fn frame_samples(rate: u32) -> usize {
    rate as usize / 50
}

/// An Opus encoder for one TRTC audio quality.
pub struct OpusEncoder {
    encoder: opus::Encoder,
    rate: u32,
    channels: u16,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("rate", &self.rate)
            .field("channels", &self.channels)
            .finish()
    }
}

fn channels(n: u16) -> opus::Channels {
    if n == 2 {
        opus::Channels::Stereo
    } else {
        opus::Channels::Mono
    }
}

impl OpusEncoder {
    /// An encoder with the quality's rate, channels and bitrate (VoIP tuning for speech and
    /// default, audio tuning for music).
    pub fn new(quality: TrtcAudioQuality) -> Result<Self, CodecError> {
        let (rate, ch, bps) = quality.format();
        Self::with_format(quality, rate, ch, bps)
    }

    /// An encoder with the quality's tuning for input at `rate` Hz × `ch`, at `bps`: a 48 kHz
    /// microphone feeds a speech-quality stream without resampling (Opus narrows the coded
    /// bandwidth to suit the bitrate by itself).
    pub fn with_format(
        quality: TrtcAudioQuality,
        rate: u32,
        ch: u16,
        bps: u32,
    ) -> Result<Self, CodecError> {
        let app = if quality == TrtcAudioQuality::Music {
            opus::Application::Audio
        } else {
            opus::Application::Voip
        };
        let mut encoder = opus::Encoder::new(rate, channels(ch), app)
            .map_err(|e| CodecError::new("opus encoder", e))?;
        encoder
            .set_bitrate(opus::Bitrate::Bits(bps as i32))
            .map_err(|e| CodecError::new("opus encoder", e))?;
        // In-band FEC lets a receiver rebuild a lost packet from the next one.
        encoder
            .set_inband_fec(true)
            .map_err(|e| CodecError::new("opus encoder", e))?;
        Ok(OpusEncoder {
            encoder,
            rate,
            channels: ch,
        })
    }

    /// Sample rate and channel count the encoder takes.
    pub fn format(&self) -> (u32, u16) {
        (self.rate, self.channels)
    }

    /// Follows a new target bitrate.
    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), CodecError> {
        self.encoder
            .set_bitrate(opus::Bitrate::Bits(bps as i32))
            .map_err(|e| CodecError::new("opus encoder", e))
    }

    /// Encodes exactly one 20 ms frame in the encoder's format.
    pub fn encode(&mut self, frame: &AudioFrame) -> Result<Vec<u8>, CodecError> {
        let want = frame_samples(self.rate) * usize::from(self.channels);
        if frame.sample_rate != self.rate
            || frame.channels != self.channels
            || frame.samples.len() != want
        {
            return Err(CodecError::new(
                "opus encoder",
                format!(
                    "expected 20 ms at {} Hz × {} ch ({want} samples), got {} Hz × {} ch ({} samples)",
                    self.rate, self.channels, frame.sample_rate, frame.channels, frame.samples.len()
                ),
            ));
        }
        self.encoder
            .encode_vec(&frame.samples, 1500)
            .map_err(|e| CodecError::new("opus encoder", e))
    }
}

/// An Opus decoder.
pub struct OpusDecoder {
    decoder: opus::Decoder,
    rate: u32,
    channels: u16,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("rate", &self.rate)
            .field("channels", &self.channels)
            .finish()
    }
}

impl OpusDecoder {
    /// A decoder producing `rate` Hz × `channels`.
    pub fn new(rate: u32, channels: u16) -> Result<Self, CodecError> {
        let decoder = opus::Decoder::new(rate, self::channels(channels))
            .map_err(|e| CodecError::new("opus decoder", e))?;
        Ok(OpusDecoder {
            decoder,
            rate,
            channels,
        })
    }

    /// Decodes one packet; an empty packet conceals a lost one.
    pub fn decode(
        &mut self,
        packet: &[u8],
        capture_time_us: u64,
    ) -> Result<AudioFrame, CodecError> {
        // The longest Opus packet is 120 ms.
        let mut pcm = vec![0i16; self.rate as usize * 120 / 1000 * usize::from(self.channels)];
        let n = self
            .decoder
            .decode(packet, &mut pcm, false)
            .map_err(|e| CodecError::new("opus decoder", e))?;
        pcm.truncate(n * usize::from(self.channels));
        Ok(AudioFrame {
            sample_rate: self.rate,
            channels: self.channels,
            samples: pcm,
            capture_time_us,
        })
    }
}
