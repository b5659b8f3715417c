//! Signalling messages: JSON text frames over one WebSocket, tagged by `type`.
//!
//! Versioning: `enterRoom` and `resumeSession` carry `protocol` ([`PROTOCOL_VERSION`]); a server
//! answers a version it does not speak with an error instead of guessing. New optional fields
//! may be added within a version; receivers ignore fields they don't know.

use crate::entry::EntryParams;
use crate::ids::{TrtcAppScene, TrtcRole};
use serde::{Deserialize, Serialize};

/// The signalling protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest text frame the server processes; larger frames get an error reply. Sized for a
/// subscriber SDP of a full room (three m-lines of about 700 bytes for each of 50 publishers).
pub const MAX_FRAME_BYTES: usize = 256 * 1024;

/// Client → server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ClientMessage {
    /// Enter a room. Answered by [`ServerMessage::EnterRoomResult`].
    #[serde(rename_all = "camelCase")]
    EnterRoom {
        /// Must equal [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The scene; the first user's scene sticks to the room.
        scene: TrtcAppScene,
        /// TRTCParams; absent means "parameters missing entirely" (−3316).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        params: Option<EntryParams>,
    },
    /// Re-attach a session after a network loss. Answered by [`ServerMessage::ResumeResult`].
    #[serde(rename_all = "camelCase")]
    ResumeSession {
        /// Must equal [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The token from the successful [`ServerMessage::EnterRoomResult`].
        session_token: String,
    },
    /// Leave the room. Answered by [`ServerMessage::ExitRoom`] with reason 0.
    ExitRoom,
    /// Live scenes: become anchor or audience. Answered by [`ServerMessage::SwitchRoleResult`].
    #[serde(rename_all = "camelCase")]
    SwitchRole {
        /// The new role.
        role: TrtcRole,
        /// Re-checked where the application requires privateMapKeys.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        private_map_key: String,
    },
    /// Keeps the session alive; the server drops sessions silent for its drop timeout.
    Heartbeat,
    /// What this client publishes now. Answered by [`ServerMessage::MediaStateResult`]; on
    /// success the others get [`ServerMessage::RemoteMediaState`].
    MediaState(MediaState),
    /// The offer of the client's publisher peer connection (complete ICE, no trickle).
    /// Answered by [`ServerMessage::PublishAnswer`].
    #[serde(rename_all = "camelCase")]
    PublishOffer {
        /// SDP.
        sdp: String,
    },
    /// The answer to a [`ServerMessage::SubscribeOffer`].
    #[serde(rename_all = "camelCase")]
    SubscribeAnswer {
        /// SDP.
        sdp: String,
    },
    /// This client cannot decode `userId`'s stream until a keyframe arrives. Also sent as RTCP
    /// PLI; signalling is the path that does not depend on RTCP getting through.
    #[serde(rename_all = "camelCase")]
    RequestKeyframe {
        /// Whose stream.
        user_id: String,
        /// 0 big, 2 sub.
        stream_type: u8,
    },
}

/// Which of a user's streams are published and unmuted. The whole state travels each time, so
/// a message lost to a reconnection is repaired by the next one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaState {
    /// Microphone audio.
    #[serde(default)]
    pub audio: bool,
    /// The big (camera) video stream.
    #[serde(default)]
    pub video: bool,
    /// The sub stream (screen share).
    #[serde(default)]
    pub sub: bool,
}

