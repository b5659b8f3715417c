//! The media controller: one task per TrtcCloud that owns local streams, the two peer
//! connections and the remote decoders, applies TRTC's media API, talks media signalling
//! through the driver, and raises the media events and statistics.

use super::local::{Encoded, LocalStream};
use super::remote::{AudioSlot, RemoteStream, Unit, ViewSlot};
use super::{camera_source, mic_source, AudioSink, DeviceSelection, SourceChoice, VideoView};
use crate::transport::{Publisher, RemoteFrame, Subscriber, TransportEvent};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;
use trtc_media::devices::DeviceType;
use trtc_media::params::{TrtcAudioQuality, TrtcVideoEncParam};
use trtc_media::playout::{Mixer, Speaker};
use trtc_media::processing::{AudioProcessor, ProcessingSettings};
use trtc_media::CaptureError;
use trtc_protocol::codes::*;
use trtc_protocol::{ClientMessage, MediaState, ServerMessage, StreamKind, TrtcEvent};

mod statistics;

/// How often onStatistics fires.
const STATS_INTERVAL: Duration = Duration::from_secs(2);

/// What the facade and the driver ask of the controller.
#[derive(Debug)]
pub(crate) enum MediaCommand {
    StartLocalPreview(Option<VideoView>),
    StopLocalPreview,
    MuteLocalVideo(bool),
    StartLocalAudio(TrtcAudioQuality),
    StopLocalAudio,
    MuteLocalAudio(bool),
    StartRemoteView(String, StreamKind, Option<VideoView>),
    StopRemoteView(String, StreamKind),
    MuteRemoteAudio(String, bool),
    MuteAllRemoteAudio(bool),
    SetRemoteAudioSink(String, Option<AudioSink>),
    SelectScreenTarget(usize),
    StartScreenCapture(Option<VideoView>),
    StopScreenCapture,
    PauseScreenCapture,
    ResumeScreenCapture,
    SetVideoEncoderParam(TrtcVideoEncParam),
    SetSubStreamEncoderParam(TrtcVideoEncParam),
    /// The device manager chose another device of this type: reopen it if it is running.
    DeviceChanged(DeviceType),
    /// The driver: the room was entered; media binds towards this address.
    Entered(IpAddr),
    /// The driver: the session is over; the sender (if any) hears when media is released.
    Left(Option<tokio::sync::oneshot::Sender<()>>),
    /// The driver: the session resumed, or the role changed: tell the server our state again.
    Resync,
    /// The driver: a media message from the server.
    Server(ServerMessage),
    /// The driver: signalling round trip, ms.
    Rtt(u32),
}

/// The controller's inbox.
#[derive(Debug, Clone)]
pub(crate) struct MediaHandle(pub mpsc::UnboundedSender<MediaCommand>);

impl MediaHandle {
    pub(crate) fn send(&self, c: MediaCommand) {
        let _ = self.0.send(c);
    }
}

/// Sources chosen for this instance.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    pub camera: SourceChoice,
    pub mic: SourceChoice,
    /// `Device` plays remote audio on the selected output; anything else plays nothing.
    pub speaker: SourceChoice,
    /// Which devices `Device` means (the device manager's choice; default when unset).
    pub devices: DeviceSelection,
}

/// Starts the controller on the current runtime.
pub(crate) fn spawn(
    sources: Sources,
    events: mpsc::UnboundedSender<TrtcEvent>,
    outbox: mpsc::UnboundedSender<ClientMessage>,
) -> MediaHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let (controller, inboxes) = Controller::new(sources, events, outbox);
    tokio::spawn(controller.run(rx, inboxes));
    MediaHandle(tx)
}

/// What the controller's own threads and tasks send it: encoded frames, transport feedback,
/// decoders' keyframe requests.
struct Inboxes {
    encoded: mpsc::UnboundedReceiver<Encoded>,
    transport: mpsc::UnboundedReceiver<TransportEvent>,
    keyframes: mpsc::UnboundedReceiver<(String, StreamKind)>,
}

