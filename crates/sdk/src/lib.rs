//! A Rust client SDK with the shape of Tencent TRTC's: create a [`TrtcCloud`], register a
//! [`TrtcCloudListener`], fill [`TrtcParams`], call [`TrtcCloud::enter_room`] and react to
//! `on_enter_room`. It talks to this project's room server over WebSocket signalling.
//!
//! ```no_run
//! use std::sync::Arc;
//! use trtc_sdk::{TrtcAppScene, TrtcCloud, TrtcCloudListener, TrtcParams};
//!
//! struct Handler;
//! impl TrtcCloudListener for Handler {
//!     fn on_enter_room(&self, result: i64) {
//!         if result > 0 { println!("Enter room success in {result} ms") }
//!     }
//!     fn on_error(&self, code: i32, msg: &str) { eprintln!("error {code}: {msg}") }
//! }
//!
//! let cloud = TrtcCloud::shared_instance();
//! cloud.add_listener(Arc::new(Handler));
//! let params = TrtcParams {
//!     sdk_app_id: 1400000000,
//!     user_id: "denny".into(),
//!     user_sig: "<from your backend>".into(),
//!     room_id: 123321,
//!     ..Default::default()
//! };
//! cloud.enter_room(&params, TrtcAppScene::VideoCall);
//! ```
//!
//! | module | what lives there |
//! |---|---|
//! | `cloud` | [`TrtcCloud`], [`TrtcCloudConfig`], [`EventStream`] |
//! | `listener` | [`TrtcCloudListener`], TRTC's callbacks with do-nothing defaults |
//! | [`session`] | the room session as a state machine with time passed in |
//! | `driver` | the task that owns the WebSocket and runs the session |
//! | `media` | the media core (a state machine with time passed in) and the shell that runs it |
//!
//! The peer connections themselves are `trtc_rtc::client`'s: only that crate knows WebRTC.
//!
//! Threads: the SDK runs on its own small tokio runtime, so its methods may be called from any
//! thread. Listeners are called from one SDK task, in order; they must not block.

#![warn(missing_docs)]

mod cloud;
pub mod device_manager;
mod driver;
mod listener;
mod media;
mod media_api;
pub mod session;
mod tls;

pub use cloud::{EventStream, TrtcCloud, TrtcCloudConfig, DEFAULT_SERVER_URL};
pub use device_manager::{TxDeviceInfo, TxDeviceManager, TxMediaDeviceType};
pub use listener::TrtcCloudListener;
pub use media::{AudioSink, SourceChoice, VideoView, SYNTHETIC_TONE_HZ};
pub use media_api::ScreenCaptureSource;
pub use session::SessionTiming;
pub use trtc_media::params::{
    TrtcAudioQuality, TrtcResolutionMode, TrtcVideoEncParam, TrtcVideoResolution,
};
pub use trtc_media::sink::frame_channel;
pub use trtc_media::{AudioFrame, VideoFrame};
pub use trtc_protocol::codes;
pub use trtc_protocol::events::{TrtcLocalStatistics, TrtcRemoteStatistics, TrtcStatistics};
pub use trtc_protocol::StreamKind;
pub use trtc_protocol::{RoomId, TrtcAppScene, TrtcEvent, TrtcRole};

/// Room-entry parameters, TRTC's `TRTCParams`: sdkAppId, userId, userSig, roomId or strRoomId,
/// role (live scenes) and privateMapKey.
#[doc(alias = "TRTCParams")]
pub type TrtcParams = trtc_protocol::EntryParams;
