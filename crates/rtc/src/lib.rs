//! The one crate that depends on the WebRTC library (`webrtc`/`rtc` 0.21): everything about peer
//! connections that the SDK and the room server share, and each one's half of them. Nothing
//! WebRTC-typed crosses its API: encoded access units, SDP text, user ids and
//! [`trtc_protocol::StreamKind`]s, counters and [`LinkState`]s. Upgrading or replacing the
//! library touches this crate only (scripts/check-boundaries.sh keeps it so).
//!
//! | module | what lives there |
//! |---|---|
//! | [`setup`] | codecs, interceptors and their tuning, ICE timing, the SDP facts both ends read |
//! | [`client`] | the SDK's [`client::Publisher`] and [`client::Subscriber`], access-unit reassembly |
//! | [`sfu`] | the server's forwarding: a room's [`sfu::RoomMedia`], each member's [`sfu::MediaSession`] |
//!
//! Both halves run on tokio and never block: a call that negotiates awaits the library, and
//! the SDP it returns is complete (candidates gathered, no trickle).

#![warn(missing_docs)]

pub mod client;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod setup;
pub mod sfu;

pub use setup::{advertise, ice_ufrag, LinkState, TransportError};
