//! The room server's forwarding (the SFU), the server half of every media connection. The rest
//! of the server speaks rooms and members, never peer connections: the room actor decides
//! what each member may publish ([`RoomMedia::set_allowed`]) and hears back when a member's
//! media connection goes down or comes back ([`MediaNotice`]).
//!
//! Shape: every client has up to two peer connections with the server, a *publisher* (the
//! client offers its audio, camera and screen tracks once) and a *subscriber* (the server offers
//! the others' tracks and renegotiates as publishers come and go). Forwarding never decodes:
//! each publication's RTP packets go through a broadcast channel to the media lanes
//! ([`driver`]) that hold its subscribers, which write them into every subscriber's connection
//! with only the SSRC rewritten. Publisher connections (one per publishing member, receiving)
//! stay on the WebRTC library's driver.

pub(crate) mod driver;
pub(crate) mod forward;
mod hub;
pub mod metrics;
mod session;

pub use hub::{MediaNotice, RoomMedia};
pub use metrics::SfuMetrics;
pub use session::MediaSession;

use crate::setup::{
    err, interceptors, media_engine, peer_connection, AnswerAs, Flow, TransportError,
};
use rtc::interceptor::Registry;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use webrtc::peer_connection::{PeerConnection, PeerConnectionEventHandler};

/// Where media flows: the address peer connections bind, what they advertise, which ports.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The local address UDP sockets bind to.
    pub bind_ip: IpAddr,
    /// Advertised instead of `bind_ip` (a host behind 1:1 NAT, or bound to 0.0.0.0).
    pub public_ip: Option<IpAddr>,
    /// Inclusive UDP port range; `None` lets the OS pick.
    pub udp_ports: Option<(u16, u16)>,
    /// Where every room of the server counts its forwarding.
    pub metrics: Arc<SfuMetrics>,
    /// The server's media lanes, started with its first subscriber connection.
    lanes: Arc<tokio::sync::OnceCell<Arc<driver::Lanes>>>,
}

impl MediaConfig {
    /// The lanes subscriber connections run on, started on first use. Starting one binds
    /// sockets, spawns threads and makes a key pair, so it runs on a blocking thread; the
    /// lanes make keyframe requests on the runtime that asked.
    pub(crate) async fn lanes(&self) -> Result<Arc<driver::Lanes>, TransportError> {
        let lanes = self
            .lanes
            .get_or_try_init(|| {
                let config = self.clone();
                let main = tokio::runtime::Handle::current();
                async move {
                    tokio::task::spawn_blocking(move || driver::Lanes::start(&config, main))
                        .await
                        .map_err(err)?
                        .map(Arc::new)
                }
            })
            .await?;
        Ok(Arc::clone(lanes))
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            bind_ip: IpAddr::from([127, 0, 0, 1]),
            public_ip: None,
            udp_ports: None,
            metrics: Arc::default(),
            lanes: Arc::default(),
        }
    }
}

/// Next port to try in the configured range, so consecutive connections spread over it.
static NEXT_PORT: AtomicU32 = AtomicU32::new(0);

/// The ports to try for one socket: the OS's choice, or the configured range from the next
/// port on.
fn ports(config: &MediaConfig) -> Vec<u16> {
    match config.udp_ports {
        None => vec![0],
        Some((lo, hi)) => {
            let n = u32::from(hi - lo) + 1;
            let start = NEXT_PORT.fetch_add(1, Ordering::Relaxed) % n;
            (0..n).map(|i| lo + ((start + i) % n) as u16).collect()
        }
    }
}

/// A UDP socket on `ip` at a port `config` allows.
fn bind_udp(config: &MediaConfig, ip: IpAddr) -> Result<std::net::UdpSocket, TransportError> {
    let mut last_err = String::from("no port in range");
    for port in ports(config) {
        match std::net::UdpSocket::bind(std::net::SocketAddr::new(ip, port)) {
            Ok(s) => return Ok(s),
            Err(e) => last_err = e.to_string(),
        }
    }
    Err(TransportError(format!(
        "no media port available: {last_err}"
    )))
}

/// A publisher's peer connection bound per `config`: it receives, with TWCC feedback for the
/// sending client's estimator.
pub(crate) async fn new_peer_connection(
    config: &MediaConfig,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> Result<Arc<dyn PeerConnection>, TransportError> {
    let flow = Flow::Receives;
    let mut last_err = String::from("no port in range");
    for port in ports(config) {
        let mut engine = media_engine()?;
        let registry = interceptors(Registry::new(), &mut engine, flow)?;
        // `public_ip` is applied to the SDP (`setup::advertise`): webrtc's own NAT 1:1 setting
        // does nothing in 0.21.1.
        let addr = std::net::SocketAddr::new(config.bind_ip, port);
        match peer_connection(
            addr,
            registry,
            engine,
            Arc::clone(&handler),
            AnswerAs::DtlsClient,
            crate::setup::Ice::Lite,
        )
        .await
        {
            Ok(pc) => return Ok(pc),
            Err(e) => last_err = e.0,
        }
    }
    Err(TransportError(format!(
        "no media port available: {last_err}"
    )))
}
