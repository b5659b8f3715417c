//! Tauri commands for media: one per SDK media call (TRTC's names), plus where the binary
//! frame path (`video`, `frame_socket`) is. Results come back as SDK events (onCameraDidReady,
//! onError −1308, …) exactly as for room-bot, so the page's state follows events, not replies.
//!
//! All are `async`, so none runs on the UI thread; listing screens (an X connection, retried on
//! a busy display) and devices (ALSA and V4L2 enumeration) block, so they run on blocking
//! threads.

use crate::commands::{Done, UiError};
use crate::AppState;
use serde::{Deserialize, Serialize};
use trtc_sdk::{TrtcAudioQuality, TrtcVideoEncParam, TrtcVideoResolution};

fn failed(message: impl Into<String>) -> UiError {
    UiError::Failed {
        message: message.into(),
    }
}

/// Runs blocking work off the runtime's workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, UiError> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|e| failed(format!("background work failed: {e}")))
}

/// The view name the page uses for the local camera.
const LOCAL_VIEW: &str = "local";

fn remote_view(user_id: &str, stream_type: u8) -> String {
    format!("{user_id}:{stream_type}")
}

/// Opens the camera into the self tile and publishes it.
#[tauri::command]
pub async fn start_local_preview(state: tauri::State<'_, AppState>) -> Done {
    let view = state.videos.open(LOCAL_VIEW);
    state.cloud.start_local_preview(Some(view));
    Ok(())
}

/// Closes the camera.
#[tauri::command]
pub async fn stop_local_preview(state: tauri::State<'_, AppState>) -> Done {
    state.cloud.stop_local_preview();
    state.videos.close(LOCAL_VIEW);
    Ok(())
}

/// Opens the microphone and publishes it.
#[tauri::command]
pub async fn start_local_audio(state: tauri::State<'_, AppState>) -> Done {
    state.cloud.start_local_audio(TrtcAudioQuality::Default);
    Ok(())
}

/// Closes the microphone.
#[tauri::command]
pub async fn stop_local_audio(state: tauri::State<'_, AppState>) -> Done {
    state.cloud.stop_local_audio();
    Ok(())
}

/// Mutes or unmutes the microphone without closing it.
#[tauri::command]
pub async fn mute_local_audio(state: tauri::State<'_, AppState>, mute: bool) -> Done {
    state.cloud.mute_local_audio(mute);
    Ok(())
}

/// Starts showing a remote user's camera (`streamType` 0) or screen (2).
#[tauri::command]
pub async fn start_remote_view(
    state: tauri::State<'_, AppState>,
    user_id: String,
    stream_type: u8,
) -> Done {
    let view = state.videos.open(&remote_view(&user_id, stream_type));
    state
        .cloud
        .start_remote_view(&user_id, stream_type, Some(view));
    Ok(())
}

/// Stops showing a remote user's video.
#[tauri::command]
pub async fn stop_remote_view(
    state: tauri::State<'_, AppState>,
    user_id: String,
    stream_type: u8,
) -> Done {
    state.cloud.stop_remote_view(&user_id, stream_type);
    state.videos.close(&remote_view(&user_id, stream_type));
    Ok(())
}

/// A screen the picker offers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScreenSource {
    source_id: usize,
    source_name: String,
    width: u32,
    height: u32,
    is_main_screen: bool,
}

/// What can be shared; an error (the reason) when screen capture cannot work here.
#[tauri::command]
pub async fn get_screen_capture_sources(
    state: tauri::State<'_, AppState>,
) -> Result<Vec<ScreenSource>, UiError> {
    let cloud = state.cloud.clone();
    let asked = std::time::Instant::now();
    let sources = blocking(move || {
        let started = std::time::Instant::now();
        let sources = cloud.get_screen_capture_sources();
        (sources, started)
    })
    .await?;
    tracing::debug!(
        waited = ?sources.1.duration_since(asked),
        listing = ?sources.1.elapsed(),
        "screens listed"
    );
    let sources = sources.0.map_err(failed)?;
    Ok(sources
        .into_iter()
        .map(|s| ScreenSource {
            source_id: s.source_id,
            source_name: s.source_name,
            width: s.width,
            height: s.height,
            is_main_screen: s.is_main_screen,
        })
        .collect())
}

/// Shares `source_id` as the sub stream; onScreenCaptureStarted or onError follows.
#[tauri::command]
pub async fn start_screen_capture(state: tauri::State<'_, AppState>, source_id: usize) -> Done {
    state.cloud.select_screen_capture_target(source_id);
    // No local view: showing the shared screen inside itself is a hall of mirrors.
    state.cloud.start_screen_capture(None);
    Ok(())
}

