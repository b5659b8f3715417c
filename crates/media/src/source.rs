//! Capture sources: one trait per kind. A source pushes timestamped frames into a
//! [`FrameSink`] from its own thread until stopped; devices and synthetic sources implement the
//! same traits, so every later stage runs the same code for both.

use crate::frame::{AudioFrame, VideoFrame};
use crate::sink::FrameSink;

/// Why a source could not start. The SDK maps these to TRTC codes (−1301, −1302, −1308).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// No such device (TRTC warnings 1111 / 1201).
    #[error("no capture device: {0}")]
    NoDevice(String),
    /// The device exists but would not open.
    #[error("capture device would not open: {0}")]
    OpenFailed(String),
    /// The source is already running.
    #[error("already capturing")]
    AlreadyStarted,
}

/// A camera, a screen, or the test pattern.
pub trait VideoSource: Send {
    /// Starts pushing frames into `sink` from the source's own thread.
    fn start(&mut self, sink: FrameSink<VideoFrame>) -> Result<(), CaptureError>;
    /// Stops; returns once the capture thread has ended.
    fn stop(&mut self);
}

/// A microphone or the test tone.
pub trait AudioSource: Send {
    /// Starts pushing frames into `sink` from the source's own thread.
    fn start(&mut self, sink: FrameSink<AudioFrame>) -> Result<(), CaptureError>;
    /// Stops; returns once the capture thread has ended.
    fn stop(&mut self);
}
