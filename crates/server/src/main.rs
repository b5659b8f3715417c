//! `room-server`: the room server as a process (qa-contract §1).

use clap::Parser;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use trtc_server::config::{parse_count, parse_port_range, parse_secs, secs, FileConfig};
use trtc_server::{AppConfig, ServerConfig};

/// jemalloc with background purging gives memory back to the system within ~20 s of it being
/// freed (its dirty, then muzzy decay); glibc's allocator kept most of what 2,000 closed connections had used, so a burst
/// of hostile clients left the process large for good.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "TRTC-compatible room server: signalling, userSig auth, rooms"
)]
struct Cli {
    /// Signalling (WebSocket) and /healthz address; port 0 picks a free port.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// An application as SDKAPPID:SECRET; repeatable.
    #[arg(long = "app", value_parser = AppConfig::parse_flag)]
    apps: Vec<AppConfig>,
    /// The same settings as TOML; flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Remove a user whose connection went silent for this many seconds.
    #[arg(long = "drop-timeout", value_parser = parse_secs)]
    drop_timeout: Option<std::time::Duration>,
    /// PEM certificate chain: serve wss:// and https://.
    #[arg(long = "tls-cert", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long = "tls-key", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// UDP ports media may use, inclusive (one per peer connection).
    #[arg(long = "rtc-udp-ports", value_parser = parse_port_range)]
    rtc_udp_ports: Option<(u16, u16)>,
    /// The address media candidates advertise (behind 1:1 NAT, or listening on 0.0.0.0).
    #[arg(long = "public-ip")]
    public_ip: Option<std::net::IpAddr>,
    /// Concurrent connections in all; beyond it new ones are answered 503.
    #[arg(long = "max-connections", value_parser = parse_count)]
    max_connections: Option<usize>,
    /// Concurrent connections from one IP address.
    #[arg(long = "max-connections-per-ip", value_parser = parse_count)]
    max_connections_per_ip: Option<usize>,
    /// Seconds for the TCP/TLS handshake and the WebSocket upgrade (default 10).
    #[arg(long = "handshake-timeout", value_parser = parse_secs)]
    handshake_timeout: Option<std::time::Duration>,
    /// Seconds after the upgrade within which enterRoom must succeed (default 10).
    #[arg(long = "enter-timeout", value_parser = parse_secs)]
    enter_timeout: Option<std::time::Duration>,
    /// Log as JSON lines instead of text.
    #[arg(long = "log-json")]
    log_json: bool,
}

fn settings(cli: Cli) -> anyhow::Result<ServerConfig> {
    let file = match &cli.config {
        Some(path) => FileConfig::load(path).map_err(anyhow::Error::msg)?,
        None => FileConfig::default(),
    };
    let mut cfg = ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        ..Default::default()
    };
    if let Some(l) = file.listen {
        cfg.listen = l;
    }
    if let Some(t) = file.drop_timeout {
        cfg.drop_timeout = secs(t).map_err(anyhow::Error::msg)?;
    }
    let limits = &mut cfg.admission;
    for (file, cli, slot) in [
        (
            file.max_connections,
            cli.max_connections,
            &mut limits.max_connections,
        ),
        (
            file.max_connections_per_ip,
            cli.max_connections_per_ip,
            &mut limits.max_connections_per_ip,
        ),
    ] {
        if let Some(n) = cli.or(file) {
            anyhow::ensure!(n > 0, "connection limits must be at least 1");
            *slot = n;
        }
    }
    for (file, cli, slot) in [
        (
            file.handshake_timeout,
            cli.handshake_timeout,
            &mut limits.handshake_timeout,
        ),
        (
            file.enter_timeout,
            cli.enter_timeout,
            &mut limits.enter_timeout,
        ),
    ] {
        if let Some(t) = cli {
            *slot = t;
        } else if let Some(t) = file {
            *slot = secs(t).map_err(anyhow::Error::msg)?;
        }
    }
    cfg.apps = file
        .app
        .into_iter()
        .map(|a| (a.sdk_app_id, a))
        .collect::<HashMap<_, _>>();
    if let (Some(c), Some(k)) = (file.tls_cert, file.tls_key) {
        cfg.tls = Some((c, k));
    }
    if let Some(r) = &file.rtc_udp_ports {
        cfg.media.udp_ports = Some(parse_port_range(r).map_err(anyhow::Error::msg)?);
    }
    cfg.media.public_ip = file.public_ip;
    if let Some(r) = cli.rtc_udp_ports {
        cfg.media.udp_ports = Some(r);
    }
    if let Some(ip) = cli.public_ip {
        cfg.media.public_ip = Some(ip);
    }
    if let Some(l) = cli.listen {
        cfg.listen = l;
    }
    for app in cli.apps {
        cfg.apps.insert(app.sdk_app_id, app);
    }
    if let Some(t) = cli.drop_timeout {
        cfg.drop_timeout = t;
    }
    if let (Some(c), Some(k)) = (cli.tls_cert, cli.tls_key) {
        cfg.tls = Some((c, k));
    }
    anyhow::ensure!(
        !cfg.apps.is_empty(),
        "no application configured: pass --app SDKAPPID:SECRET or [[app]] in --config"
    );
    Ok(cfg)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    trtc_server::logging::init(cli.log_json);
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(error = %e, "no background purging: freed memory returns to the system only as it is reused");
    }
    let cfg = settings(cli)?;
    tracing::info!(config = ?cfg, "starting");
    if cfg.listen.ip().is_unspecified() && cfg.media.public_ip.is_none() {
        tracing::warn!("listening on an unspecified address without --public-ip: media candidates may not be reachable");
    }
    let listener = trtc_server::bind(cfg.listen)?;
    let addr = listener.local_addr()?;
    // The contract's first stdout line, printed once connections are accepted (the socket is
    // bound and listening; accept() is called right after).
    #[allow(clippy::print_stdout)]
    {
        use std::io::Write;
        println!("listening on {addr}");
        std::io::stdout().flush()?;
    }
    trtc_server::run(listener, cfg, shutdown_signal()).await
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("signal received");
}