/// Remote streams by user and kind, shared with the transport's delivery callback.
struct Remotes {
    streams: HashMap<(String, StreamKind), RemoteStream>,
    /// Each stream's view slot lives as long as the controller, so a decoder started before
    /// the view opened still reaches it.
    views: HashMap<(String, StreamKind), ViewSlot>,
    open_views: std::collections::HashSet<(String, StreamKind)>,
    audio_sinks: HashMap<String, AudioSlot>,
    muted_audio: HashMap<String, bool>,
    mute_all_audio: bool,
}

fn lock(m: &Mutex<Remotes>) -> MutexGuard<'_, Remotes> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Controller {
    sources: Sources,
    events: mpsc::UnboundedSender<TrtcEvent>,
    outbox: mpsc::UnboundedSender<ClientMessage>,
    encoded_tx: mpsc::UnboundedSender<Encoded>,
    transport_tx: mpsc::UnboundedSender<TransportEvent>,
    keyframe_tx: mpsc::UnboundedSender<(String, StreamKind)>,
    camera: Option<LocalStream>,
    camera_view: Option<VideoView>,
    camera_muted: bool,
    mic: Option<LocalStream>,
    mic_quality: TrtcAudioQuality,
    mic_muted: bool,
    screen: Option<LocalStream>,
    screen_paused: bool,
    screen_target: usize,
    video_param: TrtcVideoEncParam,
    sub_param: TrtcVideoEncParam,
    in_room: Option<IpAddr>,
    last_sent: Option<MediaState>,
    accepted: MediaState,
    publisher: Option<Publisher>,
    subscriber: Option<Subscriber>,
    remotes: Arc<Mutex<Remotes>>,
    remote_states: HashMap<String, MediaState>,
    first_sent: [bool; 3],
    rtt_ms: Arc<AtomicU32>,
    last_bytes: HashMap<(String, StreamKind), u64>,
    last_frames: HashMap<(String, StreamKind), u64>,
    last_local: HashMap<StreamKind, (u64, u64)>,
    mixer: Mixer,
    speaker: Option<Speaker>,
    /// Echo cancellation and friends, shared by the speaker (reference) and the microphone.
    processor: Option<AudioProcessor>,
}

fn kind_index(kind: StreamKind) -> usize {
    match kind {
        StreamKind::Audio => 0,
        StreamKind::Big => 1,
        StreamKind::Sub => 2,
    }
}

impl Controller {
    fn new(
        sources: Sources,
        events: mpsc::UnboundedSender<TrtcEvent>,
        outbox: mpsc::UnboundedSender<ClientMessage>,
    ) -> (Self, Inboxes) {
        let (encoded_tx, encoded) = mpsc::unbounded_channel();
        let (transport_tx, transport) = mpsc::unbounded_channel();
        let (keyframe_tx, keyframes) = mpsc::unbounded_channel();
        let inboxes = Inboxes {
            encoded,
            transport,
            keyframes,
        };
        let controller = Controller {
            sources,
            events,
            outbox,
            encoded_tx,
            transport_tx,
            keyframe_tx,
            camera: None,
            camera_view: None,
            camera_muted: false,
            mic: None,
            mic_quality: TrtcAudioQuality::Default,
            mic_muted: false,
            screen: None,
            screen_paused: false,
            screen_target: 0,
            video_param: TrtcVideoEncParam::default(),
            sub_param: TrtcVideoEncParam {
                video_resolution: trtc_media::params::TrtcVideoResolution::R1280x720,
                video_fps: 10,
                video_bitrate: 1600,
                ..TrtcVideoEncParam::default()
            },
            in_room: None,
            last_sent: None,
            accepted: MediaState::default(),
            publisher: None,
            subscriber: None,
            remotes: Arc::new(Mutex::new(Remotes {
                streams: HashMap::new(),
                views: HashMap::new(),
                open_views: Default::default(),
                audio_sinks: HashMap::new(),
                muted_audio: HashMap::new(),
                mute_all_audio: false,
            })),
            remote_states: HashMap::new(),
            first_sent: [false; 3],
            rtt_ms: Arc::default(),
            last_bytes: HashMap::new(),
            last_frames: HashMap::new(),
            last_local: HashMap::new(),
            mixer: Mixer::new(),
            speaker: None,
            processor: AudioProcessor::new(1, ProcessingSettings::default())
                .map_err(|e| tracing::warn!(error = %e, "voice processing unavailable"))
                .ok(),
        };
        (controller, inboxes)
    }

