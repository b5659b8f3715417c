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
    }
}