impl MediaState {
    /// Publishes anything at all.
    pub fn any(&self) -> bool {
        self.audio || self.video || self.sub
    }
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerMessage {
    /// The answer to `enterRoom`: `code` 0 and a session, or a TRTC error code.
    #[serde(rename_all = "camelCase")]
    EnterRoomResult {
        /// 0 on success, else the TRTC error code of the first failed check.
        code: i32,
        /// Why it failed, or "ok".
        message: String,
        /// Present on success.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<SessionInfo>,
    },
    /// The answer to `resumeSession`: `code` 0 and the current members, or an error, after
    /// which the client enters afresh.
    #[serde(rename_all = "camelCase")]
    ResumeResult {
        /// 0 when the session was re-attached.
        code: i32,
        /// Why it failed, or "ok".
        message: String,
        /// The visible members other than the caller, on success.
        #[serde(default)]
        members: Vec<String>,
    },
    /// The answer to `switchRole`.
    #[serde(rename_all = "camelCase")]
    SwitchRoleResult {
        /// 0 on success.
        code: i32,
        /// Why it failed, or "ok".
        message: String,
    },
    /// Another user became visible (call scenes: everyone; live scenes: anchors).
    #[serde(rename_all = "camelCase")]
    RemoteUserEnterRoom {
        /// Who.
        user_id: String,
    },
    /// A visible user left: 0 left, 1 timed out, 2 kicked, 3 switched to audience.
    #[serde(rename_all = "camelCase")]
    RemoteUserLeaveRoom {
        /// Who.
        user_id: String,
        /// TRTC's leave reason.
        reason: u8,
    },
    /// The session is over: 0 after the client's `exitRoom`, 1 removed (or replaced by a newer
    /// session of the same user), 2 the room was dissolved.
    ExitRoom {
        /// TRTC's exit reason.
        reason: u8,
    },
    /// A recoverable condition (TRTC warning code).
    #[serde(rename_all = "camelCase")]
    Warning {
        /// TRTC warning code.
        code: i32,
        /// Details.
        message: String,
    },
    /// A request could not be handled (malformed, unknown, out of place). The connection stays.
    #[serde(rename_all = "camelCase")]
    Error {
        /// TRTC error code.
        code: i32,
        /// Details.
        message: String,
    },
    /// Reply to `heartbeat`.
    HeartbeatAck,
    /// The answer to `mediaState`: 0, or the rule it broke (6001 audience, −102016 screen
    /// taken, −102052 publisher limit). What was refused is not forwarded.
    #[serde(rename_all = "camelCase")]
    MediaStateResult {
        /// 0 or a TRTC code.
        code: i32,
        /// Why, or "ok".
        message: String,
        /// The state the server now holds for this client.
        accepted: MediaState,
    },
    /// Another visible user's published streams (sent on every change and after entering or
    /// resuming for everyone who publishes).
    #[serde(rename_all = "camelCase")]
    RemoteMediaState {
        /// Who.
        user_id: String,
        /// What they publish.
        state: MediaState,
    },
    /// The answer to `publishOffer`.
    #[serde(rename_all = "camelCase")]
    PublishAnswer {
        /// SDP.
        sdp: String,
    },
    /// A subscriber needs a keyframe of this client's stream (0 big, 2 sub).
    #[serde(rename_all = "camelCase")]
    KeyframeRequest {
        /// 0 big, 2 sub.
        stream_type: u8,
    },
    /// The server's offer for the subscriber peer connection: the others' tracks. Sent again
    /// whenever publishers come and go; answered by `subscribeAnswer`.
    #[serde(rename_all = "camelCase")]
    SubscribeOffer {
        /// SDP.
        sdp: String,
    },
}

/// What a client learns when it enters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// Secret that lets this session be resumed from a new connection after a network loss.
    pub session_token: String,
    /// The visible members already in the room, other than the caller.
    pub members: Vec<String>,
    /// How often the server expects a heartbeat, in milliseconds.
    pub heartbeat_interval_ms: u64,
}

/// Parse a client frame, with the error a server sends back when it is not one.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, ServerMessage> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(ServerMessage::Error {
            code: crate::codes::ERR_INVALID_PARAMETER,
            message: format!(
                "frame of {} bytes exceeds the {MAX_FRAME_BYTES}-byte limit",
                text.len()
            ),
        });
    }
    serde_json::from_str(text).map_err(|e| ServerMessage::Error {
        code: crate::codes::ERR_INVALID_PARAMETER,
        message: format!("malformed or unknown message: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_is_stable() {
        let m = ClientMessage::EnterRoom {
            protocol: 1,
            scene: TrtcAppScene::Live,
            params: Some(EntryParams {
                sdk_app_id: 7,
                user_id: "u".into(),
                user_sig: "s".into(),
                room_id: 9,
                ..Default::default()
            }),
        };
        let json = serde_json::to_string(&m).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"type":"enterRoom","protocol":1,"scene":1,"params":{"sdkAppId":7,"userId":"u","userSig":"s","roomId":9,"strRoomId":"","role":20}}"#
        );
        let leave = ServerMessage::RemoteUserLeaveRoom {
            user_id: "b".into(),
            reason: 3,
        };
        assert_eq!(
            serde_json::to_string(&leave).unwrap_or_default(),
            r#"{"type":"remoteUserLeaveRoom","userId":"b","reason":3}"#
        );
    }

    #[test]
    fn bad_frames_become_error_replies() {
        for bad in [
            "",
            "{",
            "[]",
            r#"{"type":"nope"}"#,
            r#"{"type":"switchRole","role":99}"#,
        ] {
            assert!(matches!(
                parse_client_message(bad),
                Err(ServerMessage::Error { code: -2, .. })
            ));
        }
        let huge = format!(
            r#"{{"type":"heartbeat","pad":"{}"}}"#,
            "x".repeat(MAX_FRAME_BYTES)
        );
        assert!(parse_client_message(&huge).is_err());
        assert_eq!(
            parse_client_message(r#"{"type":"heartbeat","extra":1}"#),
            Ok(ClientMessage::Heartbeat)
        );
    }
}
