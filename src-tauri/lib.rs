//! The desktop app: a Tauri shell over the SDK. Commands map one-to-one onto SDK calls; SDK
//! events reach the web UI unchanged as `trtc-event` (the same event lines room-bot prints).
//!
//! | module | what lives there |
//! |---|---|
//! | `cli` | the app's flags (qa-contract §1) |
//! | `connection` | which server, which sdkAppId, how userSigs are made |
//! | `embedded` | the built-in room server and how a second instance finds it |
//! | `commands` | the Tauri commands the UI calls for the room |
//! | `media` | the Tauri commands for camera, microphone, screen and remote views |
//! | `video` | the binary frame path from the SDK's views to the tiles' canvases |
//! | `frame_socket` | the loopback WebSocket that frame path crosses to the page |
//! | `settings` | what is remembered between runs (0600, atomic writes) |

mod cli;
mod commands;
mod connection;
mod embedded;
mod frame_socket;
mod media;
mod settings;
mod video;

use clap::Parser;
use cli::Cli;
use connection::{Connection, ConnectionInfo, Signing};
use settings::{ServerSettings, Settings};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use tauri::{Emitter, Manager};
use trtc_sdk::{TrtcCloud, TrtcCloudConfig};

/// Shared by every command.
pub struct AppState {
    cloud: TrtcCloud,
    cli: Cli,
    config_dir: PathBuf,
    settings: Mutex<Settings>,
    connection: Mutex<Connection>,
    /// The built-in server's connection, kept to switch back from a remote server.
    builtin: Connection,
    /// The video views the tiles pull pictures from.
    videos: std::sync::Arc<video::Videos>,
    /// Where the page fetches them.
    frame_endpoint: frame_socket::FrameEndpoint,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section replaces a whole value; a poisoned lock still holds a valid one.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AppState {
    fn connection(&self) -> Connection {
        lock(&self.connection).clone()
    }

    fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    /// Updates the settings and saves them; a failed save is logged, never fatal.
    fn remember(&self, change: impl FnOnce(&mut Settings)) {
        let mut s = lock(&self.settings);
        change(&mut s);
        if let Err(e) = s.save(&self.config_dir) {
            tracing::warn!(error = %e, "could not save settings");
        }
    }

    fn apply_server_settings(&self, server: ServerSettings) -> Result<ConnectionInfo, String> {
        // Saved settings apply with no flags in the way.
        let conn = match Connection::remote(&Cli::default(), &server)? {
            Some(c) => c,
            None => self.builtin.clone(),
        };
        self.cloud.set_server_url(conn.server_url.clone());
        let info = conn.info();
        *lock(&self.connection) = conn;
        self.remember(|s| s.server = server);
        Ok(info)
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config_dir", &self.config_dir)
            .finish_non_exhaustive()
    }
}

/// Starts (or finds) the built-in server and returns its connection. The server runs on
/// Tauri's async runtime for the life of the process.
fn builtin_connection(dir: &std::path::Path) -> anyhow::Result<Connection> {
    let keys = embedded::keys(dir)?;
    let url = match embedded::find_running(dir) {
        Some(url) => {
            tracing::info!(%url, "joining the built-in server another instance runs");
            url
        }
        None => {
            let cfg =
                trtc_server::ServerConfig::default().with_app(keys.sdk_app_id, keys.secret.clone());
            let server = tauri::async_runtime::block_on(trtc_server::spawn(cfg))?;
            let url = server.url.clone();
            embedded::record_running(dir, &url)?;
            tracing::info!(%url, "built-in server started");
            // The server lives as long as the app; dropping the handle does not stop it.
            std::mem::forget(server);
            url
        }
    };
    Ok(Connection {
        builtin: true,
        server_url: url,
        sdk_app_id: keys.sdk_app_id,
        signing: Signing::TestSecret(keys.secret),
    })
}

/// With no GPU, WebKitGTK's accelerated compositing runs OpenGL in software, and every
/// picture a tile draws is composited through it: in a 4-person call under Xvfb the page got
/// ~7 animation frames a second and every dialog stalled it 200–600 ms; drawn by the CPU
/// directly (WebKit's non-compositing mode) nothing the controls do stalls the same call over
/// 60 ms (docs/benchmarks.md). Machines with a GPU render node keep the default,
/// and a value the user set is kept either way.
fn composite_in_software_without_gpu() {
    const KEY: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";
    let has_gpu = std::fs::read_dir("/dev/dri").is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    });
    if !has_gpu && std::env::var_os(KEY).is_none() {
        // Before any other thread exists (the SDK's runtime and GTK start later).
        std::env::set_var(KEY, "1");
        tracing::info!("no GPU render node: WebKit composites without OpenGL");
    }
}

