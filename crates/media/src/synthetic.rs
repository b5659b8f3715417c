//! Synthetic sources, for machines without devices and for tests that check what arrives:
//! a moving test pattern stamped with its capture time and frame counter, and a steady tone.

use crate::frame::{now_us, AudioFrame, VideoFrame};
use crate::sink::{FrameSink, PushError};
use crate::source::{pace, AudioSource, CaptureError, CaptureThread, VideoSource};
use crate::stamp::{self, Stamp};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The moving test pattern with a readable stamp (see [`crate::stamp`]).
#[derive(Debug)]
pub struct SyntheticVideo {
    width: usize,
    height: usize,
    fps: u32,
    worker: CaptureThread,
}

impl SyntheticVideo {
    /// A pattern of `width × height` (rounded down to even) at `fps`.
    pub fn new(width: usize, height: usize, fps: u32) -> Self {
        SyntheticVideo {
            width: width & !1,
            height: height & !1,
            fps: fps.max(1),
            worker: CaptureThread::default(),
        }
    }

    /// Draws frame `counter` of a `width × height` pattern: diagonal colour bands that move
    /// with time (so the encoder sees motion, as with a real camera) and the stamp.
    pub fn draw(width: usize, height: usize, counter: u32, capture_time_us: u64) -> VideoFrame {
        let mut f = VideoFrame::black(width, height, capture_time_us);
        let shift = counter as usize * 4;
        for y in 0..height {
            let row = &mut f.y[y * width..(y + 1) * width];
            for (x, p) in row.iter_mut().enumerate() {
                *p = 40 + (((x + y + shift) / 8) % 32) as u8 * 5;
            }
        }
        let (cw, ch) = f.chroma_size();
        for y in 0..ch {
            for x in 0..cw {
                f.u[y * cw + x] = 128u8
                    .wrapping_add(((x + shift / 2) % 64) as u8)
                    .wrapping_sub(32);
                f.v[y * cw + x] = 96 + ((y * 2) % 64) as u8;
            }
        }
        // A bright box crossing the picture: motion a viewer can see at a glance.
        let size = (height / 5).max(8);
        let bx = (shift * 2) % width.saturating_sub(size).max(1);
        let by = height / 2 - size / 2;
        for y in by..by + size {
            f.y[y * width + bx..y * width + bx + size].fill(220);
        }
        stamp::write(
            &mut f,
            Stamp {
                capture_time_us,
                counter,
            },
        );
        f
    }
}

impl VideoSource for SyntheticVideo {
    fn start(&mut self, sink: FrameSink<VideoFrame>) -> Result<(), CaptureError> {
        let (w, h, fps) = (self.width, self.height, self.fps);
        self.worker.start(
            "synthetic-video",
            || Ok(()),
            move |(), stop| {
                let period = Duration::from_secs(1) / fps;
                let start = Instant::now();
                let mut counter: u32 = 0;
                while !stop.load(Ordering::Relaxed) {
                    let frame = SyntheticVideo::draw(w, h, counter, now_us());
                    if sink.push(frame) == Err(PushError::Closed) {
                        break;
                    }
                    counter = counter.wrapping_add(1);
                    pace(start, counter, period);
                }
            },
        )
    }

    fn stop(&mut self) {
        self.worker.stop();
    }
}

/// A steady sine tone, 10 ms frames.
#[derive(Debug)]
pub struct SyntheticAudio {
    frequency: f32,
    sample_rate: u32,
    channels: u16,
    worker: CaptureThread,
}

impl SyntheticAudio {
    /// A `frequency` Hz tone at half scale.
    pub fn new(frequency: f32, sample_rate: u32, channels: u16) -> Self {
        SyntheticAudio {
            frequency,
            sample_rate,
            channels: channels.clamp(1, 2),
            worker: CaptureThread::default(),
        }
    }

    /// Frame `index` (10 ms each) of the tone, continuing the phase exactly across frames.
    pub fn tone(
        frequency: f32,
        sample_rate: u32,
        channels: u16,
        index: u64,
        capture_time_us: u64,
    ) -> AudioFrame {
        let n = (sample_rate / 100) as u64;
        let mut samples = Vec::with_capacity(n as usize * usize::from(channels));
        for i in 0..n {
            let t = (index * n + i) as f64 / f64::from(sample_rate);
            let s = (0.5
                * (2.0 * std::f64::consts::PI * f64::from(frequency) * t).sin()
                * f64::from(i16::MAX)) as i16;
            samples.extend(std::iter::repeat_n(s, usize::from(channels)));
        }
        AudioFrame {
            sample_rate,
            channels,
            samples,
            capture_time_us,
        }
    }
}

impl AudioSource for SyntheticAudio {
    fn start(&mut self, sink: FrameSink<AudioFrame>) -> Result<(), CaptureError> {
        let (f, rate, ch) = (self.frequency, self.sample_rate, self.channels);
        self.worker.start(
            "synthetic-audio",
            || Ok(()),
            move |(), stop| {
                let start = Instant::now();
                let mut index = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if sink.push(SyntheticAudio::tone(f, rate, ch, index, now_us()))
                        == Err(PushError::Closed)
                    {
                        break;
                    }
                    index += 1;
                    pace(start, index as u32, Duration::from_millis(10));
                }
            },
        )
    }

    fn stop(&mut self) {
        self.worker.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::frame_channel;

    #[test]
    fn pattern_moves_and_frames_arrive_in_order_with_stamps() {
        let (sink, rx) = frame_channel(64);
        let mut src = SyntheticVideo::new(320, 180, 30);
        src.start(sink).unwrap();
        let frames: Vec<VideoFrame> = (0..5)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        src.stop();
        let stamps: Vec<Stamp> = frames.iter().map(|f| stamp::read(f).unwrap()).collect();
        assert_eq!(
            stamps.iter().map(|s| s.counter).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        assert!(stamps
            .windows(2)
            .all(|w| w[1].capture_time_us > w[0].capture_time_us));
        assert_ne!(
            frames[0].y[320 * 100..],
            frames[1].y[320 * 100..],
            "the picture moves"
        );
        assert!(
            matches!(src.start(frame_channel(1).0), Ok(())),
            "restartable after stop"
        );
    }

    #[test]
    fn tone_is_continuous_across_frames() {
        let a = SyntheticAudio::tone(440.0, 48_000, 1, 0, 0);
        let b = SyntheticAudio::tone(440.0, 48_000, 1, 1, 0);
        assert_eq!(a.samples.len(), 480);
        let joined: Vec<i16> = a.samples.iter().chain(&b.samples).copied().collect();
        let max_step = joined
            .windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap();
        assert!(
            max_step < 1000,
            "no click at the frame boundary: {max_step}"
        );
    }
}
