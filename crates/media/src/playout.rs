//! Playout: every remote user's decoded audio waits in its own jitter buffer, the buffers are
//! mixed, and the mix goes to the speaker through cpal — and, 10 ms at a time, to the voice
//! processor as the echo reference.
//!
//! The jitter buffer holds a source back until it has its cushion queued (so network jitter up
//! to that much never starves the speaker), plays silence for a source that ran dry, and drops
//! the oldest audio when a source has [`SLACK_MS`] more than its cushion queued (so latency
//! cannot creep up after a burst). The cushion is [`TARGET_MS`] on a steady link and grows
//! with the stream's measured jitter ([`Mixer::fit_to_jitter`]) up to [`MAX_TARGET_MS`]: a
//! fixed one either starves on a jittery link or adds delay on a clean one. Lost packets do
//! not shorten the queue (the decoder fills them in), so what starves it is late audio alone.
//! Works at 48 kHz mono, the rate the decoders produce.

use crate::frame::AudioFrame;
use crate::processing::{AudioProcessor, FRAME, RATE};
use crate::source::{CaptureError, CaptureThread};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Queue a source must reach before it plays (and refills to after running dry) on a steady
/// link.
pub const TARGET_MS: usize = 60;
/// The most a jittery link's cushion grows to.
pub const MAX_TARGET_MS: usize = 200;
/// Queued beyond its cushion by this much, a source's oldest audio is dropped.
pub const SLACK_MS: usize = 140;
/// Cushion per ms of RFC 3550 jitter (the mean deviation of arrival gaps): uniform spread of
/// ±s ms reads as a jitter of about 2s/3, and needs ~2s ms of cushion.
const CUSHION_PER_JITTER_MS: f64 = 3.0;
/// One frame on top of the jitter's share: the packet in flight.
const FRAME_MS: f64 = 20.0;
const PER_MS: usize = RATE as usize / 1000;

#[derive(Debug)]
struct Source {
    queue: VecDeque<i16>,
    playing: bool,
    /// The cushion, ms.
    target_ms: usize,
}

impl Default for Source {
    fn default() -> Self {
        Source {
            queue: VecDeque::new(),
            playing: false,
            target_ms: TARGET_MS,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    sources: HashMap<String, Source>,
}

/// The mixer every remote audio stream feeds; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Mixer {
    inner: Arc<Mutex<Inner>>,
}

impl Mixer {
    /// An empty mixer.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Each critical section leaves the queues valid, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues decoded audio of `source` (48 kHz mono; other shapes are ignored).
    pub fn push(&self, source: &str, frame: &AudioFrame) {
        if frame.sample_rate != RATE || frame.channels != 1 {
            return;
        }
        let mut inner = self.lock();
        let s = inner.sources.entry(source.to_owned()).or_default();
        s.queue.extend(frame.samples.iter().copied());
        let max = (s.target_ms + SLACK_MS) * PER_MS;
        if s.queue.len() > max {
            let excess = s.queue.len() - s.target_ms * PER_MS;
            s.queue.drain(..excess);
        }
    }

    /// Sizes `source`'s cushion to its stream's measured jitter (RFC 3550, ms).
    pub fn fit_to_jitter(&self, source: &str, jitter_ms: f64) {
        let wanted = FRAME_MS + CUSHION_PER_JITTER_MS * jitter_ms.max(0.0);
        let target = (wanted.round() as usize).clamp(TARGET_MS, MAX_TARGET_MS);
        if let Some(s) = self.lock().sources.get_mut(source) {
            s.target_ms = target;
        }
    }

    /// `source`'s cushion, ms.
    pub fn target_ms(&self, source: &str) -> usize {
        self.lock()
            .sources
            .get(source)
            .map_or(TARGET_MS, |s| s.target_ms)
    }

    /// Forgets a source (its user left, or was muted).
    pub fn remove(&self, source: &str) {
        self.lock().sources.remove(source);
    }

    /// Fills `out` (48 kHz mono) with the mix of every playing source.
    pub fn pull(&self, out: &mut [i16]) {
        let mut mix = vec![0i32; out.len()];
        let mut inner = self.lock();
        for s in inner.sources.values_mut() {
            if !s.playing && s.queue.len() >= s.target_ms * PER_MS {
                s.playing = true;
            }
            if !s.playing {
                continue;
            }
            for (m, x) in mix
                .iter_mut()
                .zip(s.queue.drain(..out.len().min(s.queue.len())))
            {
                *m += i32::from(x);
            }
            if s.queue.is_empty() {
                // Ran dry: rebuild the cushion before playing again.
                s.playing = false;
            }
        }
        for (o, m) in out.iter_mut().zip(mix) {
            *o = m.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        }
    }

    /// Milliseconds queued for `source`.
    pub fn queued_ms(&self, source: &str) -> usize {
        self.lock()
            .sources
            .get(source)
            .map_or(0, |s| s.queue.len() / PER_MS)
    }
}

/// Cuts what the speaker plays into 10 ms echo-reference frames.
struct Reference {
    processor: AudioProcessor,
    pending: Vec<i16>,
}

impl Reference {
    fn feed(&mut self, mono: &[i16]) {
        self.pending.extend_from_slice(mono);
        while self.pending.len() >= FRAME {
            let samples: Vec<i16> = self.pending.drain(..FRAME).collect();
            let frame = AudioFrame {
                sample_rate: RATE,
                channels: 1,
                samples,
                capture_time_us: 0,
            };
            let _ = self.processor.render(&frame);
        }
    }
}

/// An output device playing a [`Mixer`].
#[derive(Debug, Default)]
pub struct Speaker {
    thread: CaptureThread,
}

impl Speaker {
    /// Opens the output device `device` (`None`: the default; ids from
    /// [`crate::devices::list`]) and plays `mixer` until dropped; `reference` (a mono processor
    /// shared with the microphone path) hears everything played.
    pub fn start(
        device: Option<String>,
        mixer: Mixer,
        reference: Option<AudioProcessor>,
    ) -> Result<Speaker, CaptureError> {
        let mut thread = CaptureThread::default();
        thread.start(
            "speaker",
            move || open(device.as_deref(), mixer, reference),
            |stream, stop| {
                // cpal plays on its own thread; this one keeps the stream alive.
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                drop(stream);
            },
        )?;
        Ok(Speaker { thread })
    }

