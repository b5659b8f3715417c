//! TRTC's media methods on [`TrtcCloud`] (reference §3). Each is a command to the media
//! controller; results arrive as events (onCameraDidReady, onFirstVideoFrame, onError(−1301),
//! …), never as return values, so every method is callable from any thread without blocking.

use crate::cloud::TrtcCloud;
use crate::media::{AudioSink, MediaCommand, VideoView};
use trtc_media::params::{TrtcAudioQuality, TrtcVideoEncParam};
use trtc_protocol::StreamKind;

/// A screen or window that can be shared (`TRTCScreenCaptureSourceInfo`).
pub type ScreenCaptureSource = trtc_media::screen::ScreenSourceInfo;

/// TRTC's streamType: 0 big, 1 small (received as big here), 2 sub.
fn video_kind(stream_type: u8) -> StreamKind {
    if stream_type == 2 {
        StreamKind::Sub
    } else {
        StreamKind::Big
    }
}

impl TrtcCloud {
    /// Opens the camera; `view` receives every captured picture. Publishes it once in a room.
    #[doc(alias = "startLocalPreview")]
    pub fn start_local_preview(&self, view: Option<VideoView>) {
        self.media(MediaCommand::StartLocalPreview(view));
    }

    /// Closes the camera and stops publishing it.
    #[doc(alias = "stopLocalPreview")]
    pub fn stop_local_preview(&self) {
        self.media(MediaCommand::StopLocalPreview);
    }

    /// Stops (or resumes) sending camera video; the preview keeps running. Others get
    /// onUserVideoAvailable(false/true).
    #[doc(alias = "muteLocalVideo")]
    pub fn mute_local_video(&self, mute: bool) {
        self.media(MediaCommand::MuteLocalVideo(mute));
    }

    /// Opens the microphone and publishes it at `quality`.
    #[doc(alias = "startLocalAudio")]
    pub fn start_local_audio(&self, quality: TrtcAudioQuality) {
        self.media(MediaCommand::StartLocalAudio(quality));
    }

    /// Closes the microphone.
    #[doc(alias = "stopLocalAudio")]
    pub fn stop_local_audio(&self) {
        self.media(MediaCommand::StopLocalAudio);
    }

    /// Stops (or resumes) sending microphone audio.
    #[doc(alias = "muteLocalAudio")]
    pub fn mute_local_audio(&self, mute: bool) {
        self.media(MediaCommand::MuteLocalAudio(mute));
    }

    /// Starts decoding a remote user's video (`stream_type` 0 big, 2 sub) into `view`
    /// (`None`: decode without showing, for statistics and tests).
    #[doc(alias = "startRemoteView")]
    pub fn start_remote_view(&self, user_id: &str, stream_type: u8, view: Option<VideoView>) {
        self.media(MediaCommand::StartRemoteView(
            user_id.into(),
            video_kind(stream_type),
            view,
        ));
    }

    /// Stops decoding a remote user's video.
    #[doc(alias = "stopRemoteView")]
    pub fn stop_remote_view(&self, user_id: &str, stream_type: u8) {
        self.media(MediaCommand::StopRemoteView(
            user_id.into(),
            video_kind(stream_type),
        ));
    }

    /// Stops (or resumes) playing one remote user's audio.
    #[doc(alias = "muteRemoteAudio")]
    pub fn mute_remote_audio(&self, user_id: &str, mute: bool) {
        self.media(MediaCommand::MuteRemoteAudio(user_id.into(), mute));
    }

    /// Stops (or resumes) playing every remote user's audio.
    #[doc(alias = "muteAllRemoteAudio")]
    pub fn mute_all_remote_audio(&self, mute: bool) {
        self.media(MediaCommand::MuteAllRemoteAudio(mute));
    }

    /// Custom audio rendering: a remote user's decoded audio (48 kHz mono, 20 ms) also goes to
    /// `sink` (`None` stops it). TRTC's `onRemoteUserAudioFrame`, as a channel.
    pub fn set_remote_audio_sink(&self, user_id: &str, sink: Option<AudioSink>) {
        self.media(MediaCommand::SetRemoteAudioSink(user_id.into(), sink));
    }

    /// What can be shared: screens first, the primary one at index 0. Fails with
    /// `ERR_SCREEN_CAPTURE_START_FAIL`'s reason when there is no usable display.
    #[doc(alias = "getScreenCaptureSources")]
    pub fn get_screen_capture_sources(&self) -> Result<Vec<ScreenCaptureSource>, String> {
        trtc_media::screen::list_screens(None).map_err(|e| e.to_string())
    }

    /// Chooses what [`start_screen_capture`](Self::start_screen_capture) shares, by `source_id`.
    #[doc(alias = "selectScreenCaptureTarget")]
    pub fn select_screen_capture_target(&self, source_id: usize) {
        self.media(MediaCommand::SelectScreenTarget(source_id));
    }

    /// Shares the selected screen as the sub stream; `view` gets the captured pictures.
    /// onScreenCaptureStarted, or onError(−1308); onError(−102016) if someone else shares.
    #[doc(alias = "startScreenCapture")]
    pub fn start_screen_capture(&self, view: Option<VideoView>) {
        self.media(MediaCommand::StartScreenCapture(view));
    }

    /// Stops sharing; onScreenCaptureStopped(0).
    #[doc(alias = "stopScreenCapture")]
    pub fn stop_screen_capture(&self) {
        self.media(MediaCommand::StopScreenCapture);
    }

    /// Pauses sharing; onScreenCapturePaused(0).
    #[doc(alias = "pauseScreenCapture")]
    pub fn pause_screen_capture(&self) {
        self.media(MediaCommand::PauseScreenCapture);
    }

    /// Resumes sharing; onScreenCaptureResumed(0).
    #[doc(alias = "resumeScreenCapture")]
    pub fn resume_screen_capture(&self) {
        self.media(MediaCommand::ResumeScreenCapture);
    }

    /// Camera encoding: resolution, fps, bitrate (restarts a running camera).
    #[doc(alias = "setVideoEncoderParam")]
    pub fn set_video_encoder_param(&self, param: TrtcVideoEncParam) {
        self.media(MediaCommand::SetVideoEncoderParam(param));
    }

    /// Screen-share encoding: fps and bitrate (the picture keeps the screen's size); applies
    /// from the next start_screen_capture.
    #[doc(alias = "setSubStreamEncoderParam")]
    pub fn set_sub_stream_encoder_param(&self, param: TrtcVideoEncParam) {
        self.media(MediaCommand::SetSubStreamEncoderParam(param));
    }
}
