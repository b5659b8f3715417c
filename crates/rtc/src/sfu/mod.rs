//! The room server's forwarding (the SFU), the server half of every media connection. The rest
//! of the server speaks rooms and members, never peer connections: the room actor decides
//! what each member may publish ([`RoomMedia::set_allowed`]) and hears back when a member's
//! media connection goes down or comes back ([`MediaNotice`]).
//!
//! Shape: every client has up to two peer connections with the server, a *publisher* (the
//! client offers its audio, camera and screen tracks once) and a *subscriber* (the server offers
//! the others' tracks and renegotiates as publishers come and go). Forwarding never decodes:
//! each publication's RTP packets go through a broadcast channel to one `TrackLocalStaticRTP`
//! per subscriber, with only the SSRC rewritten.

pub(crate) mod forward;
mod hub;
pub mod metrics;
mod session;

pub use hub::{MediaNotice, RoomMedia};
pub use metrics::SfuMetrics;
pub use session::MediaSession;

use crate::setup::{interceptors, media_engine, peer_connection, AnswerAs, Flow, TransportError};
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
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            bind_ip: IpAddr::from([127, 0, 0, 1]),
            public_ip: None,
            udp_ports: None,
            metrics: Arc::default(),
        }
    }
}

/// Next port to try in the configured range, so consecutive connections spread over it.
static NEXT_PORT: AtomicU32 = AtomicU32::new(0);

/// A peer connection bound per `config`, with the interceptors for `flow` (a publisher's
/// connection receives, with TWCC feedback for the sending client's estimator; a subscriber's
/// sends).
pub(crate) async fn new_peer_connection(
    config: &MediaConfig,
    handler: Arc<dyn PeerConnectionEventHandler>,
    flow: Flow,
) -> Result<Arc<dyn PeerConnection>, TransportError> {
    let ports: Vec<u16> = match config.udp_ports {
        None => vec![0],
        Some((lo, hi)) => {
            let n = u32::from(hi - lo) + 1;
            let start = NEXT_PORT.fetch_add(1, Ordering::Relaxed) % n;
            (0..n).map(|i| lo + ((start + i) % n) as u16).collect()
        }
    };
    let mut last_err = String::from("no port in range");
    for port in ports {
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
