//! TRTC's numeric error and warning codes (TXLiteAVCode.h), the product's error language.
//!
//! The SDK reports these exactly, the server sends them, the UI shows them. Names follow the
//! current header's `ERR_TRTC_*` spelling where one exists.

/// No error.
pub const ERR_NULL: i32 = 0;
/// Generic failure.
pub const ERR_FAILED: i32 = -1;
/// A parameter was invalid (also: malformed or unknown signalling messages).
pub const ERR_INVALID_PARAMETER: i32 = -2;
/// The request was refused (for example, a room command sent before entering a room).
pub const ERR_REFUSED: i32 = -3;
/// The connection to the server was lost and could not be recovered.
pub const ERR_DISCONNECTED: i32 = -8;

/// Generic enter failure; the message carries the reason (for example, a scene mismatch).
pub const ERR_TRTC_ENTER_ROOM_FAILED: i32 = -3301;
/// The enter request got no answer in time.
pub const ERR_TRTC_CONNECT_SERVER_TIMEOUT: i32 = -3308;
/// The room-entry parameters are missing entirely.
pub const ERR_TRTC_ROOM_PARAM_NULL: i32 = -3316;
/// sdkAppId is 0 or unknown to the server.
pub const ERR_TRTC_INVALID_SDK_APPID: i32 = -3317;
/// Neither a valid roomId nor a valid strRoomId was given.
pub const ERR_TRTC_INVALID_ROOM_ID: i32 = -3318;
/// userId is empty or breaks the character/length rules.
pub const ERR_TRTC_INVALID_USER_ID: i32 = -3319;
/// userSig is empty.
pub const ERR_TRTC_INVALID_USER_SIG: i32 = -3320;
/// enterRoom was repeated on the same connection.
pub const ERR_TRTC_ENTER_ROOM_REFUSED: i32 = -3340;
/// The privateMapKey is required and did not verify.
pub const ERR_TRTC_INVALID_PRIVATE_MAPKEY: i32 = -100006;
/// The userSig is wrong or expired.
pub const ERR_TRTC_USER_SIG_CHECK_FAILED: i32 = -100018;
/// The room is full (users, anchors or publishers).
pub const ERR_SERVER_CENTER_ROOM_FULL: i32 = -102052;

/// Another user is already sharing a screen in this room.
pub const ERR_SCREEN_SHARE_OCCUPIED_BY_OTHER: i32 = -102016;
/// The camera could not be opened.
pub const ERR_CAMERA_START_FAIL: i32 = -1301;
/// The microphone could not be opened.
pub const ERR_MIC_START_FAIL: i32 = -1302;
/// Screen capture could not start (no display, no shared-memory capture, bad source).
pub const ERR_SCREEN_CAPTURE_START_FAIL: i32 = -1308;

/// There is no camera.
pub const WARNING_CAMERA_DEVICE_EMPTY: i32 = 1111;
/// There is no microphone.
pub const WARNING_MICROPHONE_DEVICE_EMPTY: i32 = 1201;
/// There is no speaker (remote audio cannot be played).
pub const WARNING_SPEAKER_DEVICE_EMPTY: i32 = 1202;
/// The room server closed the connection because it is shutting down; the SDK reconnects
/// (TRTC's older WARNING_ROOM_DISCONNECT).
pub const WARNING_ROOM_DISCONNECT: i32 = 5101;
/// An audience member tried to publish; switch to anchor first.
pub const WARNING_IGNORE_UPSTREAM_FOR_AUDIENCE: i32 = 6001;

/// The standard message for a code, used when no more specific message is at hand.
pub fn describe(code: i32) -> &'static str {
    match code {
        ERR_NULL => "no error",
        ERR_FAILED => "operation failed",
        ERR_INVALID_PARAMETER => "invalid parameter",
        ERR_REFUSED => "request refused",
        ERR_DISCONNECTED => "disconnected from the server",
        ERR_TRTC_ENTER_ROOM_FAILED => "failed to enter the room",
        ERR_TRTC_CONNECT_SERVER_TIMEOUT => "timed out connecting to the server",
        ERR_TRTC_ROOM_PARAM_NULL => "room-entry parameters are missing",
        ERR_TRTC_INVALID_SDK_APPID => "invalid sdkAppId",
        ERR_TRTC_INVALID_ROOM_ID => "invalid room ID",
        ERR_TRTC_INVALID_USER_ID => "invalid user ID",
        ERR_TRTC_INVALID_USER_SIG => "userSig is empty",
        ERR_TRTC_ENTER_ROOM_REFUSED => "enterRoom refused: already entering or in a room",
        ERR_TRTC_INVALID_PRIVATE_MAPKEY => "privateMapKey check failed",
        ERR_TRTC_USER_SIG_CHECK_FAILED => "userSig check failed (wrong or expired)",
        ERR_SERVER_CENTER_ROOM_FULL => "the room is full",
        ERR_SCREEN_SHARE_OCCUPIED_BY_OTHER => "another user is already sharing a screen",
        ERR_CAMERA_START_FAIL => "the camera could not be opened",
        ERR_MIC_START_FAIL => "the microphone could not be opened",
        ERR_SCREEN_CAPTURE_START_FAIL => "screen capture could not start",
        WARNING_CAMERA_DEVICE_EMPTY => "no camera found",
        WARNING_MICROPHONE_DEVICE_EMPTY => "no microphone found",
        WARNING_SPEAKER_DEVICE_EMPTY => "no speaker found",
        WARNING_IGNORE_UPSTREAM_FOR_AUDIENCE => "audience cannot publish; switch to anchor first",
        _ => "unknown error",
    }
}
