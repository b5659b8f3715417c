//! The built-in room server (DESIGN.md "The embedded default").
//!
//! On first run the app creates a development sdkAppId and a random secret in the config
//! folder (`local-server.toml`, mode 0600) and signs userSigs locally, as TRTC's
//! GenerateTestUserSig does. The first instance starts the server on a free loopback port and
//! records its URL in `local-server.json`; a second instance with the same config folder finds
//! it there (checking `/healthz`) and joins the same rooms.

use crate::settings::write_private;
use anyhow::Context;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// The development application of the built-in server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalKeys {
    /// The development sdkAppId.
    pub sdk_app_id: u32,
    /// The secret userSigs are signed with. Stays in this file and this process.
    pub secret: String,
}

/// Where a running built-in server listens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalServerInfo {
    /// `ws://127.0.0.1:PORT`.
    pub url: String,
    /// The process that runs it.
    pub pid: u32,
}

const KEYS: &str = "local-server.toml";
const INFO: &str = "local-server.json";
/// TRTC's sdkAppIds start at 1400000000; the development one is fixed so QA can script it.
const DEV_SDK_APP_ID: u32 = 1_400_000_001;

/// Reads the built-in server's keys, creating them on first run.
pub fn keys(dir: &Path) -> anyhow::Result<LocalKeys> {
    let path = dir.join(KEYS);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()));
    }
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let keys = LocalKeys {
        sdk_app_id: DEV_SDK_APP_ID,
        secret: bytes.iter().map(|b| format!("{b:02x}")).collect(),
    };
    let text = toml::to_string(&keys)?;
    write_private(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(keys)
}

/// The URL of a built-in server another instance already runs for this config folder.
pub fn find_running(dir: &Path) -> Option<String> {
    let info: LocalServerInfo =
        serde_json::from_slice(&std::fs::read(dir.join(INFO)).ok()?).ok()?;
    let addr: SocketAddr = info.url.strip_prefix("ws://")?.parse().ok()?;
    healthy(addr).then_some(info.url)
}

/// Records where this instance's built-in server listens.
pub fn record_running(dir: &Path, url: &str) -> anyhow::Result<()> {
    let info = LocalServerInfo {
        url: url.into(),
        pid: std::process::id(),
    };
    write_private(&dir.join(INFO), &serde_json::to_vec(&info)?)?;
    Ok(())
}

/// Whether a room server answers `/healthz` at `addr`.
fn healthy(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(1000)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut reply = String::new();
    let _ = s.take(4096).read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200") && reply.contains("\"status\":\"ok\"")
}
