//! The listener trait: TRTC's callbacks, each defaulting to doing nothing.

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
        // Events added later reach listeners through the event stream until they get a method.
        #[allow(unreachable_patterns)]
        _ => {}
    }
}
