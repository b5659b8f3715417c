//! Raw frames as they travel from capture to encode and from decode to render/playout.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch: the capture clock every frame carries, so a receiver on
/// the same machine (or a synchronised one) can measure glass-to-glass delay.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A picture in I420 (planar 4:2:0) with tight strides: `y` is `width × height`, `u` and `v`
/// are `⌈width/2⌉ × ⌈height/2⌉`.
#[derive(Clone, PartialEq, Eq)]
pub struct VideoFrame {
    /// Width in pixels (even).
    pub width: usize,
    /// Height in pixels (even).
    pub height: usize,
    /// Luma plane.
    pub y: Vec<u8>,
    /// Blue-difference plane.
    pub u: Vec<u8>,
    /// Red-difference plane.
    pub v: Vec<u8>,
    /// When the picture was captured, µs since the Unix epoch.
    pub capture_time_us: u64,
}

impl std::fmt::Debug for VideoFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("capture_time_us", &self.capture_time_us)
            .finish_non_exhaustive()
    }
}

impl VideoFrame {
    /// A black frame.
    pub fn black(width: usize, height: usize, capture_time_us: u64) -> Self {
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        VideoFrame {
            width,
            height,
            y: vec![16; width * height],
            u: vec![128; cw * ch],
            v: vec![128; cw * ch],
            capture_time_us,
        }
    }

    /// Width and height of the chroma planes.
    pub fn chroma_size(&self) -> (usize, usize) {
        (self.width.div_ceil(2), self.height.div_ceil(2))
    }
}

/// Interleaved 16-bit PCM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// 1 or 2.
    pub channels: u16,
    /// `frames × channels` samples.
    pub samples: Vec<i16>,
    /// When the first sample was captured, µs since the Unix epoch.
    pub capture_time_us: u64,
}

impl AudioFrame {
    /// How long the frame lasts, in µs.
    pub fn duration_us(&self) -> u64 {
        let frames = self.samples.len() as u64 / u64::from(self.channels.max(1));
        frames * 1_000_000 / u64::from(self.sample_rate.max(1))
    }
}