/// Stops sharing; onScreenCaptureStopped follows.
#[tauri::command]
pub async fn stop_screen_capture(state: tauri::State<'_, AppState>) -> Done {
    state.cloud.stop_screen_capture();
    Ok(())
}

/// Camera encoding as the video settings choose it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoSettings {
    width: u32,
    height: u32,
    fps: u32,
    /// kbps; 0 = TRTC's recommendation for the resolution.
    bitrate: u32,
}

/// Applies video settings (restarts a running camera with them).
#[tauri::command]
pub async fn set_video_encoder_param(
    state: tauri::State<'_, AppState>,
    settings: VideoSettings,
) -> Result<(), UiError> {
    let resolution =
        TrtcVideoResolution::from_size(settings.width, settings.height).ok_or_else(|| {
            failed(format!(
                "{}x{} is not a TRTC resolution",
                settings.width, settings.height
            ))
        })?;
    if !(1..=60).contains(&settings.fps) {
        return Err(failed(format!("{} fps is outside 1–60", settings.fps)));
    }
    let bitrate = match settings.bitrate {
        0 => resolution.recommended_kbps(false),
        b => b,
    };
    state.cloud.set_video_encoder_param(TrtcVideoEncParam {
        video_resolution: resolution,
        video_fps: settings.fps,
        video_bitrate: bitrate,
        ..TrtcVideoEncParam::default()
    });
    Ok(())
}

/// Where the tiles fetch their pictures (see `frame_socket`).
#[tauri::command]
pub async fn video_endpoint(
    state: tauri::State<'_, AppState>,
) -> Result<crate::frame_socket::FrameEndpoint, UiError> {
    Ok(state.frame_endpoint.clone())
}

/// What the frame path has cost per picture so far (the statistics overlay shows it).
#[tauri::command]
pub async fn video_path_cost(
    state: tauri::State<'_, AppState>,
) -> Result<crate::video::PathCostSummary, UiError> {
    Ok(state.videos.cost())
}

/// A device as the pickers show it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    device_id: String,
    device_name: String,
    is_default: bool,
    /// The one in use.
    current: bool,
}

/// One picker's list, or why the system could not be asked.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceList {
    /// TRTC's type: 0 mic, 1 speaker, 2 camera.
    kind: i32,
    devices: Vec<Device>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn device_type(kind: i32) -> Result<trtc_sdk::TxMediaDeviceType, UiError> {
    trtc_sdk::TxMediaDeviceType::from_number(kind).ok_or_else(|| {
        failed(format!(
            "device type {kind} is not 0 (mic), 1 (speaker) or 2 (camera)"
        ))
    })
}

fn list(manager: &trtc_sdk::TxDeviceManager, kind: trtc_sdk::TxMediaDeviceType) -> DeviceList {
    let number = kind.number();
    match manager.get_devices_list_with_current(kind) {
        Ok((devices, current)) => DeviceList {
            kind: number,
            devices: devices
                .into_iter()
                .map(|d| Device {
                    current: current.as_deref() == Some(d.device_id.as_str()),
                    device_id: d.device_id,
                    device_name: d.device_name,
                    is_default: d.is_default,
                })
                .collect(),
            error: None,
        },
        Err(e) => DeviceList {
            kind: number,
            devices: vec![],
            error: Some(e),
        },
    }
}

/// The devices of TRTC's type `kind` (0 mic, 1 speaker, 2 camera), the one in use marked.
#[tauri::command]
pub async fn get_devices_list(
    state: tauri::State<'_, AppState>,
    kind: i32,
) -> Result<DeviceList, UiError> {
    let kind = device_type(kind)?;
    let manager = state.cloud.get_device_manager();
    blocking(move || list(&manager, kind)).await
}

/// Every picker's list at once, each type enumerated once, for the device dialog.
#[tauri::command]
pub async fn get_all_devices(
    state: tauri::State<'_, AppState>,
) -> Result<Vec<DeviceList>, UiError> {
    let manager = state.cloud.get_device_manager();
    blocking(move || {
        use trtc_sdk::TxMediaDeviceType as T;
        [T::Mic, T::Speaker, T::Camera]
            .into_iter()
            .map(|kind| list(&manager, kind))
            .collect()
    })
    .await
}

/// Chooses a device; a running one switches at once.
#[tauri::command]
pub async fn set_current_device(
    state: tauri::State<'_, AppState>,
    kind: i32,
    device_id: String,
) -> Result<(), UiError> {
    let kind = device_type(kind)?;
    let manager = state.cloud.get_device_manager();
    let id = device_id.clone();
    match blocking(move || manager.set_current_device(kind, &id)).await? {
        0 => Ok(()),
        code => Err(failed(format!("no such device: {device_id} ({code})"))),
    }
}
