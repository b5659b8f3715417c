//! Media in the SDK: a sans-IO core that decides ([`core`]), and a thin shell that runs its
//! decisions ([`shell`]): local capture and encoding, the two connections (through `trtc_rtc`,
//! the one crate on the WebRTC library), remote decoding and playout.

pub(crate) mod core;
mod shell;

pub(crate) use self::core::{MediaCommand, RoomChange};
pub(crate) use shell::{spawn, MediaHandle, Sources};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use trtc_media::devices::DeviceType;
use trtc_media::sink::FrameSink;
use trtc_media::synthetic::{SyntheticAudio, SyntheticVideo};
use trtc_media::{AudioFrame, AudioSource, VideoFrame, VideoSource};

/// Where a view's pictures go: a bounded channel the app reads (it drops rather than queues
/// when the app falls behind).
pub type VideoView = FrameSink<VideoFrame>;
/// Where a remote user's decoded audio goes (48 kHz mono, 20 ms frames).
pub type AudioSink = FrameSink<AudioFrame>;

/// Which source a local stream uses. `Synthetic` is the test pattern (with a readable frame
/// counter and capture time) or a 440 Hz tone: for machines without devices, and for
/// measuring delay end to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceChoice {
    /// The system's device.
    #[default]
    Device,
    /// The test pattern or tone.
    Synthetic,
    /// None: starting this stream fails as if there were no device.
    None,
}

impl std::str::FromStr for SourceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "device" => Ok(SourceChoice::Device),
            "synthetic" => Ok(SourceChoice::Synthetic),
            "none" => Ok(SourceChoice::None),
            _ => Err(format!("{s:?}: expected synthetic, device or none")),
        }
    }
}

/// The devices the device manager chose, shared by it (writes) and the controller (reads when
/// it opens a device). `None` for a type: the system default.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeviceSelection(Arc<Mutex<HashMap<DeviceType, String>>>);

impl DeviceSelection {
    pub(crate) fn get(&self, kind: DeviceType) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&kind)
            .cloned()
    }

    pub(crate) fn set(&self, kind: DeviceType, id: String) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(kind, id);
    }
}

/// The frequency of the synthetic tone.
pub const SYNTHETIC_TONE_HZ: f32 = 440.0;

pub(crate) fn camera_source(
    choice: SourceChoice,
    device: Option<&str>,
    width: usize,
    height: usize,
    fps: u32,
) -> Option<Box<dyn VideoSource>> {
    match choice {
        SourceChoice::Synthetic => Some(Box::new(SyntheticVideo::new(width, height, fps))),
        #[cfg(target_os = "linux")]
        SourceChoice::Device => Some(Box::new(trtc_media::camera::Camera::new(
            device.and_then(|d| d.parse().ok()).unwrap_or(0),
            width as u32,
            height as u32,
            fps,
        ))),
        _ => None,
    }
}

pub(crate) fn mic_source(
    choice: SourceChoice,
    device: Option<String>,
) -> Option<Box<dyn AudioSource>> {
    match choice {
        SourceChoice::Synthetic => {
            Some(Box::new(SyntheticAudio::new(SYNTHETIC_TONE_HZ, 48_000, 1)))
        }
        SourceChoice::Device => Some(Box::new(trtc_media::mic::Microphone::with_device(device))),
        SourceChoice::None => None,
    }
}
