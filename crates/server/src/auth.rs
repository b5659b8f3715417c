//! The server's room-entry checks that need keys: the app must exist, the userSig must verify,
//! and where the app requires it the privateMapKey must grant the room. Run in contract order
//! around the stateless checks of [`trtc_protocol::validate`].

use crate::config::AppConfig;
use std::collections::HashMap;
use trtc_protocol::codes::*;
use trtc_protocol::{EntryParams, RoomId, TrtcRole};
use trtc_usersig::{PmkRoom, PRIVILEGE_ENTER_ROOM};

/// A refused request: the TRTC code and why.
pub type Refusal = (i32, String);

/// Privilege bits an anchor needs in a privateMapKey (send audio or video).
const PRIVILEGE_SEND: u32 = 4 | 16;

/// The checks up to and including −100006, in order.
pub fn check_entry(
    apps: &HashMap<u32, AppConfig>,
    params: Option<&EntryParams>,
    now: u64,
) -> Result<(), Refusal> {
    if let Err(e) = trtc_protocol::validate(params) {
        // The stateless rules say −3317 only for 0; an unknown app ranks right after it.
        let unknown_app =
            params.is_some_and(|p| p.sdk_app_id != 0 && !apps.contains_key(&p.sdk_app_id));
        if e.code != ERR_TRTC_ROOM_PARAM_NULL && e.code != ERR_TRTC_INVALID_SDK_APPID && unknown_app
        {
            return Err(unknown(params));
        }
        return Err((e.code, e.message));
    }
    let p = params.expect("validate accepted, so params are present");
    let app = apps.get(&p.sdk_app_id).ok_or_else(|| unknown(params))?;
    trtc_usersig::verify_user_sig(
        &p.user_sig,
        p.sdk_app_id.into(),
        &app.secret,
        &p.user_id,
        now,
    )
    .map_err(|e| (ERR_TRTC_USER_SIG_CHECK_FAILED, e.to_string()))?;
    if app.private_map_key_required {
        let room = p.room().expect("validate accepted, so a room is present");
        check_private_map_key(
            app,
            &p.user_id,
            &room,
            &p.private_map_key,
            PRIVILEGE_ENTER_ROOM,
            now,
        )?;
        if p.role == TrtcRole::Anchor {
            check_private_map_key(
                app,
                &p.user_id,
                &room,
                &p.private_map_key,
                PRIVILEGE_SEND,
                now,
            )?;
        }
    }
    Ok(())
}

fn unknown(params: Option<&EntryParams>) -> Refusal {
    let id = params.map_or(0, |p| p.sdk_app_id);
    (
        ERR_TRTC_INVALID_SDK_APPID,
        format!("sdkAppId {id} is not known to this server"),
    )
}

/// Whether `pmk` grants `bits` in `room` to `user_id`; −100006 when not.
pub fn check_private_map_key(
    app: &AppConfig,
    user_id: &str,
    room: &RoomId,
    pmk: &str,
    bits: u32,
    now: u64,
) -> Result<(), Refusal> {
    let refuse = |why: String| (ERR_TRTC_INVALID_PRIVATE_MAPKEY, why);
    if pmk.is_empty() {
        return Err(refuse("this application requires a privateMapKey".into()));
    }
    let grant =
        trtc_usersig::verify_private_map_key(pmk, app.sdk_app_id.into(), &app.secret, user_id, now)
            .map_err(|e| refuse(format!("privateMapKey: {e}")))?;
    let pmk_room = match room {
        RoomId::Num(n) => PmkRoom::Num(*n),
        RoomId::Str(s) => PmkRoom::Str(s.clone()),
    };
    if !grant.allows(&pmk_room, bits) {
        return Err(refuse(format!(
            "privateMapKey does not grant privilege {bits} in room {room}"
        )));
    }
    Ok(())
}
