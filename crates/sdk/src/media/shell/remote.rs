//! Remote streams: one decoder thread per stream, fed access units by the transport, handing
//! pictures to the view and samples to the mixer and the audio sink. Each participant's
//! decoders live in one [`RemoteMedia`]; dropping it (on a blocking thread: it joins) ends them.

use super::super::core::DecodeCounters;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use trtc_media::codec::h264::H264Decoder;
use trtc_media::codec::opus::OpusDecoder;
use trtc_media::frame::now_us;
use trtc_media::playout::Mixer;
use trtc_media::sink::FrameSink;
use trtc_media::{AudioFrame, VideoFrame};
use trtc_protocol::rtp::{capture_age_ms, StreamKind, AUDIO_CLOCK_RATE, VIDEO_CLOCK_RATE};

/// Access units waiting for a decoder; a decoder this far behind drops and resynchronises.
const DECODE_QUEUE: usize = 64;
/// Keyframe requests from one decoder are at least this far apart.
const KEYFRAME_RETRY: Duration = Duration::from_millis(250);

/// An access unit for a decoder.
#[derive(Debug)]
pub(crate) struct Unit {
    pub data: Vec<u8>,
    pub rtp_timestamp: u32,
    pub keyframe: bool,
    /// A unit before it was lost (see `RemoteFrame::after_loss`).
    pub after_loss: bool,
}

/// Where the transport hands a decoder its access units.
#[derive(Debug, Clone)]
pub(crate) struct DecoderInput {
    tx: SyncSender<Unit>,
    /// A unit was dropped because the decoder was behind; the next one handed over says so.
    overflowed: Arc<AtomicBool>,
}

impl DecoderInput {
    /// Hands `unit` over without waiting. A decoder [`DECODE_QUEUE`] units behind loses it,
    /// and the next unit is marked as following a loss, exactly as one the network lost: a
    /// P picture decoded without the one before it would be corrupted.
    pub fn push(&self, mut unit: Unit) {
        unit.after_loss |= self.overflowed.load(Ordering::Relaxed);
        match self.tx.try_send(unit) {
            Ok(()) => self.overflowed.store(false, Ordering::Relaxed),
            Err(TrySendError::Full(_)) => self.overflowed.store(true, Ordering::Relaxed),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// What a decoder counts; read into each snapshot.
#[derive(Debug, Default)]
pub(crate) struct ReceiveStats {
    pub frames: AtomicU64,
    pub width: AtomicU32,
    pub height: AtomicU32,
    /// Sum and count of capture-to-decode delays so far.
    pub delay_sum_ms: AtomicU64,
    pub delay_count: AtomicU64,
    pub last_delay_ms: AtomicU32,
}

impl ReceiveStats {
    fn note_delay(&self, ms: i64) {
        let ms = ms.max(0) as u64;
        self.delay_sum_ms.fetch_add(ms, Ordering::Relaxed);
        self.delay_count.fetch_add(1, Ordering::Relaxed);
        self.last_delay_ms.store(ms as u32, Ordering::Relaxed);
    }

    pub fn read(&self) -> DecodeCounters {
        DecodeCounters {
            frames: self.frames.load(Ordering::Relaxed),
            width: self.width.load(Ordering::Relaxed),
            height: self.height.load(Ordering::Relaxed),
            delay_sum_ms: self.delay_sum_ms.load(Ordering::Relaxed),
            delay_count: self.delay_count.load(Ordering::Relaxed),
            last_delay_ms: self.last_delay_ms.load(Ordering::Relaxed),
        }
    }
}

/// Where decoded pictures of a stream go (the app's view); replaceable while running.
pub(crate) type ViewSlot = Arc<Mutex<Option<FrameSink<VideoFrame>>>>;
/// Where decoded audio goes (playout, or the app's custom rendering).
pub(crate) type AudioSlot = Arc<Mutex<Option<FrameSink<AudioFrame>>>>;

/// A running decoder.
pub(crate) struct RemoteStream {
    input: Option<DecoderInput>,
    thread: Option<JoinHandle<()>>,
    pub stats: Arc<ReceiveStats>,
    /// Video: a view is open; audio: not muted.
    pub active: Arc<AtomicBool>,
    /// Video: where pictures go.
    pub view: ViewSlot,
    /// Audio: where decoded audio also goes.
    pub sink: AudioSlot,
}

impl std::fmt::Debug for RemoteStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteStream").finish_non_exhaustive()
    }
}

impl RemoteStream {
    /// Where the transport hands this decoder its access units (it drops them when the
    /// decoder is behind).
    pub fn input(&self) -> Option<DecoderInput> {
        self.input.clone()
    }

