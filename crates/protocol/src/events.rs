//! SDK events as event lines: `{"event": "onEnterRoom", "result": 42}`.
//!
//! One enum carries every TRTC callback with TRTC's names and parameter names (qa-contract §2).
//! The SDK raises it, room-bot prints it one per line, the app forwards it to the UI unchanged,
//! so QA scripts and the UI read the same words.

use serde::{Deserialize, Serialize};

/// A TRTC callback and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
#[non_exhaustive]
pub enum TrtcEvent {
    /// Entering finished: `result` > 0 is the elapsed ms (≥ 1), < 0 the error code.
    #[serde(rename = "onEnterRoom")]
    EnterRoom {
        /// Elapsed ms or error code.
        result: i64,
    },
    /// The session is over and everything is released: 0 exitRoom, 1 removed, 2 dissolved.
    #[serde(rename = "onExitRoom")]
    ExitRoom {
        /// TRTC's exit reason.
        reason: i32,
    },
    /// An error the application should show.
    #[serde(rename = "onError", rename_all = "camelCase")]
    Error {
        /// TRTC error code.
        err_code: i32,
        /// What happened.
        err_msg: String,
    },
    /// A recoverable condition.
    #[serde(rename = "onWarning", rename_all = "camelCase")]
    Warning {
        /// TRTC warning code.
        warning_code: i32,
        /// What happened.
        warning_msg: String,
    },
    /// The answer to switchRole: 0 on success.
    #[serde(rename = "onSwitchRole", rename_all = "camelCase")]
    SwitchRole {
        /// 0 or the error code.
        err_code: i32,
        /// Details.
        err_msg: String,
    },
    /// A user became visible in the room.
    #[serde(rename = "onRemoteUserEnterRoom", rename_all = "camelCase")]
    RemoteUserEnterRoom {
        /// Who.
        user_id: String,
    },
    /// A visible user left: 0 left, 1 timed out, 2 kicked, 3 switched to audience.
    #[serde(rename = "onRemoteUserLeaveRoom", rename_all = "camelCase")]
    RemoteUserLeaveRoom {
        /// Who.
        user_id: String,
        /// TRTC's leave reason.
        reason: i32,
    },
    /// The connection to the server broke; reconnecting starts.
    #[serde(rename = "onConnectionLost")]
    ConnectionLost,
    /// One reconnection attempt starts.
    #[serde(rename = "onTryToReconnect")]
    TryToReconnect,
    /// The connection is back and the session resumed.
    #[serde(rename = "onConnectionRecovery")]
    ConnectionRecovery,
    /// A remote user's camera stream started or stopped being available.
    #[serde(rename = "onUserVideoAvailable", rename_all = "camelCase")]
    UserVideoAvailable {
        /// Who.
        user_id: String,
        /// Published and unmuted.
        available: bool,
    },
    /// A remote user's microphone started or stopped being available.
    #[serde(rename = "onUserAudioAvailable", rename_all = "camelCase")]
    UserAudioAvailable {
        /// Who.
        user_id: String,
        /// Published and unmuted.
        available: bool,
    },
    /// A remote user's screen share started or stopped.
    #[serde(rename = "onUserSubStreamAvailable", rename_all = "camelCase")]
    UserSubStreamAvailable {
        /// Who.
        user_id: String,
        /// Published and unmuted.
        available: bool,
    },
    /// The first frame of a stream was decoded (remote) or captured (local, `userId` "").
    #[serde(rename = "onFirstVideoFrame", rename_all = "camelCase")]
    FirstVideoFrame {
        /// Who; "" for the local preview.
        user_id: String,
        /// 0 big, 1 small, 2 sub.
        stream_type: u8,
        /// Pixels.
        width: u32,
        /// Pixels.
        height: u32,
    },
    /// The first audio of a remote user was decoded.
    #[serde(rename = "onFirstAudioFrame", rename_all = "camelCase")]
    FirstAudioFrame {
        /// Who.
        user_id: String,
    },
    /// The first local video frame was sent.
    #[serde(rename = "onSendFirstLocalVideoFrame", rename_all = "camelCase")]
    SendFirstLocalVideoFrame {
        /// 0 big, 2 sub.
        stream_type: u8,
    },
    /// The first local audio frame was sent.
    #[serde(rename = "onSendFirstLocalAudioFrame")]
    SendFirstLocalAudioFrame,
    /// The camera is open.
    #[serde(rename = "onCameraDidReady")]
    CameraDidReady,
    /// The microphone is open.
    #[serde(rename = "onMicDidReady")]
    MicDidReady,
    /// Screen capture started.
    #[serde(rename = "onScreenCaptureStarted")]
    ScreenCaptureStarted,
    /// Screen capture paused: 0 by the user.
    #[serde(rename = "onScreenCapturePaused")]
    ScreenCapturePaused {
        /// TRTC's reason.
        reason: i32,
    },
    /// Screen capture resumed: 0 by the user.
    #[serde(rename = "onScreenCaptureResumed")]
    ScreenCaptureResumed {
        /// TRTC's reason.
        reason: i32,
    },
    /// Screen capture stopped: 0 by the user, 1 the shared window closed, 2 the display changed.
    #[serde(rename = "onScreenCaptureStopped")]
    ScreenCaptureStopped {
        /// TRTC's reason.
        reason: i32,
    },
    /// Every 2 s while in a room.
    #[serde(rename = "onStatistics")]
    Statistics(TrtcStatistics),
    /// Every 2 s while in a room: the local user's network (`userId` ""), and each remote
    /// publisher's as we receive them (their uplink and our downlink together).
    #[serde(rename = "onNetworkQuality", rename_all = "camelCase")]
    NetworkQuality {
        /// Ours.
        local_quality: TrtcQualityInfo,
        /// One per remote user whose streams we receive.
        remote_quality: Vec<TrtcQualityInfo>,
    },
}

