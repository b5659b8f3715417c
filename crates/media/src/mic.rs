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
            // The oldest samples were captured the buffered duration ago.
            let capture_time_us = now.saturating_sub(queued_us);
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
