//! The local streams: camera, microphone and screen, each wanted or not by the app, starting
//! (its device opening on a blocking thread) or running; and what we tell the server we publish.
//! Each opening has a token, so a result that arrives after the app changed its mind closes
//! what it opened instead of taking the place of the newer one.

use super::{Effect, MediaCommand, Outbox, SourceSpec};
use crate::media::VideoView;
use trtc_media::params::{TrtcAudioQuality, TrtcVideoEncParam, TrtcVideoResolution};
use trtc_media::CaptureError;
use trtc_protocol::codes::*;
use trtc_protocol::{MediaState, StreamKind, TrtcEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    #[default]
    Off,
    Starting(u64),
    Running(u64),
}

/// One local stream.
#[derive(Debug, Default)]
struct Local {
    phase: Phase,
    /// Camera: muteLocalVideo; microphone: muteLocalAudio; screen: paused.
    muted: bool,
    /// onSendFirstLocal*Frame was raised for the running opening.
    first_sent: bool,
    view: Option<VideoView>,
}

impl Local {
    fn running(&self) -> bool {
        matches!(self.phase, Phase::Running(_))
    }

    fn on(&self) -> bool {
        self.phase != Phase::Off
    }

    /// Closes whatever is open or opening.
    fn close(&mut self, kind: StreamKind, out: &mut Outbox) {
        if let Phase::Starting(token) | Phase::Running(token) = self.phase {
            out.effect(Effect::CloseSource { kind, token });
        }
        self.phase = Phase::Off;
    }
}

/// The three local streams and the publishing state.
#[derive(Debug)]
pub(super) struct Locals {
    camera: Local,
    mic: Local,
    screen: Local,
    mic_quality: TrtcAudioQuality,
    video_param: TrtcVideoEncParam,
    sub_param: TrtcVideoEncParam,
    screen_target: usize,
    /// What the server lets out.
    accepted: MediaState,
    /// What we last told the server; `None`: tell it again.
    last_sent: Option<MediaState>,
    /// Each opening's token (see the module's doc).
    last_token: u64,
}

impl Default for Locals {
    fn default() -> Self {
        Locals {
            camera: Local::default(),
            mic: Local::default(),
            screen: Local::default(),
            mic_quality: TrtcAudioQuality::Default,
            video_param: TrtcVideoEncParam::default(),
            sub_param: TrtcVideoEncParam {
                video_resolution: TrtcVideoResolution::R1280x720,
                video_fps: 10,
                video_bitrate: 1600,
                ..TrtcVideoEncParam::default()
            },
            screen_target: 0,
            accepted: MediaState::default(),
            last_sent: None,
            last_token: 0,
        }
    }
}

impl Locals {
    fn get(&mut self, kind: StreamKind) -> &mut Local {
        match kind {
            StreamKind::Audio => &mut self.mic,
            StreamKind::Big => &mut self.camera,
            StreamKind::Sub => &mut self.screen,
        }
    }

    fn spec(&self, kind: StreamKind) -> SourceSpec {
        match kind {
            StreamKind::Audio => SourceSpec::Mic {
                quality: self.mic_quality,
            },
            StreamKind::Big => SourceSpec::Camera {
                param: self.video_param,
                view: self.camera.view.clone(),
            },
            StreamKind::Sub => SourceSpec::Screen {
                target: self.screen_target,
                param: self.sub_param,
                view: self.screen.view.clone(),
            },
        }
    }

    fn open(&mut self, kind: StreamKind, out: &mut Outbox) {
        self.last_token += 1;
        let token = self.last_token;
        let spec = self.spec(kind);
        let local = self.get(kind);
        local.phase = Phase::Starting(token);
        local.first_sent = false;
        out.effect(Effect::OpenSource { kind, token, spec });
    }

    /// Opens `kind` unless it is already open or opening.
    fn start(&mut self, kind: StreamKind, out: &mut Outbox) {
        if !self.get(kind).on() {
            self.open(kind, out);
        }
    }

    /// Reopens `kind` with the current settings if it is on (a new device or encoding).
    fn restart(&mut self, kind: StreamKind, out: &mut Outbox) {
        if self.get(kind).on() {
            self.get(kind).close(kind, out);
            self.open(kind, out);
        }
    }

    fn mute(&mut self, kind: StreamKind, muted: bool, out: &mut Outbox) {
        let local = self.get(kind);
        local.muted = muted;
        if local.running() {
            out.effect(Effect::Mute { kind, muted });
            if !muted && kind.is_video() {
                out.effect(Effect::Keyframe(kind));
            }
        }
    }