/// `TRTCQualityInfo`: a user and TRTC's quality, 0 unknown, 1 excellent, 2 good, 3 poor, 4 bad,
/// 5 very bad, 6 down (the network cannot carry a call).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrtcQualityInfo {
    /// "" for the local user.
    pub user_id: String,
    /// 0–6.
    pub quality: u8,
}

/// `TRTCStatistics`, with TRTC's key names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrtcStatistics {
    /// Round trip to the server, ms.
    pub rtt: u32,
    /// Upstream loss, %.
    pub up_loss: u32,
    /// Downstream loss, %.
    pub down_loss: u32,
    /// Bytes sent, media and signalling.
    pub sent_bytes: u64,
    /// Bytes received, media and signalling.
    pub received_bytes: u64,
    /// One entry per local stream.
    pub local_statistics_array: Vec<TrtcLocalStatistics>,
    /// One entry per remote stream.
    pub remote_statistics_array: Vec<TrtcRemoteStatistics>,
}

/// `TRTCLocalStatistics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrtcLocalStatistics {
    /// 0 big, 2 sub (audio rides on 0).
    pub stream_type: u8,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// Encoded frames per second.
    pub frame_rate: u32,
    /// kbps.
    pub video_bitrate: u32,
    /// Hz.
    pub audio_sample_rate: u32,
    /// kbps.
    pub audio_bitrate: u32,
}

/// `TRTCRemoteStatistics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrtcRemoteStatistics {
    /// Who.
    pub user_id: String,
    /// 0 big, 2 sub.
    pub stream_type: u8,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// Decoded frames per second.
    pub frame_rate: u32,
    /// kbps.
    pub video_bitrate: u32,
    /// kbps.
    pub audio_bitrate: u32,
    /// %.
    pub video_packet_loss: u32,
    /// %.
    pub audio_packet_loss: u32,
    /// ms.
    pub jitter_buffer_delay: u32,
    /// Capture at the sender to decode here, ms (stream's latest frames).
    pub point2_point_delay: u32,
    /// Frames decoded since the stream started (an extension; not in TRTC).
    pub decoded_frames: u64,
}

