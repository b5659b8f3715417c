//! Microphone capture through cpal (ALSA, which PulseAudio or PipeWire serve on desktops),
//! at 48 kHz in 10 ms frames.
//!
//! The cpal stream lives on the capture thread for its whole life (streams are not `Send` on
//! every host; see [`CaptureThread`]), so a missing microphone is an error at the call, not a
//! silent stream.

use crate::frame::{now_us, AudioFrame};
use crate::sink::FrameSink;
use crate::source::{AudioSource, CaptureError, CaptureThread};
use cpal::traits::{DeviceTrait, StreamTrait};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The rate the pipeline runs at; the device is asked for it.
pub const CAPTURE_RATE: u32 = 48_000;

/// A microphone: the system's default, or one chosen from [`crate::devices::list`].
#[derive(Debug, Default)]
pub struct Microphone {
    device: Option<String>,
    thread: CaptureThread,
}

impl Microphone {
    /// The system's default input device.
    pub fn new() -> Self {
        Self::default()
    }

    /// The input device with this id (`None`: the default).
    pub fn with_device(device: Option<String>) -> Self {
        Microphone {
            device,
            thread: CaptureThread::default(),
        }
    }
}

/// Cuts the callback's variable-size buffers into 10 ms frames stamped with their capture time.
struct Framer {
    channels: u16,
    pending: Vec<i16>,
    /// Where the next frame starts on the capture clock, counted in samples from the last.
    next_us: Option<u64>,
    sink: FrameSink<AudioFrame>,
}

impl Framer {
    fn push(&mut self, samples: impl Iterator<Item = i16>) {
        self.pending.extend(samples);
        let per_frame = (CAPTURE_RATE / 100) as usize * usize::from(self.channels);
        let now = now_us();
        let mut queued_us = self.pending.len() as u64 * 1_000_000
            / (u64::from(CAPTURE_RATE) * u64::from(self.channels));
        while self.pending.len() >= per_frame {
            let samples: Vec<i16> = self.pending.drain(..per_frame).collect();
            // The oldest samples were captured the buffered duration ago, and never before
            // the previous frame's end: a device may hand over seconds of audio in callbacks
            // microseconds apart (PulseAudio's virtual sources do), and stamps that stood
            // still would read as one frame sent again and again.
            let clock_us = now.saturating_sub(queued_us);
            let capture_time_us = self.next_us.map_or(clock_us, |next| next.max(clock_us));
            self.next_us = Some(capture_time_us + 10_000);
            queued_us = queued_us.saturating_sub(10_000);
            let _ = self.sink.push(AudioFrame {
                sample_rate: CAPTURE_RATE,
                channels: self.channels,
                samples,
                capture_time_us,
            });
        }
    }
}

fn open(device: Option<&str>, sink: FrameSink<AudioFrame>) -> Result<cpal::Stream, CaptureError> {
    let device = crate::devices::input_device(device)?;
    let ranges = device
        .supported_input_configs()
        .map_err(|e| CaptureError::NoDevice(format!("microphone: {e}")))?;
    let supported = ranges
        .filter(|r| {
            r.channels() <= 2
                && r.min_sample_rate() <= CAPTURE_RATE
                && CAPTURE_RATE <= r.max_sample_rate()
        })
        .filter(|r| {
            matches!(
                r.sample_format(),
                cpal::SampleFormat::F32 | cpal::SampleFormat::I16
            )
        })
        .max_by_key(|r| {
            (
                r.sample_format() == cpal::SampleFormat::I16,
                r.channels() == 1,
            )
        })
        .ok_or_else(|| {
            CaptureError::OpenFailed(
                "the microphone offers no 48 kHz mono/stereo 16-bit or float format".into(),
            )
        })?
        .with_sample_rate(CAPTURE_RATE);
    let config = crate::devices::low_latency_config(&supported);
    let mut framer = Framer {
        channels: config.channels,
        pending: Vec::new(),
        next_us: None,
        sink,
    };
    let on_error = |e: cpal::Error| tracing::warn!(error = %e, "microphone stream error");
    let stream = match supported.sample_format() {
        cpal::SampleFormat::I16 => device.build_input_stream::<i16, _, _>(
            config,
            move |data, _| framer.push(data.iter().copied()),
            on_error,
            None,
        ),
        _ => device.build_input_stream::<f32, _, _>(
            config,
            move |data, _| {
                framer.push(
                    data.iter()
                        .map(|&s| (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16),
                )
            },
            on_error,
            None,
        ),
    }
    .map_err(|e| CaptureError::OpenFailed(format!("microphone: {e}")))?;
    stream
        .play()
        .map_err(|e| CaptureError::OpenFailed(format!("microphone: {e}")))?;
    Ok(stream)
}

impl AudioSource for Microphone {
    fn start(&mut self, sink: FrameSink<AudioFrame>) -> Result<(), CaptureError> {
        let device = self.device.clone();
        self.thread.start(
            "microphone",
            move || open(device.as_deref(), sink),
            |stream, stop| {
                // The stream delivers on cpal's own thread; this one only keeps it alive.
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                drop(stream);
            },
        )
    }

    fn stop(&mut self) {
        self.thread.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::frame_channel;

    #[test]
    fn a_burst_of_callbacks_is_stamped_by_its_samples_not_its_arrival() {
        let (sink, frames) = frame_channel(1_000);
        let mut framer = Framer {
            channels: 1,
            pending: Vec::new(),
            next_us: None,
            sink,
        };
        // Two seconds of audio in 160-sample callbacks, all at once.
        for _ in 0..600 {
            framer.push(std::iter::repeat_n(0i16, 160));
        }
        let stamps: Vec<u64> = frames.try_iter().map(|f| f.capture_time_us).collect();
        assert_eq!(stamps.len(), 200);
        assert!(
            stamps.windows(2).all(|w| w[1] - w[0] == 10_000),
            "10 ms apart, as the samples are"
        );
    }
}