    pub(super) fn command(&mut self, c: MediaCommand, out: &mut Outbox) {
        use StreamKind::{Audio, Big, Sub};
        match c {
            MediaCommand::StartLocalPreview(view) => {
                self.camera.view = view;
                self.start(Big, out);
            }
            MediaCommand::StopLocalPreview => {
                self.camera.close(Big, out);
                self.camera.view = None;
            }
            MediaCommand::MuteLocalVideo(m) => self.mute(Big, m, out),
            MediaCommand::StartLocalAudio(quality) => {
                if !self.mic.on() {
                    self.mic_quality = quality;
                }
                self.start(Audio, out);
            }
            MediaCommand::StopLocalAudio => self.mic.close(Audio, out),
            MediaCommand::MuteLocalAudio(m) => self.mute(Audio, m, out),
            MediaCommand::SelectScreenTarget(id) => self.screen_target = id,
            MediaCommand::StartScreenCapture(view) => {
                if !self.screen.on() {
                    self.screen.view = view;
                    self.screen.muted = false;
                }
                self.start(Sub, out);
            }
            MediaCommand::StopScreenCapture => self.stop_screen(out),
            MediaCommand::PauseScreenCapture if self.screen.running() && !self.screen.muted => {
                self.mute(Sub, true, out);
                out.emit(TrtcEvent::ScreenCapturePaused { reason: 0 });
            }
            MediaCommand::ResumeScreenCapture if self.screen.running() && self.screen.muted => {
                self.mute(Sub, false, out);
                out.emit(TrtcEvent::ScreenCaptureResumed { reason: 0 });
            }
            MediaCommand::SetVideoEncoderParam(p) => {
                self.video_param = p;
                self.restart(Big, out);
            }
            MediaCommand::SetSubStreamEncoderParam(p) => self.sub_param = p,
            MediaCommand::DeviceChanged(trtc_media::devices::DeviceType::Camera) => {
                self.restart(Big, out)
            }
            MediaCommand::DeviceChanged(trtc_media::devices::DeviceType::Mic) => {
                self.restart(Audio, out)
            }
            // Remote views, remote audio and the speaker are the core's and participants'.
            _ => {}
        }
    }

    fn stop_screen(&mut self, out: &mut Outbox) {
        if self.screen.running() {
            out.emit(TrtcEvent::ScreenCaptureStopped { reason: 0 });
        }
        self.screen.close(StreamKind::Sub, out);
    }

    /// A source opened (or failed to).
    pub(super) fn started(
        &mut self,
        kind: StreamKind,
        token: u64,
        result: Result<(), CaptureError>,
        out: &mut Outbox,
    ) {
        let local = self.get(kind);
        if local.phase != Phase::Starting(token) {
            // The app stopped or restarted it meanwhile.
            if result.is_ok() {
                out.effect(Effect::CloseSource { kind, token });
            }
            return;
        }
        match result {
            Ok(()) => {
                local.phase = Phase::Running(token);
                if local.muted {
                    out.effect(Effect::Mute { kind, muted: true });
                }
                out.emit(match kind {
                    StreamKind::Audio => TrtcEvent::MicDidReady,
                    StreamKind::Big => TrtcEvent::CameraDidReady,
                    StreamKind::Sub => TrtcEvent::ScreenCaptureStarted,
                });
                if kind.in_state(&self.accepted) {
                    out.effect(Effect::Keyframe(kind));
                }
            }
            Err(e) => {
                local.phase = Phase::Off;
                capture_failed(kind, &e, out);
            }
        }
    }

    /// The first captured picture of a running opening: the local onFirstVideoFrame.
    pub(super) fn first_captured(
        &mut self,
        kind: StreamKind,
        token: u64,
        width: u32,
        height: u32,
        out: &mut Outbox,
    ) {
        if self.get(kind).phase == Phase::Running(token) {
            out.emit(TrtcEvent::FirstVideoFrame {
                user_id: String::new(),
                stream_type: kind.stream_type(),
                width,
                height,
            });
        }
    }

