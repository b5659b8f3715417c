//! Server settings: flags, an optional TOML file (flags override it), and their defaults.

use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One application the server accepts: its sdkAppId, secret key and permission mode.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct AppConfig {
    /// The sdkAppId clients name in TRTCParams.
    pub sdk_app_id: u32,
    /// The key userSigs are signed with. Never leaves the server.
    pub secret: String,
    /// TRTC's "advanced permission control": every entry must carry a valid privateMapKey.
    #[serde(default)]
    pub private_map_key_required: bool,
}

impl AppConfig {
    /// Parses `SDKAPPID:SECRET` as given to `--app`.
    pub fn parse_flag(s: &str) -> Result<Self, String> {
        let (id, secret) = s.split_once(':').ok_or("expected SDKAPPID:SECRET")?;
        let sdk_app_id: u32 = id
            .parse()
            .map_err(|_| format!("sdkAppId {id:?} is not a number"))?;
        if sdk_app_id == 0 || secret.is_empty() {
            return Err("sdkAppId must be non-zero and the secret non-empty".into());
        }
        Ok(AppConfig {
            sdk_app_id,
            secret: secret.into(),
            private_map_key_required: false,
        })
    }
}

/// Everything the server needs to run.
#[derive(Clone)]
pub struct ServerConfig {
    /// Where signalling (WebSocket) and `/healthz` listen.
    pub listen: SocketAddr,
    /// Applications by sdkAppId.
    pub apps: HashMap<u32, AppConfig>,
    /// A user whose connection has been silent (or gone) this long is removed; others see
    /// onRemoteUserLeaveRoom(reason 1). Also how long a session can be resumed.
    pub drop_timeout: Duration,
    /// How long an empty live room whose last member was audience lingers (TRTC: 10 minutes).
    pub live_room_linger: Duration,
    /// A media claim (audio, camera, screen) that no stream backs within this is withdrawn.
    /// Long enough for a publisher connection to come up through a slow, lossy network.
    pub claim_grace: Duration,
    /// PEM certificate chain and key: serve `wss://` and `https://`.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Where media (UDP) flows. Its `bind_ip` is replaced by the listen address's IP unless
    /// set with [`ServerConfig::media_bind`].
    pub media: crate::MediaConfig,
    /// Media binds here instead of the listen address's IP.
    pub media_bind: Option<std::net::IpAddr>,
    /// Who may hold a connection, and how long before it must have entered a room.
    pub admission: Admission,
}

/// Connection caps and deadlines (contract §1). A socket costs memory and a file descriptor
/// whether or not its client ever enters a room, so these bound what a client can hold
/// without proving it belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Concurrent connections in all (signalling and HTTP); beyond it new ones get 503.
    pub max_connections: usize,
    /// Concurrent connections from one IP address.
    pub max_connections_per_ip: usize,
    /// The TCP/TLS handshake and the WebSocket upgrade (or a plain HTTP request) finish
    /// within this, or the socket is closed.
    pub handshake_timeout: Duration,
    /// After the upgrade (and after leaving a room), `enterRoom` must succeed within this;
    /// nothing else extends it. The close says 1008.
    pub enter_timeout: Duration,
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            max_connections: 10_000,
            // One office behind one NAT, or a load test on loopback, is many people on one
            // address; this only stops one host from taking the whole server.
            max_connections_per_ip: 2_000,
            handshake_timeout: Duration::from_secs(10),
            enter_timeout: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    // Hand-written so that secrets never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut apps: Vec<_> = self.apps.keys().collect();
        apps.sort();
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("apps", &apps)
            .field("drop_timeout", &self.drop_timeout)
            .field("tls", &self.tls.is_some())
            .field("media", &self.media)
            .field("admission", &self.admission)
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            apps: HashMap::new(),
            drop_timeout: Duration::from_secs(90),
            live_room_linger: Duration::from_secs(600),
            claim_grace: Duration::from_secs(10),
            tls: None,
            media: crate::MediaConfig::default(),
            media_bind: None,
            admission: Admission::default(),
        }
    }
}

