//! The listener trait: TRTC's callbacks, each defaulting to doing nothing.

use trtc_protocol::events::{TrtcQualityInfo, TrtcStatistics};
use trtc_protocol::TrtcEvent;

/// Receives the SDK's events. Implement the callbacks you need; the rest do nothing.
///
/// Every listener of a [`crate::TrtcCloud`] is called from one SDK task, in the order the
/// events happened, never while the SDK holds a lock. Callbacks must return quickly and must not
/// block: hand long work to your own thread or task. Calling the SDK from a callback is fine.
#[doc(alias = "ITRTCCloudCallback")]
#[doc(alias = "TRTCCloudListener")]
#[allow(unused_variables)]
pub trait TrtcCloudListener: Send + Sync {
    /// Entering finished: `result` > 0 is the time it took in ms, < 0 the error code (an
    /// [`on_error`](Self::on_error) with the same code came just before).
    #[doc(alias = "onEnterRoom")]
    fn on_enter_room(&self, result: i64) {}
    /// The room is left and everything released: 0 after exit_room, 1 removed by the server
    /// (or replaced by a newer session of the same user), 2 the room was dissolved.
    #[doc(alias = "onExitRoom")]
    fn on_exit_room(&self, reason: i32) {}
    /// Something failed that the user should hear about. −8 (`ERR_DISCONNECTED`) while in a room
    /// means reconnection was given up: the session is over, no onExitRoom follows.
    #[doc(alias = "onError")]
    fn on_error(&self, err_code: i32, err_msg: &str) {}
    /// Something recoverable happened.
    #[doc(alias = "onWarning")]
    fn on_warning(&self, warning_code: i32, warning_msg: &str) {}
    /// The answer to switch_role: 0 on success.
    #[doc(alias = "onSwitchRole")]
    fn on_switch_role(&self, err_code: i32, err_msg: &str) {}
    /// A user became visible (call scenes: anyone; live scenes: anchors).
    #[doc(alias = "onRemoteUserEnterRoom")]
    fn on_remote_user_enter_room(&self, user_id: &str) {}
    /// A visible user left: 0 left, 1 timed out, 2 kicked, 3 switched to audience.
    #[doc(alias = "onRemoteUserLeaveRoom")]
    fn on_remote_user_leave_room(&self, user_id: &str, reason: i32) {}
    /// The connection to the server broke; the SDK starts reconnecting.
    #[doc(alias = "onConnectionLost")]
    fn on_connection_lost(&self) {}
    /// A reconnection attempt starts.
    #[doc(alias = "onTryToReconnect")]
    fn on_try_to_reconnect(&self) {}
    /// The connection is back and the session resumed.
    #[doc(alias = "onConnectionRecovery")]
    fn on_connection_recovery(&self) {}
    /// A remote user's camera became available (published, unmuted and arriving) or stopped
    /// being so: muted, unpublished, or no media from them for 2 s (their client was killed,
    /// their network went away); true again when it returns.
    #[doc(alias = "onUserVideoAvailable")]
    fn on_user_video_available(&self, user_id: &str, available: bool) {}
    /// As [`on_user_video_available`](Self::on_user_video_available), for the microphone.
    #[doc(alias = "onUserAudioAvailable")]
    fn on_user_audio_available(&self, user_id: &str, available: bool) {}
    /// As [`on_user_video_available`](Self::on_user_video_available), for a screen share.
    #[doc(alias = "onUserSubStreamAvailable")]
    fn on_user_sub_stream_available(&self, user_id: &str, available: bool) {}
    /// The first picture of a stream was decoded (remote) or captured (local: `user_id` "");
    /// `stream_type` 0 big, 1 small, 2 sub.
    #[doc(alias = "onFirstVideoFrame")]
    fn on_first_video_frame(&self, user_id: &str, stream_type: u8, width: u32, height: u32) {}
    /// The first audio of a remote user was decoded.
    #[doc(alias = "onFirstAudioFrame")]
    fn on_first_audio_frame(&self, user_id: &str) {}
    /// The first local picture of `stream_type` (0 camera, 2 screen) went out.
    #[doc(alias = "onSendFirstLocalVideoFrame")]
    fn on_send_first_local_video_frame(&self, stream_type: u8) {}
    /// The first local audio went out.
    #[doc(alias = "onSendFirstLocalAudioFrame")]
    fn on_send_first_local_audio_frame(&self) {}
    /// The camera is open and capturing.
    #[doc(alias = "onCameraDidReady")]
    fn on_camera_did_ready(&self) {}
    /// The microphone is open and capturing.
    #[doc(alias = "onMicDidReady")]
    fn on_mic_did_ready(&self) {}
    /// Screen capture started.
    #[doc(alias = "onScreenCaptureStarted")]
    fn on_screen_capture_started(&self) {}
    /// Screen capture paused: 0 by the user.
    #[doc(alias = "onScreenCapturePaused")]
    fn on_screen_capture_paused(&self, reason: i32) {}
    /// Screen capture resumed: 0 by the user.
    #[doc(alias = "onScreenCaptureResumed")]
    fn on_screen_capture_resumed(&self, reason: i32) {}
    /// Screen capture stopped: 0 by the user, 1 the shared window closed, 2 the display changed.
    #[doc(alias = "onScreenCaptureStopped")]
    fn on_screen_capture_stopped(&self, reason: i32) {}
    /// Every 2 s in a room: round trip, loss, and every local and remote stream's figures.
    #[doc(alias = "onStatistics")]
    fn on_statistics(&self, statistics: &TrtcStatistics) {}
    /// Every 2 s in a room: our network's quality and each remote publisher's (0–6).
    #[doc(alias = "onNetworkQuality")]
    fn on_network_quality(&self, local: &TrtcQualityInfo, remote: &[TrtcQualityInfo]) {}
}