    fn emit(&self, e: TrtcEvent) {
        let _ = self.events.send(e);
    }

    fn error(&self, code: i32, msg: impl Into<String>) {
        self.emit(TrtcEvent::Error {
            err_code: code,
            err_msg: msg.into(),
        });
    }

    fn warning(&self, code: i32, msg: impl Into<String>) {
        self.emit(TrtcEvent::Warning {
            warning_code: code,
            warning_msg: msg.into(),
        });
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<MediaCommand>, inboxes: Inboxes) {
        let Inboxes {
            mut encoded,
            mut transport,
            mut keyframes,
        } = inboxes;
        // The first report covers a full interval.
        let mut stats =
            tokio::time::interval_at(tokio::time::Instant::now() + STATS_INTERVAL, STATS_INTERVAL);
        stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(c) => self.handle(c).await,
                    None => break,
                },
                Some(e) = encoded.recv() => self.send_encoded(e).await,
                Some(t) = transport.recv() => self.transport_event(t),
                Some((user, kind)) = keyframes.recv() => {
                    tracing::debug!(%user, ?kind, "asking for a keyframe");
                    if self.in_room.is_some() {
                        let _ = self.outbox.send(ClientMessage::RequestKeyframe {
                            user_id: user.clone(),
                            stream_type: kind.stream_type(),
                        });
                    }
                    if let Some(s) = &self.subscriber {
                        s.request_keyframe(&user, kind).await;
                    }
                }
                _ = stats.tick(), if self.in_room.is_some() => self.statistics(),
            }
        }
        self.leave().await;
    }

    async fn handle(&mut self, cmd: MediaCommand) {
        match cmd {
            MediaCommand::StartLocalPreview(view) => self.start_camera(view),
            MediaCommand::StopLocalPreview => {
                self.camera = None;
                self.camera_view = None;
            }
            MediaCommand::MuteLocalVideo(m) => {
                self.camera_muted = m;
                if let Some(c) = &self.camera {
                    c.control.muted.store(m, Ordering::Relaxed);
                    c.control.keyframe.store(true, Ordering::Relaxed);
                }
            }
            MediaCommand::StartLocalAudio(q) => self.start_mic(q),
            MediaCommand::StopLocalAudio => self.mic = None,
            MediaCommand::MuteLocalAudio(m) => {
                self.mic_muted = m;
                if let Some(c) = &self.mic {
                    c.control.muted.store(m, Ordering::Relaxed);
                }
            }
            MediaCommand::StartRemoteView(user, kind, view) => {
                self.start_remote_view(user, kind, view).await
            }
            MediaCommand::StopRemoteView(user, kind) => {
                let mut r = lock(&self.remotes);
                r.open_views.remove(&(user.clone(), kind));
                if let Some(slot) = r.views.get(&(user.clone(), kind)) {
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = None;
                }
                if let Some(s) = r.streams.get(&(user, kind)) {
                    s.active.store(false, Ordering::Relaxed);
                }
            }
            MediaCommand::MuteRemoteAudio(user, mute) => {
                let mut r = lock(&self.remotes);
                r.muted_audio.insert(user.clone(), mute);
                let all = r.mute_all_audio;
                if let Some(s) = r.streams.get(&(user, StreamKind::Audio)) {
                    s.active.store(!(mute || all), Ordering::Relaxed);
                }
            }
            MediaCommand::MuteAllRemoteAudio(mute) => {
                let mut r = lock(&self.remotes);
                r.mute_all_audio = mute;
                let muted = r.muted_audio.clone();
                for ((user, kind), s) in &r.streams {
                    if *kind == StreamKind::Audio {
                        let m = mute || muted.get(user).copied().unwrap_or(false);
                        s.active.store(!m, Ordering::Relaxed);
                    }
                }
            }
            MediaCommand::SetRemoteAudioSink(user, sink) => {
                let mut r = lock(&self.remotes);
                let slot = r.audio_sinks.entry(user).or_default();
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = sink;
            }
            MediaCommand::SelectScreenTarget(id) => self.screen_target = id,
            MediaCommand::StartScreenCapture(view) => self.start_screen(view),
            MediaCommand::StopScreenCapture => {
                if self.screen.take().is_some() {
                    self.emit(TrtcEvent::ScreenCaptureStopped { reason: 0 });
                }
            }
            MediaCommand::PauseScreenCapture => {
                if let Some(s) = &self.screen {
                    s.control.muted.store(true, Ordering::Relaxed);
                    self.screen_paused = true;
                    self.emit(TrtcEvent::ScreenCapturePaused { reason: 0 });
                }
            }
            MediaCommand::ResumeScreenCapture => {
                if let Some(s) = &self.screen {
                    s.control.muted.store(false, Ordering::Relaxed);
                    s.control.keyframe.store(true, Ordering::Relaxed);
                    self.screen_paused = false;
                    self.emit(TrtcEvent::ScreenCaptureResumed { reason: 0 });
                }
            }
            MediaCommand::DeviceChanged(kind) => self.device_changed(kind),
            MediaCommand::SetVideoEncoderParam(p) => {
                self.video_param = p;
                if self.camera.is_some() {
                    let view = self.camera_view.clone();
                    self.camera = None;
                    self.start_camera(view);
                }
            }
            MediaCommand::SetSubStreamEncoderParam(p) => self.sub_param = p,
            MediaCommand::Entered(ip) => {
                self.in_room = Some(ip);
                self.last_sent = None;
                self.start_speaker();
            }
            MediaCommand::Left(done) => {
                self.leave().await;
                if let Some(done) = done {
                    let _ = done.send(());
                }
                return;
            }
            MediaCommand::Resync => self.last_sent = None,
            MediaCommand::Server(msg) => self.server(msg).await,
            MediaCommand::Rtt(ms) => self.rtt_ms.store(ms, Ordering::Relaxed),
        }
        self.sync_state();
    }

    fn desired(&self) -> MediaState {
        MediaState {
            audio: self.mic.is_some() && !self.mic_muted,
            video: self.camera.is_some() && !self.camera_muted,
            sub: self.screen.is_some() && !self.screen_paused,
        }
    }

    /// Tells the server what we publish, when that changed since we last said.
    fn sync_state(&mut self) {
        if self.in_room.is_none() {
            return;
        }
        let want = self.desired();
        if self.last_sent != Some(want) {
            self.last_sent = Some(want);
            let _ = self.outbox.send(ClientMessage::MediaState(want));
        }
    }

    fn capture_failed(&self, e: &CaptureError, code: i32, empty_warning: i32, what: &str) {
        if matches!(e, CaptureError::NoDevice(_)) && empty_warning != 0 {
            self.warning(empty_warning, format!("no {what} found"));
        }
        self.error(code, format!("{what} could not start: {e}"));
    }

    fn start_camera(&mut self, view: Option<VideoView>) {
        if self.camera.is_some() {
            return;
        }
        let (w, h) = self.video_param.encoded_size();
        let device = self.sources.devices.get(DeviceType::Camera);
        let Some(source) = camera_source(
            self.sources.camera,
            device.as_deref(),
            w,
            h,
            self.video_param.video_fps,
        ) else {
            let e = CaptureError::NoDevice("camera source is none".into());
            self.capture_failed(
                &e,
                ERR_CAMERA_START_FAIL,
                WARNING_CAMERA_DEVICE_EMPTY,
                "camera",
            );
            return;
        };
        let events = self.events.clone();
        let first = Box::new(move |width, height| {
            let _ = events.send(TrtcEvent::FirstVideoFrame {
                user_id: String::new(),
                stream_type: 0,
                width,
                height,
            });
        });
        match LocalStream::video(
            StreamKind::Big,
            source,
            self.video_param,
            view.clone(),
            self.encoded_tx.clone(),
            first,
        ) {
            Ok(s) => {
                s.control.muted.store(self.camera_muted, Ordering::Relaxed);
                self.camera = Some(s);
                self.camera_view = view;
                self.first_sent[kind_index(StreamKind::Big)] = false;
                self.emit(TrtcEvent::CameraDidReady);
            }
            Err(e) => self.capture_failed(
                &e,
                ERR_CAMERA_START_FAIL,
                WARNING_CAMERA_DEVICE_EMPTY,
                "camera",
            ),
        }
    }

    /// Reopens a running device after the device manager chose another one; TRTC switches
    /// devices in the middle of a call.
    fn device_changed(&mut self, kind: DeviceType) {
        match kind {
            DeviceType::Camera if self.camera.is_some() => {
                let view = self.camera_view.clone();
                self.camera = None;
                self.start_camera(view);
            }
            DeviceType::Mic if self.mic.is_some() => {
                self.mic = None;
                self.start_mic(self.mic_quality);
            }
            DeviceType::Speaker => {
                if let Some(mut s) = self.speaker.take() {
                    s.stop();
                    self.start_speaker();
                }
            }
            _ => {}
        }
    }

    fn start_speaker(&mut self) {
        if self.speaker.is_some() || self.sources.speaker != SourceChoice::Device {
            return;
        }
        let device = self.sources.devices.get(DeviceType::Speaker);
        match Speaker::start(device, self.mixer.clone(), self.processor.clone()) {
            Ok(s) => self.speaker = Some(s),
            Err(e) => self.warning(
                WARNING_SPEAKER_DEVICE_EMPTY,
                format!("remote audio cannot be played: {e}"),
            ),
        }
    }

    fn start_mic(&mut self, quality: TrtcAudioQuality) {
        if self.mic.is_some() {
            return;
        }
        self.mic_quality = quality;
        let device = self.sources.devices.get(DeviceType::Mic);
        let Some(source) = mic_source(self.sources.mic, device) else {
            let e = CaptureError::NoDevice("microphone source is none".into());
            self.capture_failed(
                &e,
                ERR_MIC_START_FAIL,
                WARNING_MICROPHONE_DEVICE_EMPTY,
                "microphone",
            );
            return;
        };
        // The synthetic tone skips voice processing: noise suppression would take a steady
        // tone for noise (see trtc_media::processing).
        let processor = (self.sources.mic == SourceChoice::Device)
            .then(|| self.processor.clone())
            .flatten();
        match LocalStream::audio(
            source,
            quality,
            processor,
            self.encoded_tx.clone(),
            Box::new(|| {}),
        ) {
            Ok(s) => {
                s.control.muted.store(self.mic_muted, Ordering::Relaxed);
                self.mic = Some(s);
                self.first_sent[kind_index(StreamKind::Audio)] = false;
                self.emit(TrtcEvent::MicDidReady);
            }
            Err(e) => self.capture_failed(
                &e,
                ERR_MIC_START_FAIL,
                WARNING_MICROPHONE_DEVICE_EMPTY,
                "microphone",
            ),
        }
    }

    fn start_screen(&mut self, view: Option<VideoView>) {
        if self.screen.is_some() {
            return;
        }
        #[cfg(target_os = "linux")]
        let source: Box<dyn trtc_media::VideoSource> =
            Box::new(trtc_media::screen::ScreenCapture::new(
                None,
                self.screen_target,
                self.sub_param.video_fps,
            ));
        let events = self.events.clone();
        let first = Box::new(move |width, height| {
            let _ = events.send(TrtcEvent::FirstVideoFrame {
                user_id: String::new(),
                stream_type: 2,
                width,
                height,
            });
        });
        match LocalStream::video(
            StreamKind::Sub,
            source,
            self.sub_param,
            view,
            self.encoded_tx.clone(),
            first,
        ) {
            Ok(s) => {
                self.screen = Some(s);
                self.screen_paused = false;
                self.first_sent[kind_index(StreamKind::Sub)] = false;
                self.emit(TrtcEvent::ScreenCaptureStarted);
            }
            Err(e) => self.error(
                ERR_SCREEN_CAPTURE_START_FAIL,
                format!("screen capture could not start: {e}"),
            ),
        }
    }

    fn local(&self, kind: StreamKind) -> Option<&LocalStream> {
        match kind {
            StreamKind::Audio => self.mic.as_ref(),
            StreamKind::Big => self.camera.as_ref(),
            StreamKind::Sub => self.screen.as_ref(),
        }
    }

    async fn send_encoded(&mut self, e: Encoded) {
        if !e.kind.in_state(&self.accepted) {
            return;
        }
        let Some(p) = &self.publisher else { return };
        p.send(e.kind, e.data, e.capture_us).await;
        let i = kind_index(e.kind);
        if !self.first_sent[i] {
            self.first_sent[i] = true;
            self.emit(match e.kind {
                StreamKind::Audio => TrtcEvent::SendFirstLocalAudioFrame,
                k => TrtcEvent::SendFirstLocalVideoFrame {
                    stream_type: k.stream_type(),
                },
            });
        }
    }

    fn transport_event(&mut self, t: TransportEvent) {
        match t {
            TransportEvent::KeyframeRequested(kind) => {
                tracing::debug!(?kind, "keyframe requested by the server");
                if let Some(s) = self.local(kind) {
                    s.control.keyframe.store(true, Ordering::Relaxed);
                }
            }
            TransportEvent::Failed { publisher } => {
                // There is no TRTC warning for this; the generic error, and the user stays in
                // the room (contract §4).
                self.error(
                    ERR_FAILED,
                    format!(
                        "{} media connection failed",
                        if publisher { "publishing" } else { "receiving" }
                    ),
                );
            }
        }
    }

    async fn server(&mut self, msg: ServerMessage) {
        match msg {
            ServerMessage::MediaStateResult {
                code,
                message,
                accepted,
            } => {
                self.accepted = accepted;
                match code {
                    ERR_NULL => {}
                    WARNING_IGNORE_UPSTREAM_FOR_AUDIENCE => self.warning(code, message),
                    ERR_SCREEN_SHARE_OCCUPIED_BY_OTHER => {
                        self.error(code, message);
                        if self.screen.take().is_some() {
                            self.emit(TrtcEvent::ScreenCaptureStopped { reason: 0 });
                        }
                    }
                    _ => self.error(code, message),
                }
                if accepted.any() && self.publisher.is_none() {
                    self.connect_publisher().await;
                }
                for kind in StreamKind::ALL {
                    if kind.in_state(&accepted) {
                        if let Some(s) = self.local(kind) {
                            s.control.keyframe.store(true, Ordering::Relaxed);
                        }
                    }
                }
            }
            ServerMessage::PublishAnswer { sdp } => {
                if let Some(p) = self.publisher.as_mut() {
                    if let Err(e) = p.apply_answer(sdp).await {
                        self.error(ERR_FAILED, format!("publishing failed: {e}"));
                    }
                }
            }
            ServerMessage::SubscribeOffer { sdp } => self.subscribe_offer(sdp).await,
            ServerMessage::KeyframeRequest { stream_type } => {
                self.transport_event(TransportEvent::KeyframeRequested(
                    StreamKind::from_stream_type(stream_type),
                ));
            }
            ServerMessage::RemoteMediaState { user_id, state } => self.remote_state(user_id, state),
            ServerMessage::RemoteUserLeaveRoom { user_id, .. } => {
                self.remote_states.remove(&user_id);
                lock(&self.remotes)
                    .streams
                    .retain(|(u, _), _| *u != user_id);
            }
            _ => {}
        }
    }

    async fn connect_publisher(&mut self) {
        let Some(ip) = self.in_room else { return };
        match Publisher::connect(ip, self.transport_tx.clone()).await {
            Ok((p, sdp)) => {
                self.publisher = Some(p);
                let _ = self.outbox.send(ClientMessage::PublishOffer { sdp });
            }
            Err(e) => self.error(ERR_FAILED, format!("publishing failed: {e}")),
        }
    }

    async fn subscribe_offer(&mut self, sdp: String) {
        let Some(ip) = self.in_room else { return };
        if self.subscriber.is_none() {
            let remotes = Arc::clone(&self.remotes);
            let events = self.events.clone();
            let keyframes = self.keyframe_tx.clone();
            let mixer = self.mixer.clone();
            let deliver =
                Arc::new(move |f: RemoteFrame| deliver(&remotes, &mixer, &events, &keyframes, f));
            self.subscriber = Some(Subscriber::new(ip, deliver, self.transport_tx.clone()));
        }
        let Some(sub) = self.subscriber.as_mut() else {
            return;
        };
        match sub.handle_offer(sdp).await {
            Ok(answer) => {
                let _ = self
                    .outbox
                    .send(ClientMessage::SubscribeAnswer { sdp: answer });
            }
            Err(e) => self.error(ERR_FAILED, format!("receiving media failed: {e}")),
        }
    }

    fn remote_state(&mut self, user_id: String, state: MediaState) {
        let old = self
            .remote_states
            .insert(user_id.clone(), state)
            .unwrap_or_default();
        if old.video != state.video {
            self.emit(TrtcEvent::UserVideoAvailable {
                user_id: user_id.clone(),
                available: state.video,
            });
        }
        if old.sub != state.sub {
            self.emit(TrtcEvent::UserSubStreamAvailable {
                user_id: user_id.clone(),
                available: state.sub,
            });
        }
        if old.audio != state.audio {
            self.emit(TrtcEvent::UserAudioAvailable {
                user_id,
                available: state.audio,
            });
        }
    }

    async fn start_remote_view(&mut self, user: String, kind: StreamKind, view: Option<VideoView>) {
        if !kind.is_video() {
            return;
        }
        {
            let mut r = lock(&self.remotes);
            let slot = r.views.entry((user.clone(), kind)).or_default();
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = view;
            r.open_views.insert((user.clone(), kind));
            if let Some(s) = r.streams.get(&(user.clone(), kind)) {
                s.active.store(true, Ordering::Relaxed);
            }
        }
        if let Some(s) = &self.subscriber {
            s.request_keyframe(&user, kind).await;
        }
    }

    async fn leave(&mut self) {
        self.in_room = None;
        if let Some(mut s) = self.speaker.take() {
            s.stop();
        }
        self.camera = None;
        self.camera_view = None;
        self.mic = None;
        if self.screen.take().is_some() {
            self.emit(TrtcEvent::ScreenCaptureStopped { reason: 0 });
        }
        if let Some(p) = self.publisher.take() {
            p.close().await;
        }
        if let Some(mut s) = self.subscriber.take() {
            s.close().await;
        }
        {
            let mut r = lock(&self.remotes);
            r.streams.clear();
            r.views.clear();
            r.open_views.clear();
        }
        self.remote_states.clear();
        self.accepted = MediaState::default();
        self.last_sent = None;
        self.last_bytes.clear();
        self.last_frames.clear();
        self.last_local.clear();
    }
}

