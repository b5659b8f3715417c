//! The vocabulary every part of the product shares: room IDs and their rules, scenes and roles
//! with TRTC's numbers, the room-entry checks in the contract's order, the signalling messages,
//! the SDK's event lines and TRTC's error codes. No I/O, so the SDK, the room server, the bot and
//! the app agree by construction.
//!
//! | module | what lives there |
//! |---|---|
//! | [`ids`] | [`RoomId`], user-ID rules, [`TrtcAppScene`], [`TrtcRole`] |
//! | [`entry`] | [`EntryParams`] (TRTCParams) and [`validate`], the checks that need no server |
//! | [`messages`] | [`ClientMessage`] / [`ServerMessage`], JSON over WebSocket |
//! | [`events`] | [`TrtcEvent`], the event lines of room-bot and the UI |
//! | [`codes`] | TRTC error and warning codes and their messages |
//! | [`close`] | the WebSocket close codes the server sends |
//! | [`limits`] | per-room limits of TRTC's scenes |

#![warn(missing_docs)]

pub mod close;
pub mod codes;
pub mod entry;
pub mod events;
pub mod ids;
pub mod limits;
pub mod messages;
pub mod rtp;

pub use entry::{validate, EntryError, EntryField, EntryParams};
pub use events::{TrtcEvent, TrtcLocalStatistics, TrtcRemoteStatistics, TrtcStatistics};
pub use ids::{RoomId, TrtcAppScene, TrtcRole};
pub use messages::{ClientMessage, MediaState, ServerMessage, SessionInfo, PROTOCOL_VERSION};
pub use rtp::StreamKind;
