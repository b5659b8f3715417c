//! Room-entry parameters (TRTCParams on the wire) and the checks both client and server run,
//! in the order of qa-contract §3. The client runs [`validate`] before sending anything; the
//! server runs it again, then the checks that need its state (keys, rooms).

use crate::codes::*;
use crate::ids::{is_valid_user_id, RoomId, TrtcRole};
use serde::{Deserialize, Serialize};

/// TRTCParams as carried by `enterRoom`. Field names are TRTC's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[doc(alias = "TRTCParams")]
pub struct EntryParams {
    /// The application.
    pub sdk_app_id: u32,
    /// Who is entering.
    pub user_id: String,
    /// TLS-Sig v2 ticket for `user_id`.
    pub user_sig: String,
    /// Numeric room, 1–4294967294; 0 means "use `str_room_id`". Wins when both are set.
    pub room_id: u32,
    /// String room, used when `room_id` is 0.
    pub str_room_id: String,
    /// Live scenes only; ignored in call scenes.
    pub role: TrtcRole,
    /// Room-permission ticket; checked only where the application requires it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub private_map_key: String,
}

impl EntryParams {
    /// The room these parameters name, if any.
    pub fn room(&self) -> Option<RoomId> {
        RoomId::from_params(self.room_id, &self.str_room_id)
    }

    /// Whether every field is at its empty default: TRTC's "parameters missing entirely".
    pub fn is_empty(&self) -> bool {
        *self == EntryParams::default()
    }
}

/// Which parameter a failed check is about, so a form can point at the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EntryField {
    /// The whole parameter set.
    Params,
    /// `sdkAppId`.
    SdkAppId,
    /// `roomId` / `strRoomId`.
    RoomId,
    /// `userId`.
    UserId,
    /// `userSig`.
    UserSig,
}

/// A failed room-entry check: the TRTC code, the field and a sentence naming the rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message} ({code})")]
pub struct EntryError {
    /// The TRTC error code the rule maps to.
    pub code: i32,
    /// The parameter at fault.
    pub field: EntryField,
    /// The rule that failed, in words a person can act on.
    pub message: String,
}

impl EntryError {
    fn new(code: i32, field: EntryField, message: impl Into<String>) -> Self {
        EntryError {
            code,
            field,
            message: message.into(),
        }
    }
}

/// The checks that need no server state, in contract order: −3316, −3317 (zero), −3318,
/// −3319, −3320. Returns the first that fails.
pub fn validate(params: Option<&EntryParams>) -> Result<(), EntryError> {
    let p = match params {
        Some(p) if !p.is_empty() => p,
        _ => {
            return Err(EntryError::new(
                ERR_TRTC_ROOM_PARAM_NULL,
                EntryField::Params,
                "Room-entry parameters are missing",
            ))
        }
    };
    if p.sdk_app_id == 0 {
        return Err(EntryError::new(
            ERR_TRTC_INVALID_SDK_APPID,
            EntryField::SdkAppId,
            "sdkAppId must be set (non-zero)",
        ));
    }
    match p.room() {
        None => {
            return Err(EntryError::new(
                ERR_TRTC_INVALID_ROOM_ID,
                EntryField::RoomId,
                "Enter a room ID",
            ))
        }
        Some(RoomId::Num(n)) if !RoomId::Num(n).is_valid() => {
            return Err(EntryError::new(
                ERR_TRTC_INVALID_ROOM_ID,
                EntryField::RoomId,
                "A numeric room ID must be between 1 and 4294967294",
            ))
        }
        Some(room @ RoomId::Str(_)) if !room.is_valid() => {
            return Err(EntryError::new(
                ERR_TRTC_INVALID_ROOM_ID,
                EntryField::RoomId,
                "A string room ID is 1–64 bytes of letters, digits, spaces and !#$%&()+-:;<=.>?@[]^_{}|~,",
            ))
        }
        Some(_) => {}
    }
    if p.user_id.is_empty() {
        return Err(EntryError::new(
            ERR_TRTC_INVALID_USER_ID,
            EntryField::UserId,
            "Enter a user ID",
        ));
    }
    if !is_valid_user_id(&p.user_id) {
        return Err(EntryError::new(
            ERR_TRTC_INVALID_USER_ID,
            EntryField::UserId,
            "A user ID is at most 32 letters, digits, _ or -",
        ));
    }
    if p.user_sig.is_empty() {
        return Err(EntryError::new(
            ERR_TRTC_INVALID_USER_SIG,
            EntryField::UserSig,
            "userSig is empty",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> EntryParams {
        EntryParams {
            sdk_app_id: 1400000000,
            user_id: "alice".into(),
            user_sig: "sig".into(),
            room_id: 123,
            ..Default::default()
        }
    }

    fn code(p: Option<&EntryParams>) -> i32 {
        validate(p).err().map_or(0, |e| e.code)
    }

    #[test]
    fn checks_run_in_contract_order() {
        assert_eq!(code(None), -3316);
        assert_eq!(code(Some(&EntryParams::default())), -3316);
        // Everything wrong at once: the first rule in order answers.
        let all_bad = EntryParams {
            user_id: "a b".into(),
            ..Default::default()
        };
        assert_eq!(code(Some(&all_bad)), -3317);
        assert_eq!(
            code(Some(&EntryParams {
                sdk_app_id: 1,
                ..all_bad.clone()
            })),
            -3318
        );
        let p = EntryParams {
            sdk_app_id: 1,
            room_id: 7,
            ..all_bad
        };
        assert_eq!(code(Some(&p)), -3319);
        assert_eq!(
            code(Some(&EntryParams {
                user_id: "ok".into(),
                ..p
            })),
            -3320
        );
        assert_eq!(code(Some(&good())), 0);
    }

    #[test]
    fn room_rules() {
        let p = EntryParams {
            room_id: u32::MAX,
            ..good()
        };
        assert_eq!(code(Some(&p)), -3318);
        let p = EntryParams {
            room_id: 0,
            str_room_id: "my room".into(),
            ..good()
        };
        assert_eq!(code(Some(&p)), 0);
        let p = EntryParams {
            room_id: 0,
            str_room_id: "bad/room".into(),
            ..good()
        };
        assert_eq!(code(Some(&p)), -3318);
        let p = EntryParams {
            room_id: 0,
            ..good()
        };
        assert_eq!(code(Some(&p)), -3318);
    }
}