    /// A decoder thread named `name` running `body` on the stream's input, counters,
    /// switch (initially `active`), view and sink.
    fn start(
        name: &str,
        active: bool,
        body: impl FnOnce(Receiver<Unit>, Arc<ReceiveStats>, Arc<AtomicBool>, ViewSlot, AudioSlot)
            + Send
            + 'static,
    ) -> RemoteStream {
        let (tx, rx) = sync_channel::<Unit>(DECODE_QUEUE);
        let mut stream = RemoteStream {
            input: Some(DecoderInput {
                tx,
                overflowed: Arc::default(),
            }),
            thread: None,
            stats: Arc::default(),
            active: Arc::new(AtomicBool::new(active)),
            view: ViewSlot::default(),
            sink: AudioSlot::default(),
        };
        let (stats, on) = (Arc::clone(&stream.stats), Arc::clone(&stream.active));
        let (view, sink) = (Arc::clone(&stream.view), Arc::clone(&stream.sink));
        stream.thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || body(rx, stats, on, view, sink))
            .ok();
        stream
    }

    /// A video decoder. It decodes only while `active` (a view is open), asks for a keyframe
    /// through `want_keyframe` whenever it cannot decode, and calls `first_frame` once.
    pub fn video(
        want_keyframe: Box<dyn Fn() + Send>,
        first_frame: Box<dyn FnOnce(u32, u32) + Send>,
    ) -> RemoteStream {
        Self::start("decode-video", false, move |rx, stats, active, view, _| {
            video_loop(rx, view, stats, active, want_keyframe, first_frame)
        })
    }

    /// An audio decoder producing 48 kHz mono into `mixer` (as `user_id`, while `playout`
    /// says a speaker plays) and the sink; silent while not `active` (muted).
    pub fn audio(
        user_id: String,
        mixer: Mixer,
        playout: Arc<AtomicBool>,
        first_frame: Box<dyn FnOnce() + Send>,
    ) -> RemoteStream {
        Self::start("decode-audio", true, move |rx, stats, active, _, sink| {
            let to = Playout {
                user_id: &user_id,
                mixer: &mixer,
                playing: &playout,
            };
            audio_loop(rx, to, sink, stats, active, first_frame)
        })
    }
}

/// Where a remote user's decoded audio is played.
struct Playout<'a> {
    user_id: &'a str,
    mixer: &'a Mixer,
    /// A speaker is playing the mixer (without one, feeding it would only fill its buffer).
    playing: &'a AtomicBool,
}

/// Everything the shell runs for one remote participant.
#[derive(Debug, Default)]
pub(crate) struct RemoteMedia {
    pub decoders: HashMap<StreamKind, RemoteStream>,
}

