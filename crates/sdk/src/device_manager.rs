//! TRTC's device manager (`getDeviceManager()` → `TXDeviceManager`): list the microphones,
//! speakers and cameras, choose one, ask which is chosen. A choice made in a call takes effect
//! at once (the running device is reopened); before a call it applies when the device opens.

use crate::cloud::TrtcCloud;
use crate::media::{DeviceSelection, MediaCommand};
use trtc_media::devices;

pub use trtc_media::devices::DeviceType as TxMediaDeviceType;

/// One device (`TXDeviceInfo`): `device_id` is what [`TxDeviceManager::set_current_device`]
/// takes.
pub type TxDeviceInfo = devices::DeviceInfo;

/// `setCurrentDevice`'s refusal: no such device of that type (TRTC's generic "invalid
/// parameter").
pub const ERR_DEVICE_NOT_FOUND: i32 = trtc_protocol::codes::ERR_INVALID_PARAMETER;

/// A handle on the device manager of one [`TrtcCloud`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct TxDeviceManager {
    cloud: TrtcCloud,
    selection: DeviceSelection,
}

impl TrtcCloud {
    /// The device manager.
    #[doc(alias = "getDeviceManager")]
    pub fn get_device_manager(&self) -> TxDeviceManager {
        TxDeviceManager {
            cloud: self.clone(),
            selection: self.device_selection(),
        }
    }
}

impl TxDeviceManager {
    /// The devices of `kind` present now, the system default first; an error says why the
    /// system could not be asked.
    #[doc(alias = "getDevicesList")]
    pub fn get_devices_list(&self, kind: TxMediaDeviceType) -> Result<Vec<TxDeviceInfo>, String> {
        devices::list(kind).map_err(|e| e.to_string())
    }

    /// Chooses the device `device_id` of `kind`: 0, or [`ERR_DEVICE_NOT_FOUND`] when no such
    /// device is present (the choice stays as it was).
    #[doc(alias = "setCurrentDevice")]
    pub fn set_current_device(&self, kind: TxMediaDeviceType, device_id: &str) -> i32 {
        let present = self
            .get_devices_list(kind)
            .map(|list| list.iter().any(|d| d.device_id == device_id))
            .unwrap_or(false);
        if !present {
            return ERR_DEVICE_NOT_FOUND;
        }
        self.selection.set(kind, device_id.to_string());
        self.cloud.media(MediaCommand::DeviceChanged(kind));
        0
    }

    /// The device of `kind` in use: the chosen one, else the system default (`None` when
    /// there is no device of that type).
    #[doc(alias = "getCurrentDevice")]
    pub fn get_current_device(&self, kind: TxMediaDeviceType) -> Option<TxDeviceInfo> {
        let list = self.get_devices_list(kind).ok()?;
        let current = self.current_in(kind, &list)?;
        list.into_iter().find(|d| d.device_id == current)
    }

    /// [`get_devices_list`](Self::get_devices_list) and the id of the device in use, from one
    /// enumeration (each takes the system a noticeable moment).
    pub fn get_devices_list_with_current(
        &self,
        kind: TxMediaDeviceType,
    ) -> Result<(Vec<TxDeviceInfo>, Option<String>), String> {
        let list = self.get_devices_list(kind)?;
        let current = self.current_in(kind, &list);
        Ok((list, current))
    }

    fn current_in(&self, kind: TxMediaDeviceType, list: &[TxDeviceInfo]) -> Option<String> {
        let found = match self.selection.get(kind) {
            Some(id) => list.iter().find(|d| d.device_id == id),
            None => list.iter().find(|d| d.is_default),
        };
        found.map(|d| d.device_id.clone())
    }
}
