//! Local streams: a capture source feeding an encoder thread. Encoding never runs on the async
//! runtime; encoded frames go through a bounded queue to the sender task, which hands them to
//! the publisher. A full queue drops the frame and counts it (the network is behind; waiting
//! would only make every later frame late too). Starting (a device opening) and stopping
//! (thread joins) block, so the shell runs both on blocking threads.

use super::adjust_res::ResolutionStep;
use super::keyframe_gate::KeyframeGate;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use trtc_media::codec::h264::{ContentHint, H264Config, H264Encoder};
use trtc_media::codec::opus::{frame_samples, OpusEncoder};
use trtc_media::params::{TrtcAudioQuality, TrtcVideoEncParam};
use trtc_media::processing::AudioProcessor;
use trtc_media::sink::{frame_channel, FrameSink};
use trtc_media::{AudioFrame, AudioSource, CaptureError, VideoFrame, VideoSource};
use trtc_protocol::StreamKind;

/// Captured frames waiting for the encoder; more means the encoder is behind, so drop.
const CAPTURE_QUEUE: usize = 2;

/// One encoded frame on its way to the transport.
#[derive(Debug)]
pub(crate) struct Encoded {
    pub kind: StreamKind,
    /// The opening it came from (see `core::local`).
    pub token: u64,
    pub data: Vec<u8>,
    pub capture_us: u64,
}

/// Where encoder threads put their frames: bounded, never waiting.
#[derive(Debug, Clone)]
pub(crate) struct EncodedSink {
    tx: mpsc::Sender<Encoded>,
    dropped: Arc<AtomicU64>,
    /// How long the oldest video packet has waited in the publisher's pacer, µs (written by
    /// the pacer of whichever publisher connection is current).
    send_queue_us: Arc<AtomicU64>,
}

/// Video waiting longer than this in the pacer means the encoder makes more than the link
/// takes: pictures are skipped until it drains (a keyframe asked for is still encoded).
const MAX_SEND_QUEUE_US: u64 = 200_000;

impl EncodedSink {
    /// The counter the publisher's pacer writes its video queue's age into.
    pub(crate) fn send_queue(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.send_queue_us)
    }

    fn send_queue_full(&self) -> bool {
        self.send_queue_us.load(Ordering::Relaxed) > MAX_SEND_QUEUE_US
    }

    /// A sink holding at most `capacity` frames, and its receiving end.
    pub(crate) fn new(capacity: usize) -> (EncodedSink, mpsc::Receiver<Encoded>) {
        let (tx, rx) = mpsc::channel(capacity);
        let sink = EncodedSink {
            tx,
            dropped: Arc::default(),
            send_queue_us: Arc::default(),
        };
        (sink, rx)
    }

    /// Queues a frame; false when the receiving end is gone (stop encoding).
    fn push(&self, e: Encoded) -> bool {
        match self.tx.try_send(e) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Frames dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Counters and switches shared between the controller and an encoder thread.
#[derive(Debug, Default)]
pub(crate) struct StreamControl {
    pub stop: AtomicBool,
    pub muted: AtomicBool,
    pub keyframe: AtomicBool,
    /// The congestion controller's share for this stream, bps (0: none yet).
    pub estimate_bps: AtomicU64,
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
    pub width: AtomicU32,
    pub height: AtomicU32,
    pub bitrate_bps: AtomicU64,
    /// Audio: the rate the source delivers, Hz.
    pub sample_rate: AtomicU32,
    /// Audio: the loss on the way up the encoder should protect against, %.
    pub loss_percent: AtomicU32,
}

/// A running local stream: its source and encoder thread.
pub(crate) struct LocalStream {
    source: Option<Box<dyn VideoSource>>,
    audio_source: Option<Box<dyn AudioSource>>,
    thread: Option<JoinHandle<()>>,
    pub control: Arc<StreamControl>,
}

impl std::fmt::Debug for LocalStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStream").finish_non_exhaustive()
    }
}

