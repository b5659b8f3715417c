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

/// The thread a source captures on. Devices are opened *on* that thread (several backends'
/// handles are not `Send`), and whether opening worked is reported back before
/// [`CaptureThread::start`] returns, so a missing device is an error at the call.
#[derive(Debug, Default)]
pub struct CaptureThread {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CaptureThread {
    /// Runs `open` then `run(device, stop_flag)` on a new thread named `name`.
    pub fn start<D>(
        &mut self,
        name: &str,
        open: impl FnOnce() -> Result<D, CaptureError> + Send + 'static,
        run: impl FnOnce(D, &std::sync::atomic::AtomicBool) + Send + 'static,
    ) -> Result<(), CaptureError> {
        if self.thread.is_some() {
            return Err(CaptureError::AlreadyStarted);
        }
        self.stop = Default::default();
        let stop = std::sync::Arc::clone(&self.stop);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || match open() {
                Ok(device) => {
                    let _ = ready_tx.send(Ok(()));
                    run(device, &stop);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| CaptureError::OpenFailed(e.to_string()))?;
        self.thread = Some(thread);
        let result = ready_rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .unwrap_or_else(|_| {
                Err(CaptureError::OpenFailed(format!(
                    "{name} did not open within 5 s"
                )))
            });
        if result.is_err() {
            self.stop();
        }
        result
    }

    /// Asks the thread to stop and waits for it.
    pub fn stop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for CaptureThread {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sleeps until tick `tick` of a `period` clock started at `start`: paced loops do not drift.
pub fn pace(start: std::time::Instant, tick: u32, period: std::time::Duration) {
    if let Some(wait) = (start + period * tick).checked_duration_since(std::time::Instant::now()) {
        std::thread::sleep(wait);
    }
}
