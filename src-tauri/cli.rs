//! The app's command-line flags (qa-contract §1). They override saved settings for this run.

use clap::Parser;
use std::path::PathBuf;
use trtc_sdk::SourceChoice;

/// TRTC Meeting: type a room ID and a user ID, and you are in the meeting.
#[derive(Parser, Debug, Clone, Default)]
#[command(version, about)]
pub struct Cli {
    /// Use this room server instead of the built-in one (ws:// or wss://).
    #[arg(long)]
    pub server: Option<String>,
    /// The application's sdkAppId on that server.
    #[arg(long)]
    pub sdkappid: Option<u32>,
    /// Test signing: the app signs userSigs itself with this secret.
    #[arg(long, conflicts_with = "usersig")]
    pub secret: Option<String>,
    /// A userSig from your backend (the production path).
    #[arg(long)]
    pub usersig: Option<String>,
    /// Keep settings and the built-in server's keys here instead of the user's config folder.
    #[arg(long = "config-dir")]
    pub config_dir: Option<PathBuf>,
    /// Where camera pictures come from: the system's camera, the synthetic test pattern, or none.
    #[arg(long, default_value = "device", value_name = "synthetic|device|none")]
    pub camera: SourceChoice,
    /// Where microphone sound comes from: the system's microphone, a 440 Hz tone, or none.
    #[arg(long, default_value = "device", value_name = "synthetic|device|none")]
    pub mic: SourceChoice,
    /// Where others' voices play: the system's output device, or nowhere (machines without
    /// sound hardware).
    #[arg(long, default_value = "device", value_name = "device|none")]
    pub speaker: SourceChoice,
}

impl Cli {
    /// The config folder: the flag, else `$XDG_CONFIG_HOME/trtc-meeting`, else `~/.config/trtc-meeting`.
    pub fn config_dir(&self) -> PathBuf {
        if let Some(d) = &self.config_dir {
            return d.clone();
        }
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("trtc-meeting")
    }
}
