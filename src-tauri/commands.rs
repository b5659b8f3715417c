//! Tauri commands: one per SDK call the UI makes, plus settings. Thin glue: the rules live in
//! `trtc_protocol` and the SDK.
//!
//! Every command is `async`: Tauri runs a plain `fn` command on the UI thread, so anything it
//! waits for freezes the window. (Tauri requires async commands that borrow state to return a
//! `Result`; those with nothing to report use [`Done`].)

use crate::connection::ConnectionInfo;
use crate::settings::{ServerSettings, Settings};
use crate::AppState;
use serde::{Deserialize, Serialize};
use trtc_protocol::codes::ERR_TRTC_INVALID_ROOM_ID;
use trtc_protocol::{EntryError, EntryField, EntryParams, TrtcAppScene, TrtcRole};

/// The join form as the UI sends it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinForm {
    room_id: String,
    room_id_type: String,
    user_id: String,
    scene: String,
    role: String,
    camera: bool,
    mic: bool,
}

/// Why a command did nothing: a failed entry rule (shown inline) or another problem.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum UiError {
    /// A room-entry rule failed; nothing was sent.
    Validation {
        /// The TRTC code the rule maps to.
        code: i32,
        /// The form field at fault.
        field: EntryField,
        /// The rule, in words.
        message: String,
    },
    /// Anything else.
    Failed {
        /// What went wrong.
        message: String,
    },
}

/// What a command that cannot fail returns.
pub type Done = Result<(), UiError>;

impl From<EntryError> for UiError {
    fn from(e: EntryError) -> Self {
        UiError::Validation {
            code: e.code,
            field: e.field,
            message: e.message,
        }
    }
}

fn room_error(message: &str) -> UiError {
    UiError::Validation {
        code: ERR_TRTC_INVALID_ROOM_ID,
        field: EntryField::RoomId,
        message: message.into(),
    }
}

/// The parameters the form describes, checked by the same rules as the SDK and the server.
fn params_from(form: &JoinForm, state: &AppState) -> Result<(EntryParams, TrtcAppScene), UiError> {
    let scene = TrtcAppScene::from_name(&form.scene).ok_or_else(|| UiError::Failed {
        message: format!("unknown scene {:?}", form.scene),
    })?;
    let role = TrtcRole::from_name(&form.role).unwrap_or_default();
    let (room_id, str_room_id) = match form.room_id_type.as_str() {
        "string" => (0, form.room_id.clone()),
        _ if form.room_id.is_empty() => return Err(room_error("Enter a room ID")),
        _ => match form.room_id.parse::<u32>() {
            Ok(n) => (n, String::new()),
            Err(_) if form.room_id.chars().all(|c| c.is_ascii_digit()) => {
                return Err(room_error(
                    "A numeric room ID must be between 1 and 4294967294",
                ))
            }
            Err(_) => {
                return Err(room_error(
                    "A numeric room ID has digits only (choose \"String\" for names)",
                ))
            }
        },
    };
    let conn = state.connection();
    let mut params = EntryParams {
        sdk_app_id: conn.sdk_app_id,
        user_id: form.user_id.clone(),
        user_sig: String::new(),
        room_id,
        str_room_id,
        role,
        private_map_key: String::new(),
    };
    // Check before signing, so the message names the user's mistake rather than a missing sig.
    params.user_sig = "unsigned".into();
    trtc_protocol::validate(Some(&params))?;
    params.user_sig = conn.user_sig(&form.user_id);
    trtc_protocol::validate(Some(&params))?;
    Ok((params, scene))
}

/// Checks the form and enters the room; the outcome arrives as onEnterRoom.
#[tauri::command]
pub async fn enter_room(state: tauri::State<'_, AppState>, form: JoinForm) -> Result<(), UiError> {
    let (params, scene) = params_from(&form, &state)?;
    state.remember(|s| {
        s.room_id = form.room_id.clone();
        s.room_id_type = form.room_id_type.clone();
        s.user_id = form.user_id.clone();
        s.scene = form.scene.clone();
        s.role = form.role.clone();
        s.camera = form.camera;
        s.mic = form.mic;
    });
    state.cloud.enter_room(&params, scene);
    Ok(())
}

/// Leaves the room; onExitRoom follows.
#[tauri::command]
pub async fn exit_room(state: tauri::State<'_, AppState>) -> Done {
    state.cloud.exit_room();
    state.videos.close_all();
    Ok(())
}

/// Live scenes: become anchor or audience; onSwitchRole follows.
#[tauri::command]
pub async fn switch_role(state: tauri::State<'_, AppState>, role: String) -> Result<(), UiError> {
    let role = TrtcRole::from_name(&role).ok_or_else(|| UiError::Failed {
        message: format!("unknown role {role:?}"),
    })?;
    state.cloud.switch_role(role);
    Ok(())
}

/// What the UI shows at start: the saved form and the connection.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Startup {
    settings: Settings,
    connection: ConnectionInfo,
}

/// The saved form and the connection, with secrets left out.
#[tauri::command]
pub async fn startup(state: tauri::State<'_, AppState>) -> Result<Startup, UiError> {
    let mut settings = state.settings();
    settings.server.secret = settings.server.secret.map(|_| String::new());
    Ok(Startup {
        settings,
        connection: state.connection().info(),
    })
}

/// Remembers the camera/microphone switches as they are flipped.
#[tauri::command]
pub async fn set_media_switches(
    state: tauri::State<'_, AppState>,
    camera: bool,
    mic: bool,
) -> Done {
    state.remember(|s| {
        s.camera = camera;
        s.mic = mic;
    });
    Ok(())
}

/// Saves connection settings and applies them to the next entry. An empty secret keeps the
/// saved one (the UI never sees it).
#[tauri::command]
pub async fn save_server_settings(
    state: tauri::State<'_, AppState>,
    mut server: ServerSettings,
) -> Result<ConnectionInfo, UiError> {
    if server.secret.as_deref() == Some("") {
        server.secret = state.settings().server.secret;
    }
    state
        .apply_server_settings(server)
        .map_err(|message| UiError::Failed { message })
}