/// Calls the listener method that matches `event`.
pub(crate) fn deliver(l: &dyn TrtcCloudListener, event: &TrtcEvent) {
    match event {
        TrtcEvent::EnterRoom { result } => l.on_enter_room(*result),
        TrtcEvent::ExitRoom { reason } => l.on_exit_room(*reason),
        TrtcEvent::Error { err_code, err_msg } => l.on_error(*err_code, err_msg),
        TrtcEvent::Warning {
            warning_code,
            warning_msg,
        } => l.on_warning(*warning_code, warning_msg),
        TrtcEvent::SwitchRole { err_code, err_msg } => l.on_switch_role(*err_code, err_msg),
        TrtcEvent::RemoteUserEnterRoom { user_id } => l.on_remote_user_enter_room(user_id),
        TrtcEvent::RemoteUserLeaveRoom { user_id, reason } => {
            l.on_remote_user_leave_room(user_id, *reason)
        }
        TrtcEvent::ConnectionLost => l.on_connection_lost(),
        TrtcEvent::TryToReconnect => l.on_try_to_reconnect(),
        TrtcEvent::ConnectionRecovery => l.on_connection_recovery(),
        TrtcEvent::UserVideoAvailable { user_id, available } => {
            l.on_user_video_available(user_id, *available)
        }
        TrtcEvent::UserAudioAvailable { user_id, available } => {
            l.on_user_audio_available(user_id, *available)
        }
        TrtcEvent::UserSubStreamAvailable { user_id, available } => {
            l.on_user_sub_stream_available(user_id, *available)
        }
        TrtcEvent::FirstVideoFrame {
            user_id,
            stream_type,
            width,
            height,
        } => l.on_first_video_frame(user_id, *stream_type, *width, *height),
        TrtcEvent::FirstAudioFrame { user_id } => l.on_first_audio_frame(user_id),
        TrtcEvent::SendFirstLocalVideoFrame { stream_type } => {
            l.on_send_first_local_video_frame(*stream_type)
        }
        TrtcEvent::SendFirstLocalAudioFrame => l.on_send_first_local_audio_frame(),
        TrtcEvent::CameraDidReady => l.on_camera_did_ready(),
        TrtcEvent::MicDidReady => l.on_mic_did_ready(),
        TrtcEvent::ScreenCaptureStarted => l.on_screen_capture_started(),
        TrtcEvent::ScreenCapturePaused { reason } => l.on_screen_capture_paused(*reason),
        TrtcEvent::ScreenCaptureResumed { reason } => l.on_screen_capture_resumed(*reason),
        TrtcEvent::ScreenCaptureStopped { reason } => l.on_screen_capture_stopped(*reason),
        TrtcEvent::Statistics(s) => l.on_statistics(s),
        TrtcEvent::NetworkQuality {
            local_quality,
            remote_quality,
        } => l.on_network_quality(local_quality, remote_quality),
        // `TrtcEvent` is non-exhaustive: an event the protocol crate adds before this trait
        // has its method still reaches the event stream.
        _ => {}
    }
}
