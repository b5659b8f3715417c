//! Tauri commands for media: one per SDK media call (TRTC's names), plus where the binary
//! frame path (`video`, `frame_socket`) is. Results come back as SDK events (onCameraDidReady,
//! onError −1308, …) exactly as for room-bot, so the page's state follows events, not replies.

use crate::AppState;
use serde::{Deserialize, Serialize};
use trtc_sdk::{TrtcAudioQuality, TrtcVideoEncParam, TrtcVideoResolution};

/// The view name the page uses for the local camera.
const LOCAL_VIEW: &str = "local";

fn remote_view(user_id: &str, stream_type: u8) -> String {
    format!("{user_id}:{stream_type}")
}

/// Opens the camera into the self tile and publishes it.
#[tauri::command]
pub fn start_local_preview(state: tauri::State<'_, AppState>) {
    let view = state.videos.open(LOCAL_VIEW);
    state.cloud.start_local_preview(Some(view));
}

/// Closes the camera.
#[tauri::command]
pub fn stop_local_preview(state: tauri::State<'_, AppState>) {
    state.cloud.stop_local_preview();
    state.videos.close(LOCAL_VIEW);
}

/// Opens the microphone and publishes it.
#[tauri::command]
pub fn start_local_audio(state: tauri::State<'_, AppState>) {
    state.cloud.start_local_audio(TrtcAudioQuality::Default);
}

/// Closes the microphone.
#[tauri::command]
pub fn stop_local_audio(state: tauri::State<'_, AppState>) {
    state.cloud.stop_local_audio();
}

/// Mutes or unmutes the microphone without closing it.
#[tauri::command]
pub fn mute_local_audio(state: tauri::State<'_, AppState>, mute: bool) {
    state.cloud.mute_local_audio(mute);
}

/// Starts showing a remote user's camera (`streamType` 0) or screen (2).
#[tauri::command]
pub fn start_remote_view(state: tauri::State<'_, AppState>, user_id: String, stream_type: u8) {
    let view = state.videos.open(&remote_view(&user_id, stream_type));
    state
        .cloud
        .start_remote_view(&user_id, stream_type, Some(view));
}

/// Stops showing a remote user's video.
#[tauri::command]
pub fn stop_remote_view(state: tauri::State<'_, AppState>, user_id: String, stream_type: u8) {
    state.cloud.stop_remote_view(&user_id, stream_type);
    state.videos.close(&remote_view(&user_id, stream_type));
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
pub fn get_screen_capture_sources(
    state: tauri::State<'_, AppState>,
) -> Result<Vec<ScreenSource>, String> {
    Ok(state
        .cloud
        .get_screen_capture_sources()?
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
pub fn start_screen_capture(state: tauri::State<'_, AppState>, source_id: usize) {
    state.cloud.select_screen_capture_target(source_id);
    // No local view: showing the shared screen inside itself is a hall of mirrors.
    state.cloud.start_screen_capture(None);
}

/// Stops sharing; onScreenCaptureStopped follows.
#[tauri::command]
pub fn stop_screen_capture(state: tauri::State<'_, AppState>) {
    state.cloud.stop_screen_capture();
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
pub fn set_video_encoder_param(
    state: tauri::State<'_, AppState>,
    settings: VideoSettings,
) -> Result<(), String> {
    let resolution =
        TrtcVideoResolution::from_size(settings.width, settings.height).ok_or_else(|| {
            format!(
                "{}x{} is not a TRTC resolution",
                settings.width, settings.height
            )
        })?;
    if !(1..=60).contains(&settings.fps) {
        return Err(format!("{} fps is outside 1–60", settings.fps));
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
pub fn video_endpoint(state: tauri::State<'_, AppState>) -> crate::frame_socket::FrameEndpoint {
    state.frame_endpoint.clone()
}

/// What the frame path has cost per picture so far (the statistics overlay shows it).
#[tauri::command]
pub fn video_path_cost(state: tauri::State<'_, AppState>) -> crate::video::PathCostSummary {
    state.videos.cost()
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

fn device_type(kind: i32) -> Result<trtc_sdk::TxMediaDeviceType, String> {
    trtc_sdk::TxMediaDeviceType::from_number(kind)
        .ok_or_else(|| format!("device type {kind} is not 0 (mic), 1 (speaker) or 2 (camera)"))
}

/// The devices of TRTC's type `kind` (0 mic, 1 speaker, 2 camera), the one in use marked.
#[tauri::command]
pub fn get_devices_list(
    state: tauri::State<'_, AppState>,
    kind: i32,
) -> Result<Vec<Device>, String> {
    let kind = device_type(kind)?;
    let manager = state.cloud.get_device_manager();
    let current = manager.get_current_device(kind).map(|d| d.device_id);
    Ok(manager
        .get_devices_list(kind)?
        .into_iter()
        .map(|d| Device {
            current: current.as_deref() == Some(d.device_id.as_str()),
            device_id: d.device_id,
            device_name: d.device_name,
            is_default: d.is_default,
        })
        .collect())
}

/// Chooses a device; a running one switches at once.
#[tauri::command]
pub fn set_current_device(
    state: tauri::State<'_, AppState>,
    kind: i32,
    device_id: String,
) -> Result<(), String> {
    match state
        .cloud
        .get_device_manager()
        .set_current_device(device_type(kind)?, &device_id)
    {
        0 => Ok(()),
        code => Err(format!("no such device: {device_id} ({code})")),
    }
}
