//! Room limits of TRTC's scenes (trtc-reference §2, §7).

/// Users in a call-scene room (VideoCall, AudioCall).
pub const MAX_CALL_USERS: usize = 300;
/// Anchors in a live-scene room (Live, VoiceChatRoom); also publishers in a call scene.
pub const MAX_ANCHORS: usize = 50;
/// Audience in a live-scene room.
pub const MAX_AUDIENCE: usize = 100_000;
