//! room-bot: a headless client on the SDK for QA scripts, demos and load (qa-contract §1–§2).
//!
//! It enters a room, prints every SDK event as one JSON line on stdout, and ends with an exit
//! code a script can branch on ([`ExitCode`]). The binary is a thin `main` over [`run`].

#![warn(missing_docs)]

use std::time::Duration;
use trtc_sdk::{
    TrtcAppScene, TrtcAudioQuality, TrtcCloud, TrtcCloudConfig, TrtcEvent, TrtcParams,
    TrtcVideoEncParam,
};

/// The contract's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Entered and left normally.
    Left = 0,
    /// Entering failed (onEnterRoom < 0).
    EnterFailed = 2,
    /// Removed by the server (onExitRoom 1 or 2).
    Removed = 3,
    /// The connection was lost and not recovered.
    ConnectionLost = 4,
    /// Bad command line.
    Usage = 64,
}

/// What to do once in the room.
#[derive(Debug, Clone)]
pub struct BotPlan {
    /// Room-entry parameters, userSig included.
    pub params: TrtcParams,
    /// The scene.
    pub scene: TrtcAppScene,
    /// Stay this long after entering, then exitRoom; `None` = until a signal.
    pub duration: Option<Duration>,
    /// The SDK's settings (server URL, timing, roots, media sources).
    pub config: TrtcCloudConfig,
    /// What to publish and receive once in the room.
    pub media: Media,
    /// Camera encoding.
    pub video: TrtcVideoEncParam,
}

/// The bot's media: streams it publishes once entered, and whether it decodes others' video.
#[derive(Debug, Clone, Copy, Default)]
pub struct Media {
    /// Start the camera (the source is `config.camera`).
    pub camera: bool,
    /// Start the microphone (the source is `config.mic`).
    pub mic: bool,
    /// Share the screen.
    pub screen: bool,
    /// Decode every remote video stream as it becomes available.
    pub subscribe: bool,
}

/// Runs the bot to its end: every event goes to `print` in order; `stop` resolving (a signal)
/// asks the bot to leave.
pub async fn run(
    plan: BotPlan,
    mut print: impl FnMut(&TrtcEvent),
    stop: impl std::future::Future<Output = ()>,
) -> ExitCode {
    let cloud = TrtcCloud::new(plan.config);
    let mut events = cloud.events();
    cloud.enter_room(&plan.params, plan.scene);
    tokio::pin!(stop);
    let mut stop_done = false;
    let mut leave_at: Option<tokio::time::Instant> = None;
    let mut entered = false;
    loop {
        let timer = async {
            match leave_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { return ExitCode::ConnectionLost };
                print(&event);
                match event {
                    TrtcEvent::EnterRoom { result } if result < 0 => return ExitCode::EnterFailed,
                    TrtcEvent::EnterRoom { .. } => {
                        entered = true;
                        if plan.media.camera {
                            cloud.set_video_encoder_param(plan.video);
                            cloud.start_local_preview(None);
                        }
                        if plan.media.mic {
                            cloud.start_local_audio(TrtcAudioQuality::Default);
                        }
                        if plan.media.screen {
                            cloud.start_screen_capture(None);
                        }
                        if let Some(d) = plan.duration {
                            leave_at = Some(tokio::time::Instant::now() + d);
                        }
                    }
                    TrtcEvent::UserVideoAvailable { user_id, available: true } if plan.media.subscribe => {
                        cloud.start_remote_view(&user_id, 0, None);
                    }
                    TrtcEvent::UserSubStreamAvailable { user_id, available: true } if plan.media.subscribe => {
                        cloud.start_remote_view(&user_id, 2, None);
                    }
                    TrtcEvent::ExitRoom { reason: 1 | 2 } => return ExitCode::Removed,
                    TrtcEvent::ExitRoom { .. } => return ExitCode::Left,
                    // Reconnection given up (or refused): the session is over.
                    TrtcEvent::Error { err_code, .. } if entered && err_code == trtc_sdk::codes::ERR_DISCONNECTED => {
                        return ExitCode::ConnectionLost
                    }
                    _ => {}
                }
            }
            _ = timer => {
                leave_at = None;
                cloud.exit_room();
            }
            _ = &mut stop, if !stop_done => {
                stop_done = true;
                cloud.exit_room();
            }
        }
    }
}