impl TrtcEvent {
    /// TRTC's callback name, e.g. `onEnterRoom`.
    pub fn name(&self) -> &'static str {
        match self {
            TrtcEvent::EnterRoom { .. } => "onEnterRoom",
            TrtcEvent::ExitRoom { .. } => "onExitRoom",
            TrtcEvent::Error { .. } => "onError",
            TrtcEvent::Warning { .. } => "onWarning",
            TrtcEvent::SwitchRole { .. } => "onSwitchRole",
            TrtcEvent::RemoteUserEnterRoom { .. } => "onRemoteUserEnterRoom",
            TrtcEvent::RemoteUserLeaveRoom { .. } => "onRemoteUserLeaveRoom",
            TrtcEvent::ConnectionLost => "onConnectionLost",
            TrtcEvent::TryToReconnect => "onTryToReconnect",
            TrtcEvent::ConnectionRecovery => "onConnectionRecovery",
            TrtcEvent::UserVideoAvailable { .. } => "onUserVideoAvailable",
            TrtcEvent::UserAudioAvailable { .. } => "onUserAudioAvailable",
            TrtcEvent::UserSubStreamAvailable { .. } => "onUserSubStreamAvailable",
            TrtcEvent::FirstVideoFrame { .. } => "onFirstVideoFrame",
            TrtcEvent::FirstAudioFrame { .. } => "onFirstAudioFrame",
            TrtcEvent::SendFirstLocalVideoFrame { .. } => "onSendFirstLocalVideoFrame",
            TrtcEvent::SendFirstLocalAudioFrame => "onSendFirstLocalAudioFrame",
            TrtcEvent::CameraDidReady => "onCameraDidReady",
            TrtcEvent::MicDidReady => "onMicDidReady",
            TrtcEvent::ScreenCaptureStarted => "onScreenCaptureStarted",
            TrtcEvent::ScreenCapturePaused { .. } => "onScreenCapturePaused",
            TrtcEvent::ScreenCaptureResumed { .. } => "onScreenCaptureResumed",
            TrtcEvent::ScreenCaptureStopped { .. } => "onScreenCaptureStopped",
            TrtcEvent::Statistics(_) => "onStatistics",
            TrtcEvent::NetworkQuality { .. } => "onNetworkQuality",
        }
    }

    /// The event line: one JSON object, no newline.
    pub fn to_line(&self) -> String {
        // Serialising a plain enum of strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| format!(r#"{{"event":"{}"}}"#, self.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_quality_has_the_contracts_keys() {
        let e = TrtcEvent::NetworkQuality {
            local_quality: TrtcQualityInfo {
                user_id: String::new(),
                quality: 1,
            },
            remote_quality: vec![TrtcQualityInfo {
                user_id: "bob".into(),
                quality: 6,
            }],
        };
        assert_eq!(
            e.to_line(),
            r#"{"event":"onNetworkQuality","localQuality":{"userId":"","quality":1},"remoteQuality":[{"userId":"bob","quality":6}]}"#
        );
        assert_eq!(e.name(), "onNetworkQuality");
    }

    #[test]
    fn lines_match_the_contract() {
        assert_eq!(
            TrtcEvent::EnterRoom { result: 12 }.to_line(),
            r#"{"event":"onEnterRoom","result":12}"#
        );
        assert_eq!(
            TrtcEvent::Error {
                err_code: -100018,
                err_msg: "bad".into()
            }
            .to_line(),
            r#"{"event":"onError","errCode":-100018,"errMsg":"bad"}"#
        );
        assert_eq!(
            TrtcEvent::RemoteUserLeaveRoom {
                user_id: "b".into(),
                reason: 1
            }
            .to_line(),
            r#"{"event":"onRemoteUserLeaveRoom","userId":"b","reason":1}"#
        );
        assert_eq!(
            TrtcEvent::ConnectionLost.to_line(),
            r#"{"event":"onConnectionLost"}"#
        );
        let back: TrtcEvent = serde_json::from_str(r#"{"event":"onExitRoom","reason":1}"#).unwrap();
        assert_eq!(back, TrtcEvent::ExitRoom { reason: 1 });
        assert_eq!(back.name(), "onExitRoom");
        assert_eq!(
            TrtcEvent::FirstVideoFrame {
                user_id: "".into(),
                stream_type: 0,
                width: 640,
                height: 360
            }
            .to_line(),
            r#"{"event":"onFirstVideoFrame","userId":"","streamType":0,"width":640,"height":360}"#
        );
        let stats = TrtcEvent::Statistics(TrtcStatistics {
            remote_statistics_array: vec![TrtcRemoteStatistics {
                user_id: "b".into(),
                point2_point_delay: 41,
                ..Default::default()
            }],
            ..Default::default()
        })
        .to_line();
        assert!(
            stats.starts_with(r#"{"event":"onStatistics","rtt":0,"#),
            "{stats}"
        );
        assert!(stats.contains(r#""point2PointDelay":41"#), "{stats}");
    }
}