impl LocalStream {
    /// Starts `source` and an encoder thread for video `kind` opened as `token`. `preview`
    /// gets every captured frame (the local view); `first_frame` is called once with the first
    /// frame's size. Blocks while the device opens.
    pub(crate) fn video(
        kind: StreamKind,
        token: u64,
        mut source: Box<dyn VideoSource>,
        param: TrtcVideoEncParam,
        preview: Option<FrameSink<VideoFrame>>,
        out: EncodedSink,
        first_frame: Box<dyn FnOnce(u32, u32) + Send>,
    ) -> Result<LocalStream, CaptureError> {
        let (sink, frames) = frame_channel::<VideoFrame>(CAPTURE_QUEUE);
        source.start(sink)?;
        let control = Arc::new(StreamControl::default());
        let ctl = Arc::clone(&control);
        let content = if kind == StreamKind::Sub {
            ContentHint::Screen
        } else {
            ContentHint::Camera
        };
        let thread = std::thread::Builder::new()
            .name(format!("encode-{}", kind.track_id()))
            .spawn(move || {
                let config = H264Config::from_trtc(&param, content);
                let ceiling = config.bitrate_bps;
                let floor = param.min_kbps() * 1000;
                let Ok(mut encoder) = H264Encoder::new(config) else {
                    tracing::error!("H.264 encoder could not be created");
                    return;
                };
                ctl.bitrate_bps.store(u64::from(ceiling), Ordering::Relaxed);
                let mut first_frame = Some(first_frame);
                let mut pace = FramePace::default();
                let mut keyframes = KeyframeGate::default();
                let mut steps = (param.enable_adjust_res && kind == StreamKind::Big)
                    .then(|| ResolutionStep::new(param.encoded_size().0, floor));
                while !ctl.stop.load(Ordering::Relaxed) {
                    let frame = match frames.recv_timeout(Duration::from_millis(100)) {
                        Ok(f) => f,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => break,
                    };
                    if let Some(first) = first_frame.take() {
                        first(frame.width as u32, frame.height as u32);
                    }
                    if let Some(p) = &preview {
                        let _ = p.push(frame.clone());
                    }
                    if ctl.muted.load(Ordering::Relaxed) {
                        continue;
                    }
                    // Every estimate is followed at the next picture: retuning the encoder
                    // costs nothing (no keyframe), and a decrease must not wait.
                    let estimate = ctl.estimate_bps.load(Ordering::Relaxed);
                    if estimate > 0 {
                        let floor = match steps.as_mut() {
                            Some(s) => s.follow(Instant::now(), estimate),
                            None => floor,
                        };
                        let (rate, share) = pace.follow(estimate, floor.min(ceiling), ceiling);
                        encoder.set_bitrate(rate);
                        ctl.bitrate_bps
                            .store((f64::from(rate) * share) as u64, Ordering::Relaxed);
                    }
                    let now = Instant::now();
                    let sending_bps = ctl.bitrate_bps.load(Ordering::Relaxed);
                    let keyframe_wanted =
                        ctl.keyframe.load(Ordering::Relaxed) && keyframes.allows(now);
                    if !pace.take(keyframe_wanted) || (!keyframe_wanted && out.send_queue_full()) {
                        continue;
                    }
                    if keyframe_wanted {
                        ctl.keyframe.store(false, Ordering::Relaxed);
                        encoder.request_keyframe();
                    }
                    let halvings = steps.as_ref().map_or(0, ResolutionStep::level);
                    let frame = (0..halvings).fold(frame, |f, _| f.halved());
                    // What is sent, as the statistics report it (TRTC's width and height).
                    ctl.width.store(frame.width as u32, Ordering::Relaxed);
                    ctl.height.store(frame.height as u32, Ordering::Relaxed);
                    match encoder.encode(&frame) {
                        Ok(Some(au)) => {
                            if au.keyframe {
                                keyframes.made(now, au.data.len(), sending_bps);
                            }
                            ctl.frames.fetch_add(1, Ordering::Relaxed);
                            ctl.bytes.fetch_add(au.data.len() as u64, Ordering::Relaxed);
                            if !out.push(Encoded {
                                kind,
                                token,
                                data: au.data,
                                capture_us: au.capture_time_us,
                            }) {
                                break;
                            }
                        }
                        Ok(None) => {}
                        Err(e) => tracing::warn!(error = %e, "encode failed"),
                    }
                }
            })
            .map_err(|e| CaptureError::OpenFailed(format!("encoder thread: {e}")))?;
        Ok(LocalStream {
            source: Some(source),
            audio_source: None,
            thread: Some(thread),
            control,
        })
    }

