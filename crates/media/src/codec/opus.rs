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

    /// Tells the encoder how much of what it sends is lost on the way (0–100 %): it then puts
    /// a low-rate copy of each frame into the next packet (in-band FEC), taking that much of
    /// the bitrate from the frame itself, so a receiver can rebuild a lone lost packet. Opus
    /// adds the copy only when it expects loss; at 0 % it spends nothing on it. The copy is
    /// SILK's (the speech layer), made for frames it takes for active speech: a steady tone
    /// gets none, and its losses are concealed instead.
    pub fn expect_loss(&mut self, percent: u8) -> Result<(), CodecError> {
        self.encoder
            .set_packet_loss_perc(i32::from(percent.min(100)))
            .map_err(|e| CodecError::new("opus encoder", e))
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

/// Opus's RTP clock, whatever rate is coded (RFC 7587 §4.1).
const RTP_CLOCK: u32 = 48_000;
/// RTP ticks in one 20 ms frame.
const FRAME_TICKS: u32 = RTP_CLOCK / 50;
/// The longest gap filled in, frames: a longer one is a pause of the sender's (muted, or the
/// stream restarted), after which playing on is right and a made-up tail is not.
pub const MAX_CONCEALED_FRAMES: u32 = 6;

/// An Opus decoder.
pub struct OpusDecoder {
    decoder: opus::Decoder,
    rate: u32,
    channels: u16,
    /// The RTP timestamp the next packet should carry.
    next_ts: Option<u32>,
    /// Frames filled in for lost packets so far.
    concealed: u64,
}

/// What [`OpusDecoder::receive`] made of one packet.
#[derive(Debug, Default)]
pub struct Received {
    /// In play order: the frames filled in for a gap before the packet, then its own.
    pub frames: Vec<AudioFrame>,
    /// It came after a later one (or twice): dropped, its place was already filled.
    pub late: bool,
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
            next_ts: None,
            concealed: 0,
        })
    }

    /// Frames filled in for lost packets so far.
    pub fn concealed(&self) -> u64 {
        self.concealed
    }

    /// Decodes a packet of 20 ms frames stamped `rtp_ts`, filling in what is missing before it:
    /// every lost frame but the last is concealed, the last rebuilt from this packet's FEC. A
    /// packet older than one already played is dropped (a late packet's audio would arrive
    /// after its place in time). `capture_time_us` is this packet's; filled-in frames get
    /// theirs counted back from it.
    pub fn receive(
        &mut self,
        rtp_ts: u32,
        packet: &[u8],
        capture_time_us: u64,
    ) -> Result<Received, CodecError> {
        let mut out = Received::default();
        // Our senders stamp packets from the capture clock, so a packet's timestamp may be a
        // little off the frame grid: whole frames are counted from the nearest.
        let ahead = self
            .next_ts
            .map_or(0, |next| rtp_ts.wrapping_sub(next) as i32);
        let half = (FRAME_TICKS / 2) as i32;
        if ahead < -half {
            out.late = true;
            return Ok(out);
        }
        let missing = (ahead + half).max(0) as u32 / FRAME_TICKS;
        if (1..=MAX_CONCEALED_FRAMES).contains(&missing) {
            for k in (1..=missing).rev() {
                let at = capture_time_us.saturating_sub(u64::from(k) * 20_000);
                let frame = if k == 1 {
                    self.recover(packet, at)?
                } else {
                    self.conceal(at)?
                };
                self.concealed += 1;
                out.frames.push(frame);
            }
        }
        let frame = self.decode(packet, capture_time_us)?;
        let ticks = frame.samples.len() as u64 / u64::from(self.channels.max(1))
            * u64::from(RTP_CLOCK)
            / u64::from(self.rate.max(1));
        self.next_ts = Some(rtp_ts.wrapping_add(ticks as u32));
        out.frames.push(frame);
        Ok(out)
    }

    /// Samples per channel in one 20 ms frame of the output.
    fn frame(&self) -> usize {
        frame_samples(self.rate)
    }

    /// 20 ms in place of a lost packet, made up from what came before (Opus's concealment:
    /// a voice or tone continues and fades instead of breaking off).
    pub fn conceal(&mut self, capture_time_us: u64) -> Result<AudioFrame, CodecError> {
        self.lost_frame(&[], capture_time_us)
    }

    /// The 20 ms lost just before `next`, rebuilt from the copy `next` carries (in-band FEC);
    /// concealed as by [`Self::conceal`] when it carries none. `next` itself is then decoded
    /// with [`Self::decode`] as usual.
    pub fn recover(&mut self, next: &[u8], capture_time_us: u64) -> Result<AudioFrame, CodecError> {
        self.lost_frame(next, capture_time_us)
    }

    fn lost_frame(&mut self, next: &[u8], capture_time_us: u64) -> Result<AudioFrame, CodecError> {
        // For a lost frame, Opus needs the buffer to be exactly as long as what is missing.
        let mut pcm = vec![0i16; self.frame() * usize::from(self.channels)];
        let n = self
            .decoder
            .decode(next, &mut pcm, !next.is_empty())
            .map_err(|e| CodecError::new("opus decoder", e))?;
        pcm.truncate(n * usize::from(self.channels));
        Ok(AudioFrame {
            sample_rate: self.rate,
            channels: self.channels,
            samples: pcm,
            capture_time_us,
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
