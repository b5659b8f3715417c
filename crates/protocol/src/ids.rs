//! Identifiers and enumerations of a room: room IDs, user IDs, scenes and roles, with TRTC's
//! rules and numbers (trtc-reference §1–§2).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest numeric room ID TRTC accepts (one FAQ page says 4294967295; the API docs say this).
pub const MAX_ROOM_ID: u32 = 4_294_967_294;
/// Longest string room ID, in bytes.
pub const MAX_STR_ROOM_ID_LEN: usize = 64;
/// Longest user ID, in bytes.
pub const MAX_USER_ID_LEN: usize = 32;
/// The 27 symbols a string room ID may use besides letters, digits and space.
const STR_ROOM_ID_SYMBOLS: &str = "!#$%&()+-:;<=.>?@[]^_{}|~,";

/// A room: numeric and string rooms are distinct namespaces (123 and "123" are different rooms).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoomId {
    /// `roomId`, 1–4294967294.
    Num(u32),
    /// `strRoomId`, up to 64 bytes of the allowed characters. Never trimmed.
    Str(String),
}

impl RoomId {
    /// Picks the room from TRTCParams' two fields: a non-zero `roomId` wins over `strRoomId`.
    pub fn from_params(room_id: u32, str_room_id: &str) -> Option<RoomId> {
        if room_id != 0 {
            Some(RoomId::Num(room_id))
        } else if !str_room_id.is_empty() {
            Some(RoomId::Str(str_room_id.to_owned()))
        } else {
            None
        }
    }

    /// Whether the ID obeys TRTC's rules for its kind.
    pub fn is_valid(&self) -> bool {
        match self {
            RoomId::Num(n) => (1..=MAX_ROOM_ID).contains(n),
            RoomId::Str(s) => is_valid_str_room_id(s),
        }
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoomId::Num(n) => write!(f, "{n}"),
            RoomId::Str(s) => write!(f, "\"{s}\""),
        }
    }
}

/// String room IDs: 1–64 bytes of `a-z A-Z 0-9`, space and 27 symbols.
pub fn is_valid_str_room_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_STR_ROOM_ID_LEN
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || STR_ROOM_ID_SYMBOLS.contains(c))
}

/// User IDs: 1–32 bytes of letters, digits, `_` and `-`.
pub fn is_valid_user_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_USER_ID_LEN
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// TRTCAppScene, with TRTC's numbers on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
#[doc(alias = "TRTCAppScene")]
pub enum TrtcAppScene {
    /// Video call: up to 300 users, up to 50 publishing.
    VideoCall = 0,
    /// Interactive video live streaming: anchors and audience.
    Live = 1,
    /// Audio call: up to 300 users, up to 50 publishing.
    AudioCall = 2,
    /// Interactive audio live streaming: anchors and audience.
    VoiceChatRoom = 3,
}

impl TrtcAppScene {
    /// Live scenes have roles; only anchors are visible to others and count against 50.
    pub fn is_live(self) -> bool {
        matches!(self, TrtcAppScene::Live | TrtcAppScene::VoiceChatRoom)
    }

    /// The name used on command lines and in the UI.
    pub fn name(self) -> &'static str {
        match self {
            TrtcAppScene::VideoCall => "videocall",
            TrtcAppScene::Live => "live",
            TrtcAppScene::AudioCall => "audiocall",
            TrtcAppScene::VoiceChatRoom => "voicechatroom",
        }
    }

    /// Parses [`TrtcAppScene::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::VideoCall,
            Self::Live,
            Self::AudioCall,
            Self::VoiceChatRoom,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

impl TryFrom<u8> for TrtcAppScene {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            0 => Ok(Self::VideoCall),
            1 => Ok(Self::Live),
            2 => Ok(Self::AudioCall),
            3 => Ok(Self::VoiceChatRoom),
            _ => Err(format!("unknown scene {v}")),
        }
    }
}

impl From<TrtcAppScene> for u8 {
    fn from(s: TrtcAppScene) -> u8 {
        s as u8
    }
}

/// TRTCRoleType, with TRTC's numbers on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
#[doc(alias = "TRTCRoleType")]
pub enum TrtcRole {
    /// May publish; at most 50 per room.
    #[default]
    Anchor = 20,
    /// Subscribes only; invisible to others in live scenes.
    Audience = 21,
}

impl TrtcRole {
    /// The name used on command lines and in the UI.
    pub fn name(self) -> &'static str {
        match self {
            TrtcRole::Anchor => "anchor",
            TrtcRole::Audience => "audience",
        }
    }

    /// Parses [`TrtcRole::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "anchor" => Some(Self::Anchor),
            "audience" => Some(Self::Audience),
            _ => None,
        }
    }
}

impl TryFrom<u8> for TrtcRole {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            20 => Ok(Self::Anchor),
            21 => Ok(Self::Audience),
            _ => Err(format!("unknown role {v}")),
        }
    }
}

impl From<TrtcRole> for u8 {
    fn from(r: TrtcRole) -> u8 {
        r as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_id_rules() {
        assert_eq!(RoomId::from_params(0, ""), None);
        assert_eq!(RoomId::from_params(5, "abc"), Some(RoomId::Num(5)));
        assert!(RoomId::Num(1).is_valid());
        assert!(RoomId::Num(MAX_ROOM_ID).is_valid());
        assert!(!RoomId::Num(u32::MAX).is_valid());
        assert!(
            RoomId::Str(" a b ".into()).is_valid(),
            "spaces are kept, not trimmed"
        );
        assert!(RoomId::Str("x!#$%&()+-:;<=.>?@[]^_{}|~,".into()).is_valid());
        assert!(!RoomId::Str("a/b".into()).is_valid());
        assert!(!RoomId::Str("é".into()).is_valid());
        assert!(!RoomId::Str("a".repeat(65)).is_valid());
    }

    #[test]
    fn user_id_rules() {
        assert!(is_valid_user_id("denny_123-x"));
        assert!(!is_valid_user_id(""));
        assert!(!is_valid_user_id("a b"));
        assert!(!is_valid_user_id(&"a".repeat(33)));
        assert!(is_valid_user_id(&"a".repeat(32)));
    }

    #[test]
    fn enums_use_trtc_numbers() {
        assert_eq!(
            serde_json::to_string(&TrtcAppScene::VoiceChatRoom)
                .ok()
                .as_deref(),
            Some("3")
        );
        assert_eq!(
            serde_json::to_string(&TrtcRole::Audience).ok().as_deref(),
            Some("21")
        );
        assert!(serde_json::from_str::<TrtcRole>("22").is_err());
        assert_eq!(TrtcAppScene::from_name("live"), Some(TrtcAppScene::Live));
    }
}