/// Runs the app; returns when the last window closes.
pub fn run() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return std::process::ExitCode::from(if e.use_stderr() { 64 } else { 0 });
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if cfg!(target_os = "linux") {
        composite_in_software_without_gpu();
    }
    match start(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn start(cli: Cli) -> anyhow::Result<()> {
    let config_dir = cli.config_dir();
    std::fs::create_dir_all(&config_dir)?;
    let settings = Settings::load(&config_dir);
    if cli.server.is_none()
        && (cli.secret.is_some() || cli.usersig.is_some() || cli.sdkappid.is_some())
    {
        tracing::warn!("--sdkappid, --secret and --usersig apply to --server; the built-in server signs for itself");
    }
    let builtin = builtin_connection(&config_dir)?;
    let connection = Connection::remote(&cli, &settings.server)
        .map_err(anyhow::Error::msg)?
        .unwrap_or_else(|| builtin.clone());
    tracing::info!(url = %connection.server_url, builtin = connection.builtin, "connection");
    if cli.speaker == trtc_sdk::SourceChoice::Synthetic {
        anyhow::bail!("--speaker takes device or none");
    }
    let cloud = TrtcCloud::new(TrtcCloudConfig {
        speaker: cli.speaker,
        ..TrtcCloudConfig::default()
            .with_server_url(connection.server_url.clone())
            .with_sources(cli.camera, cli.mic)
    });
    let videos = std::sync::Arc::new(video::Videos::default());
    let state = AppState {
        cloud: cloud.clone(),
        cli,
        config_dir,
        settings: Mutex::new(settings),
        connection: Mutex::new(connection),
        builtin,
        frame_endpoint: frame_socket::start(std::sync::Arc::clone(&videos))?,
        videos,
    };
    tracing::debug!(flags = ?state.cli.config_dir, "state ready");
    let app = tauri::Builder::default()
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::startup,
            commands::enter_room,
            commands::exit_room,
            commands::switch_role,
            commands::set_media_switches,
            commands::save_server_settings,
            media::start_local_preview,
            media::stop_local_preview,
            media::start_local_audio,
            media::stop_local_audio,
            media::mute_local_audio,
            media::start_remote_view,
            media::stop_remote_view,
            media::get_screen_capture_sources,
            media::start_screen_capture,
            media::stop_screen_capture,
            media::set_video_encoder_param,
            media::video_endpoint,
            media::get_devices_list,
            media::get_all_devices,
            media::set_current_device,
            media::video_path_cost,
        ])
        .setup(move |app| {
            // SDK events → the UI, in order, as event lines.
            let handle = app.handle().clone();
            let mut events = cloud.events();
            tauri::async_runtime::spawn(async move {
                while let Some(event) = events.recv().await {
                    tracing::debug!(event = %event.to_line(), "sdk event");
                    if let Err(e) = handle.emit("trtc-event", &event) {
                        tracing::warn!(error = %e, "could not forward an SDK event to the UI");
                    }
                }
            });
            Ok(())
        })
        .build(tauri::generate_context!())?;
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            // Leave politely so others see a normal leave rather than a drop timeout.
            let state = handle.state::<AppState>();
            let mut events = state.cloud.events();
            state.cloud.exit_room();
            let _ = tauri::async_runtime::block_on(async {
                tokio::time::timeout(std::time::Duration::from_millis(800), async {
                    while let Some(e) = events.recv().await {
                        if matches!(e, trtc_sdk::TrtcEvent::ExitRoom { .. }) {
                            break;
                        }
                    }
                })
                .await
            });
        }
    });
    Ok(())
}
