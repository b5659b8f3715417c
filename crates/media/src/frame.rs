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

    /// The picture at half its width and height (rounded down to even), each pixel the mean
    /// of the four it replaces: for sending less on a weak network (`enableAdjustRes`).
    pub fn halved(&self) -> VideoFrame {
        let (width, height) = ((self.width / 2) & !1, (self.height / 2) & !1);
        let (cw, ch) = self.chroma_size();
        let (ocw, och) = (width.div_ceil(2), height.div_ceil(2));
        VideoFrame {
            width,
            height,
            y: halve_plane(&self.y, self.width, width, height),
            u: halve_plane(&self.u, cw, ocw, och.min(ch / 2)),
            v: halve_plane(&self.v, cw, ocw, och.min(ch / 2)),
            capture_time_us: self.capture_time_us,
        }
    }
}

/// A `width × height` plane from the 2×2 means of `src` (rows `stride` long, at least twice
/// as wide and high).
fn halve_plane(src: &[u8], stride: usize, width: usize, height: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(width * height);
    for row in 0..height {
        let top = src.get(2 * row * stride..).unwrap_or_default();
        let bottom = src.get((2 * row + 1) * stride..).unwrap_or_default();
        for col in 0..width {
            let at = |line: &[u8], x: usize| u16::from(line.get(x).copied().unwrap_or(0));
            let sum = at(top, 2 * col)
                + at(top, 2 * col + 1)
                + at(bottom, 2 * col)
                + at(bottom, 2 * col + 1);
            out.push(((sum + 2) / 4) as u8);
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::VideoFrame;
    use crate::stamp::{self, Stamp};

    #[test]
    fn a_halved_picture_is_a_quarter_of_it_and_keeps_its_stamp() {
        let mut frame = VideoFrame::black(640, 360, 42);
        let s = Stamp {
            capture_time_us: 1_700_000_000_123_456,
            counter: 77,
        };
        stamp::write(&mut frame, s);
        let half = frame.halved();
        assert_eq!((half.width, half.height), (320, 180));
        assert_eq!(
            (half.y.len(), half.u.len(), half.v.len()),
            (320 * 180, 160 * 90, 160 * 90)
        );
        assert_eq!(half.capture_time_us, 42);
        assert_eq!(stamp::read(&half), Some(s), "the receiver still reads it");
        let quarter = half.halved();
        assert_eq!((quarter.width, quarter.height), (160, 90));
        assert_eq!(quarter.u.len(), 80 * 45);
        let odd = quarter.halved();
        assert_eq!((odd.width, odd.height), (80, 44), "sides stay even");
        assert_eq!(odd.u.len(), 40 * 22);
    }
}
