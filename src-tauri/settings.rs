//! What the app remembers between runs, in `settings.json` in the config folder. Written
//! atomically (temp file + rename) with mode 0600, since it may hold a test-signing secret.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// Where the app connects and how it signs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerSettings {
    /// `None`: the built-in server. `Some(url)`: a remote room server.
    pub server_url: Option<String>,
    /// The remote application's sdkAppId.
    pub sdk_app_id: Option<u32>,
    /// Test signing with this secret (remote servers only).
    pub secret: Option<String>,
    /// A userSig from the customer's backend (remote servers only).
    pub user_sig: Option<String>,
}

/// The join form as last used, and the media switches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// Connection settings.
    pub server: ServerSettings,
    /// Last room ID typed.
    pub room_id: String,
    /// `numeric` or `string`.
    pub room_id_type: String,
    /// Last user ID typed.
    pub user_id: String,
    /// Last scene name.
    pub scene: String,
    /// Last role name (live scenes).
    pub role: String,
    /// Camera on when entering (used by the media issue's capture).
    pub camera: bool,
    /// Microphone on when entering.
    pub mic: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server: ServerSettings::default(),
            room_id: String::new(),
            room_id_type: "numeric".into(),
            user_id: String::new(),
            scene: "videocall".into(),
            role: "anchor".into(),
            // TRTC's demo: camera on, microphone off by default.
            camera: true,
            mic: false,
        }
    }
}

const FILE: &str = "settings.json";

impl Settings {
    /// Loads the settings; a missing or unreadable file gives the defaults (and a log line),
    /// never a failed start.
    pub fn load(dir: &Path) -> Settings {
        let path = dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "settings unreadable; using defaults");
                Settings::default()
            }),
            Err(_) => Settings::default(),
        }
    }

    /// Saves the settings atomically.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_private(&dir.join(FILE), &json)
    }
}

/// Writes a file readable only by its owner, all at once: a crash leaves the old file or the
/// new one, never half of either.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn round_trips_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings::default();
        s.server.secret = Some("k".into());
        s.user_id = "alice".into();
        s.save(dir.path()).unwrap();
        assert_eq!(Settings::load(dir.path()), s);
        let mode = std::fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_corrupt_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "{not json").unwrap();
        assert_eq!(Settings::load(dir.path()), Settings::default());
    }
}
