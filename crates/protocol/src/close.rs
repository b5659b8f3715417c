//! WebSocket close codes the room server sends (contract §1, docs/protocol.md). Every close the
//! server makes carries one of these and a reason, so a client (and a person reading a packet
//! capture) can tell a shutdown from a network loss, and a policy close from a bug.

/// The server is shutting down; reconnect (a restarted server takes the session back).
pub const GOING_AWAY: u16 = 1001;
/// A text frame that is not valid UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
/// Policy: no `enterRoom` within the entry deadline, or persistent abuse (rate limits).
pub const POLICY: u16 = 1008;
/// A message larger than the transport limit.
pub const TOO_BIG: u16 = 1009;
/// The member was silent for the drop timeout and has been removed from the room.
pub const DROPPED: u16 = 4000;
/// The same user entered again from elsewhere; this session ended (after `exitRoom(1)`).
pub const REPLACED: u16 = 4001;
/// The session was resumed on another connection; this one is stale.
pub const RESUMED_ELSEWHERE: u16 = 4002;
/// The client did not read its messages fast enough; resume to catch up.
pub const NOT_READING: u16 = 4003;

/// The reason text sent with `code`.
pub fn reason(code: u16) -> &'static str {
    match code {
        GOING_AWAY => "server shutting down",
        INVALID_PAYLOAD => "text frame is not valid UTF-8",
        POLICY => "policy violation",
        TOO_BIG => "message too big",
        DROPPED => "silent for the drop timeout: removed from the room",
        REPLACED => "the same user entered the room from another connection",
        RESUMED_ELSEWHERE => "the session was resumed on another connection",
        NOT_READING => "messages were not read in time; resume the session",
        _ => "closed",
    }
}

/// Whether a close with `code` means the server went away on purpose and will take the client
/// back when it returns (as opposed to the network failing, or the client being refused).
pub fn is_shutdown(code: u16) -> bool {
    code == GOING_AWAY
}