impl ServerConfig {
    /// Adds or replaces an application.
    pub fn with_app(mut self, sdk_app_id: u32, secret: impl Into<String>) -> Self {
        self.apps.insert(
            sdk_app_id,
            AppConfig {
                sdk_app_id,
                secret: secret.into(),
                private_map_key_required: false,
            },
        );
        self
    }

    /// The media settings in effect: bound to the listen address's IP unless told otherwise.
    pub fn effective_media(&self) -> crate::MediaConfig {
        let mut media = self.media.clone();
        media.bind_ip = self.media_bind.unwrap_or(self.listen.ip());
        media
    }

    /// The timing rules every room of this server follows.
    pub(crate) fn room_times(&self) -> crate::room::RoomTimes {
        crate::room::RoomTimes {
            drop_timeout: self.drop_timeout,
            live_linger: self.live_room_linger,
            claim_grace: self.claim_grace,
        }
    }

    /// How often clients should send a heartbeat: often enough that a few can be lost before
    /// the drop timeout, rarely enough to cost nothing.
    pub fn heartbeat_interval(&self) -> Duration {
        (self.drop_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(5))
    }
}

/// The TOML file's shape; every key optional.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `listen = "0.0.0.0:8080"`.
    pub listen: Option<SocketAddr>,
    /// `drop_timeout = 90` (seconds, fractions allowed).
    pub drop_timeout: Option<f64>,
    /// `tls_cert = "cert.pem"`, relative to the file.
    pub tls_cert: Option<PathBuf>,
    /// `tls_key = "key.pem"`, relative to the file.
    pub tls_key: Option<PathBuf>,
    /// `rtc_udp_ports = "50000-50100"`.
    pub rtc_udp_ports: Option<String>,
    /// `public_ip = "203.0.113.7"`: the address media candidates advertise.
    pub public_ip: Option<std::net::IpAddr>,
    /// `max_connections = 10000`.
    pub max_connections: Option<usize>,
    /// `max_connections_per_ip = 2000`.
    pub max_connections_per_ip: Option<usize>,
    /// `handshake_timeout = 10` (seconds).
    pub handshake_timeout: Option<f64>,
    /// `enter_timeout = 10` (seconds).
    pub enter_timeout: Option<f64>,
    /// `[[app]]` tables.
    #[serde(default)]
    pub app: Vec<AppConfig>,
}

impl FileConfig {
    /// Reads and parses a config file; paths inside it resolve against its folder.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut cfg: FileConfig =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.tls_cert = cfg.tls_cert.map(|p| base.join(p));
        cfg.tls_key = cfg.tls_key.map(|p| base.join(p));
        Ok(cfg)
    }
}

/// Parses a duration in seconds, fractions allowed (`0.5`), as flags and files give it.
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    secs(v)
}

/// Parses a connection count (at least 1).
pub fn parse_count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{s:?} is not a positive whole number")),
    }
}

/// Seconds as the TOML file gives them.
pub fn secs(v: f64) -> Result<Duration, String> {
    if !(v.is_finite() && v > 0.0 && v < 1e9) {
        return Err(format!("{v} is not a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Parses `LO-HI` (inclusive, LO ≤ HI, both non-zero) as `--rtc-udp-ports` takes it.
pub fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let (lo, hi) = s
        .split_once('-')
        .ok_or_else(|| format!("{s:?}: expected LO-HI, for example 50000-50100"))?;
    let port = |p: &str| -> Result<u16, String> {
        match p.trim().parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{p:?} is not a port number (1-65535)")),
        }
    };
    let (lo, hi) = (port(lo)?, port(hi)?);
    if lo > hi {
        return Err(format!("{lo}-{hi}: the range is empty"));
    }
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(parse_port_range("50000-50100"), Ok((50000, 50100)));
        assert_eq!(parse_port_range("7-7"), Ok((7, 7)));
        for bad in ["", "5", "0-10", "10-5", "a-b", "1-70000"] {
            assert!(parse_port_range(bad).is_err(), "{bad}");
        }
    }
}
