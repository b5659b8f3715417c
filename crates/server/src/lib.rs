//! The room server: WebSocket signalling, TRTC-compatible userSig checks, rooms and roles.
//!
//! | module | what lives there |
//! |---|---|
//! | [`config`] | [`ServerConfig`], flags and the TOML file |
//! | `admission` | connection caps, the accept loop's back-off when out of file descriptors |
//! | `auth` | app, userSig and privateMapKey checks, in contract order |
//! | `connection` | one task per WebSocket: parse, check, relay |
//! | `metrics` | `/metrics` for Prometheus: rooms, members, the SFU's counters, the process |
//! | `registry` | rooms by key, sessions by resume token |
//! | `room` | one actor per room: members, roles, limits, drop timeout, publishing rules |
//! | `trtc_rtc::sfu` | the SFU (peer connections, forwarding, keyframe requests), in the one crate on WebRTC |
//!
//! Drive it with [`spawn`] (tests, the app's built-in server) or [`run`] (the binary). Shutdown
//! is one `watch` signal every task watches: each client gets a clean close (1001), every room
//! closes its peer connections, then `run` returns.

#![warn(missing_docs)]

pub mod config;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod logging;

mod admission;
mod auth;
mod connection;
mod metrics;
mod rate;
mod registry;
mod room;

pub use config::{AppConfig, ServerConfig};
pub use trtc_rtc::sfu::MediaConfig;

use admission::{AcceptBackoff, Gate, Slot};
use anyhow::Context;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State as AxState;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Extension;
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::service::TowerToHyperService;
use registry::Registry;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tracing::{debug, info};

/// WebSocket messages above this size close the connection (1009); below it but above
/// [`trtc_protocol::messages::MAX_FRAME_BYTES`] they get an error reply.
const MAX_WS_MESSAGE: usize = 1 << 20;
/// How long shutdown waits for connections and rooms to close before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// tungstenite's read buffer defaults to 128 KiB per socket, which was most of an idle
/// connection's cost; messages larger than this still arrive, in several reads.
const WS_READ_BUFFER: usize = 4 * 1024;
const WS_WRITE_BUFFER: usize = 4 * 1024;

/// Shared by every connection.
pub(crate) struct State {
    config: ServerConfig,
    registry: Arc<Registry>,
    conn_ids: AtomicU64,
    shutdown: watch::Receiver<bool>,
    /// Each connection task holds a clone; shutdown waits until all are dropped.
    alive: mpsc::Sender<()>,
    gate: Arc<Gate>,
}