    pub(super) fn first_sent(&mut self, kind: StreamKind, token: u64, out: &mut Outbox) {
        let local = self.get(kind);
        if local.phase == Phase::Running(token) && !local.first_sent {
            local.first_sent = true;
            out.emit(match kind {
                StreamKind::Audio => TrtcEvent::SendFirstLocalAudioFrame,
                k => TrtcEvent::SendFirstLocalVideoFrame {
                    stream_type: k.stream_type(),
                },
            });
        }
    }

    fn desired(&self) -> MediaState {
        MediaState {
            audio: self.mic.running() && !self.mic.muted,
            video: self.camera.running() && !self.camera.muted,
            sub: self.screen.running() && !self.screen.muted,
        }
    }

    /// The state to tell the server, if it changed since we last did.
    pub(super) fn state_to_send(&mut self) -> Option<MediaState> {
        let want = self.desired();
        (self.last_sent != Some(want)).then(|| {
            self.last_sent = Some(want);
            want
        })
    }

    /// The server must hear our state again (a new or resumed session, a new role).
    pub(super) fn forget_sent(&mut self) {
        self.last_sent = None;
    }

    pub(super) fn accepted(&self) -> MediaState {
        self.accepted
    }

    pub(super) fn set_accepted(&mut self, accepted: MediaState, out: &mut Outbox) {
        self.accepted = accepted;
        out.effect(Effect::Accept(accepted));
    }

    /// The server's verdict on our state.
    pub(super) fn result(
        &mut self,
        code: i32,
        message: String,
        accepted: MediaState,
        out: &mut Outbox,
    ) {
        let newly: Vec<StreamKind> = StreamKind::ALL
            .into_iter()
            .filter(|k| k.in_state(&accepted) && !k.in_state(&self.accepted))
            .collect();
        self.set_accepted(accepted, out);
        match code {
            ERR_NULL => {}
            WARNING_IGNORE_UPSTREAM_FOR_AUDIENCE => out.warning(code, message),
            ERR_SCREEN_SHARE_OCCUPIED_BY_OTHER => {
                out.error(code, message);
                self.stop_screen(out);
            }
            _ => out.error(code, message),
        }
        for kind in newly {
            if kind.is_video() && self.get(kind).running() {
                out.effect(Effect::Keyframe(kind));
            }
        }
    }

    /// Every running video stream starts again from a keyframe (a new connection).
    pub(super) fn keyframes(&mut self, out: &mut Outbox) {
        for kind in [StreamKind::Big, StreamKind::Sub] {
            if self.get(kind).running() {
                out.effect(Effect::Keyframe(kind));
            }
        }
    }

    /// The running video encoders and the bitrate each is configured for, bps: what the
    /// bandwidth estimate is shared among.
    pub(super) fn encoders(&self) -> Vec<(StreamKind, u64)> {
        let mut v = vec![];
        if self.screen.running() && !self.screen.muted {
            v.push((
                StreamKind::Sub,
                u64::from(self.sub_param.video_bitrate) * 1000,
            ));
        }
        if self.camera.running() && !self.camera.muted {
            v.push((
                StreamKind::Big,
                u64::from(self.video_param.video_bitrate) * 1000,
            ));
        }
        v
    }

    /// Leaving: everything closes (a running share says so); the app's choices (mutes, the
    /// encoding) stay for the next room.
    pub(super) fn close_all(&mut self, out: &mut Outbox) {
        self.stop_screen(out);
        self.camera.close(StreamKind::Big, out);
        self.camera.view = None;
        self.mic.close(StreamKind::Audio, out);
        self.accepted = MediaState::default();
        self.last_sent = None;
    }
}

/// The events for a source that would not open. A missing device is also the warning TRTC
/// gives for it; the user stays in the room (contract §4).
fn capture_failed(kind: StreamKind, e: &CaptureError, out: &mut Outbox) {
    let no_device = matches!(e, CaptureError::NoDevice(_));
    match kind {
        StreamKind::Big => {
            if no_device {
                out.warning(WARNING_CAMERA_DEVICE_EMPTY, "no camera found");
            }
            out.error(
                ERR_CAMERA_START_FAIL,
                format!("camera could not start: {e}"),
            );
        }
        StreamKind::Audio => {
            if no_device {
                out.warning(WARNING_MICROPHONE_DEVICE_EMPTY, "no microphone found");
            }
            out.error(
                ERR_MIC_START_FAIL,
                format!("microphone could not start: {e}"),
            );
        }
        StreamKind::Sub => out.error(
            ERR_SCREEN_CAPTURE_START_FAIL,
            format!("screen capture could not start: {e}"),
        ),
    }
}
