//! Voice processing in the capture path: echo cancellation (with what the speaker plays as
//! the reference), noise suppression and automatic gain control — WebRTC's audio processing
//! module (webrtc-audio-processing 0.5, built from its bundled source).
//!
//! One [`AudioProcessor`] per call: playout feeds every 10 ms it plays to
//! [`AudioProcessor::render`] (the echo reference), capture passes every 10 ms from the
//! microphone through [`AudioProcessor::capture`]. Clones share the same processor, so the
//! playout thread and the capture thread each hold one. Works at 48 kHz, 10 ms frames; the
//! synthetic tone skips it (noise suppression would treat a steady tone as noise).

use crate::frame::AudioFrame;
use webrtc_audio_processing as apm;

/// The rate and frame length the processor works at.
pub const RATE: u32 = 48_000;
/// Samples per channel in one processed frame (10 ms).
pub const FRAME: usize = apm::NUM_SAMPLES_PER_FRAME as usize;

/// Which stages run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessingSettings {
    /// Remove what the speaker played from the microphone signal.
    pub echo_cancellation: bool,
    /// Remove steady background noise.
    pub noise_suppression: bool,
    /// Keep the voice at a steady level.
    pub gain_control: bool,
}

impl Default for ProcessingSettings {
    /// Everything on, as a meeting wants.
    fn default() -> Self {
        ProcessingSettings {
            echo_cancellation: true,
            noise_suppression: true,
            gain_control: true,
        }
    }
}

/// A failed processing call (wrong frame shape, or the module refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audio processing: {0}")]
pub struct ProcessingError(String);

/// The shared processor; see the module docs.
#[derive(Clone)]
pub struct AudioProcessor {
    inner: apm::Processor,
    channels: u16,
}

impl std::fmt::Debug for AudioProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioProcessor")
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl AudioProcessor {
    /// A processor for `channels` (1 or 2) on both the capture and render side.
    pub fn new(channels: u16, settings: ProcessingSettings) -> Result<Self, ProcessingError> {
        let init = apm::InitializationConfig {
            num_capture_channels: i32::from(channels),
            num_render_channels: i32::from(channels),
            ..Default::default()
        };
        let mut inner =
            apm::Processor::new(&init).map_err(|e| ProcessingError(format!("{e:?}")))?;
        inner.set_config(apm::Config {
            echo_cancellation: settings.echo_cancellation.then_some(apm::EchoCancellation {
                suppression_level: apm::EchoCancellationSuppressionLevel::High,
                enable_extended_filter: true,
                // The playout-to-capture delay is not known on every device: estimate it.
                enable_delay_agnostic: true,
                stream_delay_ms: None,
            }),
            noise_suppression: settings.noise_suppression.then_some(apm::NoiseSuppression {
                suppression_level: apm::NoiseSuppressionLevel::High,
            }),
            gain_control: settings.gain_control.then_some(apm::GainControl {
                mode: apm::GainControlMode::AdaptiveDigital,
                target_level_dbfs: 3,
                compression_gain_db: 9,
                enable_limiter: true,
            }),
            enable_high_pass_filter: true,
            ..Default::default()
        });
        Ok(AudioProcessor { inner, channels })
    }

    fn to_float(&self, frame: &AudioFrame) -> Result<Vec<f32>, ProcessingError> {
        if frame.sample_rate != RATE
            || frame.channels != self.channels
            || frame.samples.len() != FRAME * usize::from(self.channels)
        {
            return Err(ProcessingError(format!(
                "expected 10 ms at {RATE} Hz × {} ch, got {} samples at {} Hz × {} ch",
                self.channels,
                frame.samples.len(),
                frame.sample_rate,
                frame.channels
            )));
        }
        Ok(frame
            .samples
            .iter()
            .map(|&s| f32::from(s) / 32768.0)
            .collect())
    }

    /// What the speaker is about to play: the echo reference.
    pub fn render(&mut self, frame: &AudioFrame) -> Result<(), ProcessingError> {
        let mut f = self.to_float(frame)?;
        self.inner
            .process_render_frame(&mut f)
            .map_err(|e| ProcessingError(format!("{e:?}")))
    }

    /// Processes 10 ms from the microphone in place.
    pub fn capture(&mut self, frame: &mut AudioFrame) -> Result<(), ProcessingError> {
        let mut f = self.to_float(frame)?;
        self.inner
            .process_capture_frame(&mut f)
            .map_err(|e| ProcessingError(format!("{e:?}")))?;
        for (out, x) in frame.samples.iter_mut().zip(f) {
            *out = (x.clamp(-1.0, 1.0) * 32767.0) as i16;
        }
        Ok(())
    }
}