impl State {
    fn next_conn_id(&self) -> u64 {
        self.conn_ids.fetch_add(1, Ordering::Relaxed)
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A server running on the current tokio runtime.
#[derive(Debug)]
pub struct RunningServer {
    /// Where it listens (the real port when 0 was asked for).
    pub addr: SocketAddr,
    /// `ws://` or `wss://` URL of the signalling endpoint.
    pub url: String,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// Closes every connection cleanly and waits for the server to stop.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.task.await.context("server task panicked")?
    }
}

/// Connections the kernel may hold for us before `accept` (clamped to `net.core.somaxconn`).
/// The standard library listens with 128: when a whole room joins at once (200 viewers of a
/// live stream, a class starting), the 129th SYN is dropped and that client's onEnterRoom
/// waits for TCP's one-second retransmission (p99 of 200 simultaneous joins: 1,038 ms, with
/// 28 listen overflows counted by the kernel; 4,096 leaves that to the admission limits).
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` for the signalling listener, with [`LISTEN_BACKLOG`].
pub fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }?;
    // As the standard library does: a restarted server rebinds while old connections linger.
    socket.set_reuseaddr(true)?;
    socket
        .bind(addr)
        .and_then(|()| socket.listen(LISTEN_BACKLOG))
        .with_context(|| format!("binding {addr}"))
}

/// Binds `config.listen` and serves in the background.
pub async fn spawn(config: ServerConfig) -> anyhow::Result<RunningServer> {
    let listener = bind(config.listen)?;
    let addr = listener.local_addr()?;
    let scheme = if config.tls.is_some() { "wss" } else { "ws" };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let tls = config
        .tls
        .as_ref()
        .map(|(c, k)| tls_acceptor(c, k))
        .transpose()?;
    let task = tokio::spawn(serve(listener, tls, config, shutdown_rx));
    Ok(RunningServer {
        addr,
        url: format!("{scheme}://{addr}"),
        shutdown: shutdown_tx,
        task,
    })
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let (tx, rx) = watch::channel(false);
    let tls = config
        .tls
        .as_ref()
        .map(|(c, k)| tls_acceptor(c, k))
        .transpose()?;
    let server = tokio::spawn(serve(listener, tls, config, rx));
    shutdown.await;
    let _ = tx.send(true);
    server.await.context("server task panicked")?
}

async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    config: ServerConfig,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    let gate = Gate::new(config.admission);
    let deadline = config.admission.handshake_timeout;
    let mut backoff = AcceptBackoff::default();
    let state = Arc::new(State {
        gate: Arc::clone(&gate),
        config,
        // Each room's actor holds the registry, and the registry a clone of `alive`: shutdown
        // also waits for every room to close its peer connections.
        registry: Registry::new(shutdown.clone(), alive.clone()),
        conn_ids: AtomicU64::new(1),
        shutdown: shutdown.clone(),
        alive,
    });
    let app = Router::new()
        .route("/", get(ws_handler))
        .route("/ws", get(ws_handler))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(Arc::clone(&state));
    info!(addr = %listener.local_addr()?, tls = tls.is_some(), "accepting connections");
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    backoff.succeeded();
                    a
                }
                // Out of descriptors: the pending connection stays queued, and accepting again
                // at once would fail again at once (a spinning core). Wait for sockets to close.
                Err(e) if admission::is_resource_exhaustion(&e) => {
                    let pause = backoff.failed(&e, gate.open(), std::time::Instant::now());
                    tokio::select! {
                        _ = shutdown.changed() => break,
                        _ = tokio::time::sleep(pause) => continue,
                    }
                }
                Err(e) => {
                    debug!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let slot = match gate.admit(peer.ip()) {
            Ok(slot) => Arc::new(slot),
            Err(full) => {
                debug!(%peer, ?full, "connection refused: at the cap");
                if tls.is_none() {
                    // Best effort and never waits: a client that doesn't read just sees the close.
                    let _ = tcp.try_write(admission::refusal(full));
                }
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        // Every request of this connection carries its slot; an upgraded WebSocket keeps it.
        let request_slot = Arc::clone(&slot);
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(Arc::clone(&request_slot));
                req
            },
        ));
        let tls = tls.clone();
        let guard = state.alive.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _guard = guard;
            let _slot = slot;
            let builder = ConnBuilder::new(TokioExecutor::new());
            // The TLS handshake and the HTTP exchange (a request, or the upgrade) share one
            // deadline: a client that sends nothing, or a byte a second, is closed at it.
            let exchange = async {
                match tls {
                    Some(acceptor) => match acceptor.accept(tcp).await {
                        Ok(stream) => {
                            let conn = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), service);
                            serve_until(conn, &mut conn_shutdown).await
                        }
                        Err(e) => Err(format!("TLS handshake failed: {e}").into()),
                    },
                    None => {
                        let conn =
                            builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
                        serve_until(conn, &mut conn_shutdown).await
                    }
                }
            };
            match tokio::time::timeout(deadline, exchange).await {
                Err(_) => {
                    debug!(%peer, "closed: no request or upgrade within the handshake deadline")
                }
                Ok(Err(e)) => debug!(%peer, error = %e, "HTTP connection ended with an error"),
                Ok(Ok(())) => {}
            }
        });
    }
    info!("shutting down: closing every connection");
    drop(listener);
    // Connection tasks hold the router (and so the state) and a clone of `alive`; once the
    // last of them ends, every sender is gone and recv() yields None.
    drop(app);
    drop(state);
    if tokio::time::timeout(SHUTDOWN_GRACE, all_closed.recv())
        .await
        .is_err()
    {
        info!("some connections did not close within the grace period");
    }
    info!("stopped");
    Ok(())
}

/// Serves one HTTP connection; on shutdown, lets an in-flight plain request finish. Upgraded
/// WebSockets run in their own tasks and close themselves on the same signal.
async fn serve_until<C>(
    conn: C,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    C: std::future::Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>>,
{
    tokio::pin!(conn);
    tokio::select! {
        r = &mut conn => r,
        _ = shutdown.changed() => Ok(()),
    }
}

async fn ws_handler(
    ws: WebSocketUpgrade,
    AxState(state): AxState<Arc<State>>,
    Extension(slot): Extension<Arc<Slot>>,
) -> Response {
    let shutdown = state.shutdown.clone();
    let guard = state.alive.clone();
    ws.max_message_size(MAX_WS_MESSAGE)
        .max_frame_size(MAX_WS_MESSAGE)
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(WS_WRITE_BUFFER)
        .on_upgrade(move |socket| async move {
            let _guard = guard;
            let _slot = slot;
            connection::serve(socket, state, shutdown).await;
        })
        .into_response()
}

async fn healthz(AxState(state): AxState<Arc<State>>) -> Json<serde_json::Value> {
    let (rooms, sessions) = state.registry.counts();
    Json(serde_json::json!({ "status": "ok", "rooms": rooms, "sessions": sessions }))
}

async fn metrics(AxState(state): AxState<Arc<State>>) -> impl IntoResponse {
    let (rooms, members) = state.registry.counts();
    let counts = metrics::ServerCounts {
        rooms,
        members,
        connections: state.gate.open(),
    };
    let process = tokio::task::spawn_blocking(metrics::Process::read)
        .await
        .ok()
        .flatten();
    let page = metrics::render(counts, &state.config.media.metrics, process);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        page,
    )
}

fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<TlsAcceptor> {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert).with_context(|| format!("opening {}", cert.display()))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .with_context(|| format!("reading certificates from {}", cert.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{} holds no certificate", cert.display());
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).with_context(|| format!("opening {}", key.display()))?,
    ))
    .with_context(|| format!("reading the key from {}", key.display()))?
    .with_context(|| format!("{} holds no private key", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("certificate and key do not form a valid pair")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// A whole room joining at once must not overflow the accept queue: each dropped SYN
    /// costs that client a second (TCP's retransmission). `ss` reads the listener's queue
    /// length (Send-Q) from the kernel.
    #[tokio::test]
    async fn the_listener_queues_a_room_joining_at_once() {
        let listener = super::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = listener.local_addr().unwrap().port();
        let out = std::process::Command::new("ss")
            .args(["-Hltn", &format!("sport = :{port}")])
            .output()
            .expect("ss (iproute2) runs");
        let line = String::from_utf8(out.stdout).unwrap();
        let queue: u32 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
        let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(queue, super::LISTEN_BACKLOG.min(somaxconn), "{line}");
        assert!(queue > 128, "the standard library's 128: {line}");
    }
}
