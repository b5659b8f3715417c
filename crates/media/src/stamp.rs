//! A machine-readable stamp drawn into a picture: capture time and frame counter as a grid of
//! black and white blocks in the top-left corner, sized so that H.264 at ordinary bitrates
//! keeps every block on the right side of mid-grey. A receiver reads it back from the decoded
//! picture to check order and integrity and to measure glass-to-glass delay.
//!
//! Layout: 16 × 8 blocks = 128 bits, row-major, most significant bit first:
//! magic `0xA5` (8) · capture time µs (56) · counter (32) · check (16) · zero (16).

use crate::frame::VideoFrame;

const COLS: usize = 16;
const ROWS: usize = 8;
const MAGIC: u8 = 0xA5;
const WHITE: u8 = 235;
const BLACK: u8 = 16;

/// What a stamp carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Capture time, µs since the Unix epoch (56 bits kept).
    pub capture_time_us: u64,
    /// Frame counter since the source started.
    pub counter: u32,
}

/// Side of one block in pixels for a picture this wide: large enough to survive compression,
/// small enough to fit 16 across in the smallest TRTC resolution (120 px).
pub fn block_size(width: usize) -> usize {
    ((width / 80).clamp(4, 16)) & !1
}

/// The stamp area's size in pixels for a picture this wide.
pub fn stamp_area(width: usize) -> (usize, usize) {
    let b = block_size(width);
    (COLS * b, ROWS * b)
}

fn check(time: u64, counter: u32) -> u16 {
    // Fletcher-16 over the payload bytes: catches flipped blocks and shifted reads.
    let mut bytes = [0u8; 11];
    bytes[..7].copy_from_slice(&time.to_be_bytes()[1..]);
    bytes[7..].copy_from_slice(&counter.to_be_bytes());
    let (mut a, mut b) = (0u16, 0u16);
    for x in bytes {
        a = (a + u16::from(x)) % 255;
        b = (b + a) % 255;
    }
    (b << 8) | a
}

fn bits(stamp: Stamp) -> u128 {
    let time = stamp.capture_time_us & ((1 << 56) - 1);
    (u128::from(MAGIC) << 120)
        | (u128::from(time) << 64)
        | (u128::from(stamp.counter) << 32)
        | (u128::from(check(time, stamp.counter)) << 16)
}

/// Draws `stamp` into the luma plane (chroma of the area is set neutral).
pub fn write(frame: &mut VideoFrame, stamp: Stamp) {
    let b = block_size(frame.width);
    let word = bits(stamp);
    for row in 0..ROWS {
        for col in 0..COLS {
            let bit = (word >> (127 - (row * COLS + col))) & 1 == 1;
            let value = if bit { WHITE } else { BLACK };
            for y in row * b..(row + 1) * b {
                let start = y * frame.width + col * b;
                frame.y[start..start + b].fill(value);
            }
        }
    }
    let (cw, _) = frame.chroma_size();
    for y in 0..ROWS * b / 2 {
        let start = y * cw;
        frame.u[start..start + COLS * b / 2].fill(128);
        frame.v[start..start + COLS * b / 2].fill(128);
    }
}

/// Reads a stamp back; `None` if the area does not hold a valid one.
pub fn read(frame: &VideoFrame) -> Option<Stamp> {
    let b = block_size(frame.width);
    let (w, h) = stamp_area(frame.width);
    if frame.width < w || frame.height < h {
        return None;
    }
    let mut word = 0u128;
    for row in 0..ROWS {
        for col in 0..COLS {
            // The block's centre half: edges blur under compression.
            let (y0, x0, q) = (row * b + b / 4, col * b + b / 4, (b / 2).max(1));
            let mut sum = 0u32;
            for y in y0..y0 + q {
                let start = y * frame.width + x0;
                sum += frame.y[start..start + q]
                    .iter()
                    .map(|&p| u32::from(p))
                    .sum::<u32>();
            }
            let bit = sum / (q * q) as u32 > u32::from(WHITE / 2 + BLACK / 2);
            word = (word << 1) | u128::from(bit);
        }
    }
    if (word >> 120) as u8 != MAGIC {
        return None;
    }
    let time = ((word >> 64) as u64) & ((1 << 56) - 1);
    let counter = (word >> 32) as u32;
    (((word >> 16) as u16) == check(time, counter)).then_some(Stamp {
        capture_time_us: time,
        counter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_every_size_and_rejects_garbage() {
        for (w, h) in [(120, 120), (160, 90), (640, 360), (1280, 720), (1920, 1080)] {
            let mut f = VideoFrame::black(w, h, 0);
            let s = Stamp {
                capture_time_us: 1_764_000_000_123_456,
                counter: 4_000_000_001,
            };
            write(&mut f, s);
            assert_eq!(read(&f), Some(s), "{w}x{h}");
        }
        assert_eq!(read(&VideoFrame::black(640, 360, 0)), None);
        let mut f = VideoFrame::black(640, 360, 0);
        write(
            &mut f,
            Stamp {
                capture_time_us: 5,
                counter: 6,
            },
        );
        // Flip one block: the check catches it.
        let b = block_size(640);
        for y in 2 * b..3 * b {
            for x in 5 * b..6 * b {
                f.y[y * 640 + x] = 255 - f.y[y * 640 + x];
            }
        }
        assert_eq!(read(&f), None);
    }
}