    /// Starts `source` and an Opus encoder thread, opened as `token`. The source's 10 ms
    /// frames are joined into Opus's 20 ms; the encoder takes the source's rate and channels
    /// with the quality's bitrate. Blocks while the device opens.
    pub(crate) fn audio(
        token: u64,
        mut source: Box<dyn AudioSource>,
        quality: TrtcAudioQuality,
        mut processor: Option<AudioProcessor>,
        out: EncodedSink,
    ) -> Result<LocalStream, CaptureError> {
        let (sink, frames) = frame_channel::<AudioFrame>(50);
        source.start(sink)?;
        let control = Arc::new(StreamControl::default());
        let ctl = Arc::clone(&control);
        let thread = std::thread::Builder::new()
            .name("encode-audio".into())
            .spawn(move || {
                let mut encoder: Option<OpusEncoder> = None;
                let mut loss_told = None;
                let mut pending: Vec<i16> = Vec::new();
                let mut pending_start_us = 0u64;
                while !ctl.stop.load(Ordering::Relaxed) {
                    let frame = match frames.recv_timeout(Duration::from_millis(100)) {
                        Ok(f) => f,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => break,
                    };
                    ctl.sample_rate.store(frame.sample_rate, Ordering::Relaxed);
                    let mut frame = frame;
                    if let Some(p) = processor.as_mut() {
                        // Echo cancellation, noise suppression, gain: 10 ms at 48 kHz mono.
                        if let Err(e) = p.capture(&mut frame) {
                            tracing::warn!(error = %e, "voice processing off for this stream");
                            processor = None;
                        }
                    }
                    if encoder
                        .as_ref()
                        .is_none_or(|e| e.format() != (frame.sample_rate, frame.channels))
                    {
                        let bps = quality.format().2;
                        match OpusEncoder::with_format(
                            quality,
                            frame.sample_rate,
                            frame.channels,
                            bps,
                        ) {
                            Ok(e) => encoder = Some(e),
                            Err(e) => {
                                tracing::error!(error = %e, "Opus encoder could not be created");
                                return;
                            }
                        }
                        ctl.bitrate_bps.store(u64::from(bps), Ordering::Relaxed);
                        pending.clear();
                        loss_told = None;
                    }
                    let Some(enc) = encoder.as_mut() else {
                        continue;
                    };
                    let loss = ctl.loss_percent.load(Ordering::Relaxed).min(100) as u8;
                    if loss_told != Some(loss) {
                        if let Err(e) = enc.expect_loss(loss) {
                            tracing::warn!(error = %e, "Opus FEC not retuned");
                        }
                        loss_told = Some(loss);
                    }
                    if pending.is_empty() {
                        pending_start_us = frame.capture_time_us;
                    }
                    pending.extend_from_slice(&frame.samples);
                    let (rate, channels) = enc.format();
                    let per = frame_samples(rate) * usize::from(channels);
                    while pending.len() >= per {
                        let samples: Vec<i16> = pending.drain(..per).collect();
                        let capture_us = pending_start_us;
                        pending_start_us += 20_000;
                        if ctl.muted.load(Ordering::Relaxed) {
                            continue;
                        }
                        let chunk = AudioFrame {
                            sample_rate: rate,
                            channels,
                            samples,
                            capture_time_us: capture_us,
                        };
                        match enc.encode(&chunk) {
                            Ok(packet) => {
                                ctl.frames.fetch_add(1, Ordering::Relaxed);
                                ctl.bytes.fetch_add(packet.len() as u64, Ordering::Relaxed);
                                if !out.push(Encoded {
                                    kind: StreamKind::Audio,
                                    token,
                                    data: packet,
                                    capture_us,
                                }) {
                                    return;
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "audio encode failed"),
                        }
                    }
                }
            })
            .map_err(|e| CaptureError::OpenFailed(format!("encoder thread: {e}")))?;
        Ok(LocalStream {
            source: None,
            audio_source: Some(source),
            thread: Some(thread),
            control,
        })
    }

    /// Stops capture and encoding; returns once both threads have ended (blocks: call it on a
    /// blocking thread).
    pub(crate) fn stop(&mut self) {
        self.control.stop.store(true, Ordering::Relaxed);
        if let Some(mut s) = self.source.take() {
            s.stop();
        }
        if let Some(mut s) = self.audio_source.take() {
            s.stop();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LocalStream {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Below the adaptation floor the picture keeps its quality and the frame rate gives: the
/// encoder stays at the floor and only every n-th picture is encoded, so the stream's rate
/// follows the estimate (TRTC's "clarity first" for a floor of 60 %). Above it every picture
/// is encoded at the estimate.
#[derive(Debug)]
struct FramePace {
    /// The share of pictures to encode, 0–1.
    share: f64,
    /// Accumulated share: a picture is encoded each time it reaches 1.
    credit: f64,
}

impl Default for FramePace {
    fn default() -> Self {
        FramePace {
            share: 1.0,
            credit: 1.0,
        }
    }
}

impl FramePace {
    /// The encoder's bitrate for `estimate`, and the share of pictures to encode.
    fn follow(&mut self, estimate: u64, floor: u32, ceiling: u32) -> (u32, f64) {
        let estimate = estimate.min(u64::from(u32::MAX)) as u32;
        let rate = estimate.clamp(floor, ceiling);
        // Never below a fifth of the frame rate: beyond that a call is a slide show, and the
        // congestion controller needs packets to measure the link with.
        self.share = (f64::from(estimate) / f64::from(rate.max(1))).clamp(0.2, 1.0);
        (rate, self.share)
    }

    /// Whether to encode this picture (always, when a keyframe is wanted).
    fn take(&mut self, keyframe_wanted: bool) -> bool {
        self.credit = (self.credit + self.share).min(2.0);
        if self.credit >= 1.0 || keyframe_wanted {
            self.credit = (self.credit - 1.0).max(0.0);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FramePace;

    #[test]
    fn below_the_floor_the_frame_rate_gives_and_the_rate_follows() {
        let mut pace = FramePace::default();
        assert_eq!(pace.follow(800_000, 330_000, 550_000), (550_000, 1.0));
        assert!(
            (0..30).all(|_| pace.take(false)),
            "every picture above the floor"
        );
        let (rate, share) = pace.follow(165_000, 330_000, 550_000);
        assert_eq!(
            (rate, share),
            (330_000, 0.5),
            "the floor, half the pictures"
        );
        let taken = (0..30).filter(|_| pace.take(false)).count();
        assert!((15..=16).contains(&taken), "{taken} of 30");
        assert!(pace.take(true), "a keyframe is never skipped");
        pace.follow(10_000, 330_000, 550_000);
        let taken = (0..30).filter(|_| pace.take(false)).count();
        assert!(
            (6..=7).contains(&taken),
            "never under a fifth: {taken} of 30"
        );
    }
}