/// Routes a remote frame to its decoder, creating the decoder on the stream's first frame.
fn deliver(
    remotes: &Arc<Mutex<Remotes>>,
    mixer: &Mixer,
    events: &mpsc::UnboundedSender<TrtcEvent>,
    keyframes: &mpsc::UnboundedSender<(String, StreamKind)>,
    f: RemoteFrame,
) {
    let mut r = lock(remotes);
    let key = (f.user_id.clone(), f.kind);
    if !r.streams.contains_key(&key) {
        let stream = if f.kind.is_video() {
            let active = r.open_views.contains(&key);
            let view = r.views.entry(key.clone()).or_default().clone();
            let (kf, user, kind) = (keyframes.clone(), f.user_id.clone(), f.kind);
            let ev = events.clone();
            let user2 = f.user_id.clone();
            let s = RemoteStream::video(
                view,
                Box::new(move || {
                    let _ = kf.send((user.clone(), kind));
                }),
                Box::new(move |width, height| {
                    let _ = ev.send(TrtcEvent::FirstVideoFrame {
                        user_id: user2,
                        stream_type: kind.stream_type(),
                        width,
                        height,
                    });
                }),
            );
            s.active.store(active, Ordering::Relaxed);
            s
        } else {
            let sink = r.audio_sinks.entry(f.user_id.clone()).or_default().clone();
            let ev = events.clone();
            let user = f.user_id.clone();
            let s = RemoteStream::audio(
                f.user_id.clone(),
                mixer.clone(),
                sink,
                Box::new(move || {
                    let _ = ev.send(TrtcEvent::FirstAudioFrame { user_id: user });
                }),
            );
            let muted = r.mute_all_audio || r.muted_audio.get(&f.user_id).copied().unwrap_or(false);
            s.active.store(!muted, Ordering::Relaxed);
            s
        };
        r.streams.insert(key.clone(), stream);
    }
    if let Some(s) = r.streams.get(&key) {
        s.push(Unit {
            data: f.data,
            rtp_timestamp: f.rtp_timestamp,
            keyframe: f.keyframe,
        });
    }
}