impl Drop for RemoteStream {
    fn drop(&mut self) {
        // Closing the input ends the thread.
        self.input.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn next(rx: &Receiver<Unit>) -> Option<Option<Unit>> {
    match rx.recv_timeout(Duration::from_millis(200)) {
        Ok(u) => Some(Some(u)),
        Err(RecvTimeoutError::Timeout) => Some(None),
        Err(RecvTimeoutError::Disconnected) => None,
    }
}

fn video_loop(
    rx: Receiver<Unit>,
    view: ViewSlot,
    stats: Arc<ReceiveStats>,
    active: Arc<AtomicBool>,
    want_keyframe: Box<dyn Fn() + Send>,
    first_frame: Box<dyn FnOnce(u32, u32) + Send>,
) {
    let Ok(mut decoder) = H264Decoder::new() else {
        tracing::error!("H.264 decoder could not be created");
        return;
    };
    let mut first_frame = Some(first_frame);
    let mut need_keyframe = true;
    let mut last_request: Option<Instant> = None;
    let ask = |need: bool, last: &mut Option<Instant>| {
        if need && last.is_none_or(|t| t.elapsed() >= KEYFRAME_RETRY) {
            want_keyframe();
            *last = Some(Instant::now());
        }
    };
    while let Some(unit) = next(&rx) {
        if !active.load(Ordering::Relaxed) {
            need_keyframe = true;
            continue;
        }
        let Some(unit) = unit else {
            ask(need_keyframe, &mut last_request);
            continue;
        };
        // A lost picture leaves the ones after it without their reference: shown, they would
        // be corrupted (a smear over the last good picture) until the next keyframe, so the
        // last good picture stays up and a keyframe is asked for, as libwebrtc does for H.264.
        if unit.after_loss && !unit.keyframe {
            need_keyframe = true;
        }
        if need_keyframe && !unit.keyframe {
            ask(true, &mut last_request);
            continue;
        }
        let now = now_us();
        let age_ms = capture_age_ms(unit.rtp_timestamp, now, VIDEO_CLOCK_RATE);
        let capture_us = now.saturating_sub(age_ms.max(0) as u64 * 1000);
        match decoder.decode(&unit.data, capture_us) {
            Ok(Some(frame)) => {
                need_keyframe = false;
                stats.note_delay(capture_age_ms(
                    unit.rtp_timestamp,
                    now_us(),
                    VIDEO_CLOCK_RATE,
                ));
                stats.frames.fetch_add(1, Ordering::Relaxed);
                stats.width.store(frame.width as u32, Ordering::Relaxed);
                stats.height.store(frame.height as u32, Ordering::Relaxed);
                if let Some(first) = first_frame.take() {
                    first(frame.width as u32, frame.height as u32);
                }
                let sink = view.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if let Some(sink) = sink {
                    let _ = sink.push(frame);
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(error = %e, "undecodable access unit; waiting for a keyframe");
                need_keyframe = true;
                ask(true, &mut last_request);
            }
        }
    }
}

fn audio_loop(
    rx: Receiver<Unit>,
    to: Playout<'_>,
    sink: AudioSlot,
    stats: Arc<ReceiveStats>,
    active: Arc<AtomicBool>,
    first_frame: Box<dyn FnOnce() + Send>,
) {
    let Playout {
        user_id,
        mixer,
        playing,
    } = to;
    let Ok(mut decoder) = OpusDecoder::new(AUDIO_CLOCK_RATE, 1) else {
        tracing::error!("Opus decoder could not be created");
        return;
    };
    let mut first_frame = Some(first_frame);
    while let Some(unit) = next(&rx) {
        let Some(unit) = unit else { continue };
        if !active.load(Ordering::Relaxed) {
            mixer.remove(user_id);
            continue;
        }
        let now = now_us();
        let age_ms = capture_age_ms(unit.rtp_timestamp, now, AUDIO_CLOCK_RATE);
        let capture_us = now.saturating_sub(age_ms.max(0) as u64 * 1000);
        // Lost packets are filled in (concealed, or rebuilt from the next one's FEC) so the
        // playout buffer never runs short by a lost frame's 20 ms.
        match decoder.receive(unit.rtp_timestamp, &unit.data, capture_us) {
            Ok(got) => {
                if got.late {
                    continue;
                }
                stats.note_delay(age_ms);
                stats.frames.fetch_add(1, Ordering::Relaxed);
                if let Some(first) = first_frame.take() {
                    first();
                }
                let out = sink.lock().unwrap_or_else(|e| e.into_inner()).clone();
                for frame in got.frames {
                    if playing.load(Ordering::Relaxed) {
                        mixer.push(user_id, &frame);
                    }
                    if let Some(out) = &out {
                        let _ = out.push(frame);
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "undecodable audio packet"),
        }
    }
    tracing::debug!(
        user = user_id,
        concealed = decoder.concealed(),
        "audio stream ended"
    );
    mixer.remove(user_id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(n: u32) -> Unit {
        Unit {
            data: vec![],
            rtp_timestamp: n,
            keyframe: false,
            after_loss: false,
        }
    }

    #[test]
    fn a_unit_a_busy_decoder_lost_marks_the_next_one() {
        let (tx, rx) = sync_channel(2);
        let input = DecoderInput {
            tx,
            overflowed: Arc::default(),
        };
        let queued = || -> Vec<(u32, bool)> {
            rx.try_iter()
                .map(|u| (u.rtp_timestamp, u.after_loss))
                .collect()
        };
        for n in 0..3 {
            input.push(unit(n));
        }
        assert_eq!(queued(), [(0, false), (1, false)], "the third had no room");
        input.push(unit(3));
        input.push(unit(4));
        assert_eq!(
            queued(),
            [(3, true), (4, false)],
            "the one after it says so"
        );
    }
}
