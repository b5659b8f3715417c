//! The client's two peer connections, as docs/protocol.md describes: a [`Publisher`] the
//! client offers with three send-only tracks (audio, camera, screen), and a [`Subscriber`] the
//! server offers and renegotiates as publishers come and go.
//!
//! Everything crossing this boundary is codec data and plain numbers: encoded access units in,
//! reassembled access units out, counters, and [`PeerEvent`]s tagged with the connection they
//! are about (a connection replaced by a new one may still report its end).

pub(crate) mod assembler;
mod h264;
mod overrun;
mod pacer;
mod publisher;
mod ramp;
mod repair_wait;
mod resend_budget;
mod rtt;
mod stale;
mod subscriber;

pub use publisher::{Publisher, PublisherStats, SentCounters};
pub use subscriber::{CountersReader, ReceiveCounters, RemoteFrame, Subscriber};

use crate::setup::LinkState;
use std::net::IpAddr;
use trtc_protocol::rtp::StreamKind;

/// Which of the two connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnRole {
    /// Ours to the server.
    Publisher,
    /// The server's to us.
    Subscriber,
}

/// What a connection tells its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent {
    /// Connection `conn` (see [`Publisher::id`], [`Subscriber::id`]) changed state.
    Link {
        /// Which connection.
        conn: u64,
        /// Publisher or subscriber.
        role: ConnRole,
        /// Its new state.
        state: LinkState,
    },
    /// A keyframe of this local stream is wanted: the server asked (for one of its
    /// subscribers), or the pacer dropped the stream's stale pictures.
    KeyframeRequested(StreamKind),
    /// The congestion controller's target fell to `bps` (by more than
    /// [`TARGET_FELL_BY`] since the last one told): the encoders must follow before the next
    /// statistics snapshot, or they keep overrunning the link meanwhile.
    TargetFell {
        /// The publisher connection.
        conn: u64,
        /// The new target, bits per second.
        bps: u64,
    },
}

/// A fall of the target by this share is told at once ([`PeerEvent::TargetFell`]).
pub const TARGET_FELL_BY: f64 = 0.1;

/// The local address media binds: the one the OS routes to the signalling server through, so
/// host candidates are reachable from it (loopback for a local server).
pub fn local_ip_towards(server: IpAddr) -> IpAddr {
    let probe = || -> std::io::Result<IpAddr> {
        let unspecified: IpAddr = if server.is_ipv4() {
            IpAddr::from([0, 0, 0, 0])
        } else {
            IpAddr::from([0u16; 8])
        };
        let s = std::net::UdpSocket::bind((unspecified, 0))?;
        s.connect((server, 9))?;
        Ok(s.local_addr()?.ip())
    };
    probe().unwrap_or(IpAddr::from([127, 0, 0, 1]))
}