    /// Closes the device; returns once playing stopped.
    pub fn stop(&mut self) {
        self.thread.stop();
    }
}

fn open(
    device: Option<&str>,
    mixer: Mixer,
    reference: Option<AudioProcessor>,
) -> Result<cpal::Stream, CaptureError> {
    use cpal::traits::{DeviceTrait, StreamTrait};
    let device = crate::devices::output_device(device)?;
    let supported = device
        .supported_output_configs()
        .map_err(|e| CaptureError::NoDevice(format!("speaker: {e}")))?
        .filter(|r| r.channels() <= 2 && r.min_sample_rate() <= RATE && RATE <= r.max_sample_rate())
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
        .ok_or_else(|| CaptureError::OpenFailed("the speaker offers no 48 kHz format".into()))?
        .with_sample_rate(RATE);
    let config = crate::devices::low_latency_config(&supported);
    let channels = usize::from(config.channels);
    let mut reference = reference.map(|processor| Reference {
        processor,
        pending: Vec::new(),
    });
    let mut mono = Vec::new();
    let mut next = move |frames: usize| -> Vec<i16> {
        mono.resize(frames, 0);
        mixer.pull(&mut mono);
        if let Some(r) = reference.as_mut() {
            r.feed(&mono);
        }
        mono.clone()
    };
    let on_error = |e: cpal::Error| tracing::warn!(error = %e, "speaker stream error");
    let stream = match supported.sample_format() {
        cpal::SampleFormat::I16 => device.build_output_stream::<i16, _, _>(
            config,
            move |data: &mut [i16], _| {
                let mono = next(data.len() / channels);
                for (frame, s) in data.chunks_mut(channels).zip(mono) {
                    frame.fill(s);
                }
            },
            on_error,
            None,
        ),
        _ => device.build_output_stream::<f32, _, _>(
            config,
            move |data: &mut [f32], _| {
                let mono = next(data.len() / channels);
                for (frame, s) in data.chunks_mut(channels).zip(mono) {
                    frame.fill(f32::from(s) / 32768.0);
                }
            },
            on_error,
            None,
        ),
    }
    .map_err(|e| CaptureError::OpenFailed(format!("speaker: {e}")))?;
    stream
        .play()
        .map_err(|e| CaptureError::OpenFailed(format!("speaker: {e}")))?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(value: i16, ms: usize) -> AudioFrame {
        AudioFrame {
            sample_rate: RATE,
            channels: 1,
            samples: vec![value; ms * PER_MS],
            capture_time_us: 0,
        }
    }

    #[test]
    fn a_source_waits_for_its_cushion_then_mixes() {
        let m = Mixer::new();
        let mut out = vec![0i16; 10 * PER_MS];
        m.push("a", &frame(100, 40));
        m.pull(&mut out);
        assert!(out.iter().all(|&s| s == 0), "below the target: silent");
        m.push("a", &frame(100, 40));
        m.push("b", &frame(50, 80));
        m.pull(&mut out);
        assert!(out.iter().all(|&s| s == 150), "two sources add");
        m.push("c", &frame(i16::MAX, 80));
        m.pull(&mut out);
        assert!(out.iter().all(|&s| s == i16::MAX), "the sum saturates");
    }

    #[test]
    fn a_burst_is_trimmed_to_the_target() {
        let m = Mixer::new();
        m.push("a", &frame(1, TARGET_MS + SLACK_MS + 20));
        assert_eq!(m.queued_ms("a"), TARGET_MS);
        m.remove("a");
        assert_eq!(m.queued_ms("a"), 0);
    }

    #[test]
    fn the_cushion_follows_the_jitter_within_its_bounds() {
        let m = Mixer::new();
        m.push("a", &frame(1, 20));
        m.fit_to_jitter("a", 1.0);
        assert_eq!(
            m.target_ms("a"),
            TARGET_MS,
            "a clean link keeps the shortest"
        );
        m.fit_to_jitter("a", 20.0);
        assert_eq!(
            m.target_ms("a"),
            80,
            "±30 ms of spread reads ~20 ms of jitter"
        );
        let mut out = vec![0i16; 10 * PER_MS];
        m.push("a", &frame(1, 50));
        m.pull(&mut out);
        assert!(
            out.iter().all(|&s| s == 0),
            "70 ms is short of an 80 ms cushion"
        );
        m.push("a", &frame(1, 10));
        m.pull(&mut out);
        assert!(out.iter().all(|&s| s == 1), "80 ms plays");
        m.fit_to_jitter("a", 500.0);
        assert_eq!(m.target_ms("a"), MAX_TARGET_MS, "never more than the most");
        m.push("a", &frame(1, MAX_TARGET_MS + SLACK_MS));
        assert_eq!(
            m.queued_ms("a"),
            MAX_TARGET_MS,
            "a burst trims to the cushion"
        );
    }
}
