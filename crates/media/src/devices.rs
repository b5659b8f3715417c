//! The devices TRTC's device manager lists and selects: microphones and speakers (cpal, so
//! whatever ALSA, PulseAudio or PipeWire offer) and cameras (V4L2 through nokhwa). A device
//! is named by a stable id string: cpal's `host:device` id for audio, the V4L2 index for
//! cameras. `None` as a selection means the system default.

use crate::source::CaptureError;
use cpal::traits::{DeviceTrait, HostTrait};

/// TRTC's `TXMediaDeviceType` (Mic 0, Speaker 1, Camera 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceType {
    /// Microphones.
    Mic = 0,
    /// Speakers and headphones.
    Speaker = 1,
    /// Cameras.
    Camera = 2,
}

impl DeviceType {
    /// From TRTC's number.
    pub fn from_number(n: i32) -> Option<DeviceType> {
        match n {
            0 => Some(DeviceType::Mic),
            1 => Some(DeviceType::Speaker),
            2 => Some(DeviceType::Camera),
            _ => None,
        }
    }

    /// TRTC's number for the type (the inverse of [`DeviceType::from_number`]).
    pub fn number(self) -> i32 {
        match self {
            DeviceType::Mic => 0,
            DeviceType::Speaker => 1,
            DeviceType::Camera => 2,
        }
    }
}

/// One device (`TXDeviceInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// What selection refers to; stable across runs where the system allows.
    pub device_id: String,
    /// Human-readable name.
    pub device_name: String,
    /// The system's default for its type.
    pub is_default: bool,
}

/// Device buffer requested for microphones and speakers, in frames at 48 kHz: 20 ms.
///
/// cpal's default on ALSA is 2048 frames with a sound-server buffer of ~85 ms behind it
/// (measured through PulseAudio's ALSA plugin); a call cannot afford that on both ends. 20 ms
/// brings PulseAudio's buffer to ~13 ms and still leaves a loaded 2-core machine a whole
/// callback period of slack.
pub const AUDIO_BUFFER_FRAMES: u32 = 960;

/// `supported`'s config with [`AUDIO_BUFFER_FRAMES`] asked for where the device allows it,
/// its own default where it does not say or cannot.
pub fn low_latency_config(supported: &cpal::SupportedStreamConfig) -> cpal::StreamConfig {
    let mut config = supported.config();
    if let cpal::SupportedBufferSize::Range { min, max } = supported.buffer_size() {
        if (*min..=*max).contains(&AUDIO_BUFFER_FRAMES) {
            config.buffer_size = cpal::BufferSize::Fixed(AUDIO_BUFFER_FRAMES);
        }
    }
    config
}

fn audio_info(device: &cpal::Device, default_id: Option<&str>) -> Option<DeviceInfo> {
    let id = device.id().ok()?.to_string();
    let name = device
        .description()
        .map(|d| d.to_string())
        .unwrap_or_else(|_| id.clone());
    Some(DeviceInfo {
        is_default: default_id == Some(id.as_str()),
        device_id: id,
        device_name: name,
    })
}

/// The devices of `kind` present now, the default first. Empty when there are none.
pub fn list(kind: DeviceType) -> Result<Vec<DeviceInfo>, CaptureError> {
    let mut devices = match kind {
        #[cfg(target_os = "linux")]
        DeviceType::Camera => crate::camera::list_cameras()?
            .into_iter()
            .enumerate()
            .map(|(i, c)| DeviceInfo {
                device_id: c.index.to_string(),
                device_name: c.name,
                is_default: i == 0,
            })
            .collect(),
        #[cfg(not(target_os = "linux"))]
        DeviceType::Camera => Vec::new(),
        DeviceType::Mic | DeviceType::Speaker => {
            let host = cpal::default_host();
            let (default, all) = if kind == DeviceType::Mic {
                (host.default_input_device(), host.input_devices())
            } else {
                (host.default_output_device(), host.output_devices())
            };
            let default_id = default.and_then(|d| d.id().ok()).map(|id| id.to_string());
            all.map_err(|e| CaptureError::NoDevice(format!("audio devices: {e}")))?
                .filter_map(|d| audio_info(&d, default_id.as_deref()))
                .collect::<Vec<_>>()
        }
    };
    devices.sort_by_key(|d| !d.is_default);
    Ok(devices)
}

/// The input device `id` names (`None`: the default).
pub(crate) fn input_device(id: Option<&str>) -> Result<cpal::Device, CaptureError> {
    device(
        id,
        "microphone",
        cpal::traits::HostTrait::default_input_device,
    )
}

/// The output device `id` names (`None`: the default).
pub(crate) fn output_device(id: Option<&str>) -> Result<cpal::Device, CaptureError> {
    device(
        id,
        "speaker",
        cpal::traits::HostTrait::default_output_device,
    )
}

fn device(
    id: Option<&str>,
    what: &str,
    default: fn(&cpal::Host) -> Option<cpal::Device>,
) -> Result<cpal::Device, CaptureError> {
    let host = cpal::default_host();
    match id {
        None => default(&host).ok_or_else(|| CaptureError::NoDevice(format!("no {what}"))),
        Some(id) => {
            find(&host, id).ok_or_else(|| CaptureError::NoDevice(format!("no {what} {id:?}")))
        }
    }
}

fn find(host: &cpal::Host, id: &str) -> Option<cpal::Device> {
    host.device_by_id(&id.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trtc_numbers_map_to_types() {
        assert_eq!(DeviceType::from_number(0), Some(DeviceType::Mic));
        assert_eq!(DeviceType::from_number(1), Some(DeviceType::Speaker));
        assert_eq!(DeviceType::from_number(2), Some(DeviceType::Camera));
        assert_eq!(DeviceType::from_number(-1), None);
        assert_eq!(DeviceType::Camera as i32, 2);
    }

    #[test]
    fn an_unknown_audio_device_is_a_clear_error() {
        for id in ["alsa:no-such-device-here", "not an id"] {
            let err = input_device(Some(id)).unwrap_err();
            assert!(
                matches!(err, CaptureError::NoDevice(ref m) if m.contains(id)),
                "{err}"
            );
        }
    }
}
