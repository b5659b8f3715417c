//! Media: raw frames, capture sources, and codecs.
//!
//! | module | what lives there |
//! |---|---|
//! | [`frame`] | [`VideoFrame`] (I420), [`AudioFrame`] (PCM), the capture clock |
//! | [`sink`] | bounded frame channels: a slow consumer drops frames, memory never grows |
//! | [`source`] | the [`VideoSource`] / [`AudioSource`] traits every source implements |
//! | [`synthetic`] | the stamped moving test pattern and the test tone |
//! | [`stamp`] | the capture-time and counter stamp drawn into pictures and read back |
//! | [`camera`] | camera capture (nokhwa, V4L2) and the device list |
//! | [`mic`] | microphone capture (cpal) at 48 kHz in 10 ms frames |
//! | [`screen`] | screen capture (X11 via scrap) and the source list |
//! | [`convert`] | pixel-format conversion (yuvutils-rs) |
//! | [`codec`] | H.264 (OpenH264) and Opus, synchronous, for dedicated media threads |
//! | [`processing`] | echo cancellation, noise suppression, gain control (WebRTC APM) |
//! | [`devices`] | listing and choosing microphones, speakers and cameras (TRTC's device manager) |
//! | [`render`] | decoded pictures scaled to a tile and turned into RGBA for display |
//! | [`params`] | TRTC's `TRTCVideoEncParam`, resolution table, `TRTCAudioQuality` |
//! | [`analysis`] | measurements on decoded media (tone frequency) used by tests and stats |
//!
//! Drive it: start a source with a sink from [`sink::frame_channel`], pull frames on a media
//! thread, encode, hand the bytes to the transport; on the receiving side decode and render.
//! Nothing here touches a network or an async runtime.

#![warn(missing_docs)]

pub mod analysis;
#[cfg(target_os = "linux")]
pub mod camera;
pub mod codec;
pub mod convert;
pub mod devices;
pub mod frame;
pub mod mic;
pub mod params;
pub mod playout;
pub mod processing;
pub mod render;
#[cfg(target_os = "linux")]
pub mod screen;
pub mod sink;
pub mod source;
pub mod stamp;
pub mod synthetic;

pub use frame::{AudioFrame, VideoFrame};
pub use source::{AudioSource, CaptureError, VideoSource};
