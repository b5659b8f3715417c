//! TRTC's encoding parameters (reference §3.2–§3.3): resolutions with their recommended
//! bitrates, `TRTCVideoEncParam`, and `TRTCAudioQuality`.

/// `TRTCVideoResolution`: landscape sizes with TRTC's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[doc(alias = "TRTCVideoResolution")]
#[allow(missing_docs)] // the names are the sizes
pub enum TrtcVideoResolution {
    R120x120 = 1,
    R160x160 = 3,
    R270x270 = 5,
    R480x480 = 7,
    R160x120 = 50,
    R240x180 = 52,
    R280x210 = 54,
    R320x240 = 56,
    R400x300 = 58,
    R480x360 = 60,
    R640x480 = 62,
    R960x720 = 64,
    R160x90 = 100,
    R256x144 = 102,
    R320x180 = 104,
    R480x270 = 106,
    R640x360 = 108,
    R960x540 = 110,
    R1280x720 = 112,
    R1920x1080 = 114,
}

/// (resolution, width, height, recommended kbps in VideoCall, in LIVE), from TRTC's docs.
const TABLE: [(TrtcVideoResolution, u32, u32, u32, u32); 20] = {
    use TrtcVideoResolution::*;
    [
        (R120x120, 120, 120, 80, 120),
        (R160x160, 160, 160, 100, 150),
        (R270x270, 270, 270, 200, 120),
        (R480x480, 480, 480, 350, 120),
        (R160x120, 160, 120, 100, 150),
        (R240x180, 240, 180, 150, 225),
        (R280x210, 280, 210, 200, 300),
        (R320x240, 320, 240, 250, 375),
        (R400x300, 400, 300, 300, 450),
        (R480x360, 480, 360, 400, 600),
        (R640x480, 640, 480, 600, 900),
        (R960x720, 960, 720, 1000, 1500),
        (R160x90, 160, 90, 150, 250),
        (R256x144, 256, 144, 200, 300),
        (R320x180, 320, 180, 250, 400),
        (R480x270, 480, 270, 350, 550),
        (R640x360, 640, 360, 550, 900),
        (R960x540, 960, 540, 850, 1300),
        (R1280x720, 1280, 720, 1200, 1800),
        (R1920x1080, 1920, 1080, 2000, 3000),
    ]
};

impl TrtcVideoResolution {
    fn row(self) -> (TrtcVideoResolution, u32, u32, u32, u32) {
        // Every variant has a row; the fallback is unreachable by construction.
        TABLE
            .iter()
            .copied()
            .find(|r| r.0 == self)
            .unwrap_or(TABLE[16])
    }

    /// Landscape width and height.
    pub fn size(self) -> (u32, u32) {
        let r = self.row();
        (r.1, r.2)
    }

    /// TRTC's recommended bitrate in kbps for a call (`live == false`) or live scene.
    pub fn recommended_kbps(self, live: bool) -> u32 {
        let r = self.row();
        if live {
            r.4
        } else {
            r.3
        }
    }

    /// The resolution of a landscape size, as `WIDTHxHEIGHT` names it (`1280x720`).
    pub fn from_size(width: u32, height: u32) -> Option<Self> {
        TABLE
            .iter()
            .find(|r| (r.1, r.2) == (width, height))
            .map(|r| r.0)
    }

    /// The resolution with TRTC's numeric id.
    pub fn from_id(id: u32) -> Option<Self> {
        TABLE.iter().find(|r| r.0 as u32 == id).map(|r| r.0)
    }
}

/// Landscape or portrait (`TRTCVideoResolutionMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrtcResolutionMode {
    /// Width ≥ height.
    #[default]
    Landscape = 0,
    /// Height > width.
    Portrait = 1,
}

/// `TRTCVideoEncParam`. Defaults are the C++ SDK's: 640x360, landscape, 15 fps, 550 kbps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(alias = "TRTCVideoEncParam")]
pub struct TrtcVideoEncParam {
    /// Picture size.
    pub video_resolution: TrtcVideoResolution,
    /// Orientation.
    pub res_mode: TrtcResolutionMode,
    /// Frames per second.
    pub video_fps: u32,
    /// Target bitrate, kbps.
    pub video_bitrate: u32,
    /// Floor for adaptation, kbps; 0 lets the SDK choose.
    pub min_video_bitrate: u32,
    /// Allow lowering resolution on a weak network.
    pub enable_adjust_res: bool,
}

impl Default for TrtcVideoEncParam {
    fn default() -> Self {
        TrtcVideoEncParam {
            video_resolution: TrtcVideoResolution::R640x360,
            res_mode: TrtcResolutionMode::Landscape,
            video_fps: 15,
            video_bitrate: 550,
            min_video_bitrate: 0,
            enable_adjust_res: false,
        }
    }
}

impl TrtcVideoEncParam {
    /// Encoded width and height: the resolution in its orientation, aligned down to width % 8
    /// and height % 2 as TRTC does since v11.5 (540x960 → 536x960).
    pub fn encoded_size(&self) -> (usize, usize) {
        let (w, h) = self.video_resolution.size();
        let (w, h) = match self.res_mode {
            TrtcResolutionMode::Landscape => (w, h),
            TrtcResolutionMode::Portrait => (h, w),
        };
        ((w & !7) as usize, (h & !1) as usize)
    }

    /// The adaptation floor in kbps: the given one, else 60 % of the target ("clarity first").
    pub fn min_kbps(&self) -> u32 {
        if self.min_video_bitrate > 0 {
            self.min_video_bitrate.min(self.video_bitrate)
        } else {
            self.video_bitrate * 6 / 10
        }
    }
}

/// `TRTCAudioQuality`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[doc(alias = "TRTCAudioQuality")]
pub enum TrtcAudioQuality {
    /// 16 kHz mono, 16 kbps.
    Speech = 1,
    /// 48 kHz mono, 50 kbps.
    #[default]
    Default = 2,
    /// 48 kHz stereo full band, 128 kbps.
    Music = 3,
}

impl TrtcAudioQuality {
    /// (sample rate, channels, bitrate in bps).
    pub fn format(self) -> (u32, u16, u32) {
        match self {
            TrtcAudioQuality::Speech => (16_000, 1, 16_000),
            TrtcAudioQuality::Default => (48_000, 1, 50_000),
            TrtcAudioQuality::Music => (48_000, 2, 128_000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_reference() {
        assert_eq!(TrtcVideoResolution::R1280x720.size(), (1280, 720));
        assert_eq!(TrtcVideoResolution::R1280x720.recommended_kbps(false), 1200);
        assert_eq!(TrtcVideoResolution::R1920x1080.recommended_kbps(true), 3000);
        assert_eq!(
            TrtcVideoResolution::from_id(108),
            Some(TrtcVideoResolution::R640x360)
        );
        assert_eq!(TrtcVideoResolution::from_id(109), None);
        let p = TrtcVideoEncParam {
            video_resolution: TrtcVideoResolution::R960x540,
            res_mode: TrtcResolutionMode::Portrait,
            ..Default::default()
        };
        assert_eq!(p.encoded_size(), (536, 960));
        assert_eq!(TrtcVideoEncParam::default().min_kbps(), 330);
    }
}
