//! H.264 with OpenH264 (built from source). Rate control, keyframe interval and QP range are
//! set explicitly: left to defaults, hard content overshoots the target several times.
//!
//! Frame skipping is off, so OpenH264 warns that it cannot *guarantee* the bitrate: it holds
//! it by quantiser alone, so the QP ceiling is H.264's own (51): with 42 the moving test pattern
//! at 720p30 arrived at 1750 kbps for a 1200 kbps target, with 51 at 1346 kbps (headers and
//! keyframes included; docs/benchmarks.md). A sender over its estimate only queues in the
//! pacer, which hurts more than a coarser picture. Dropping frames is the pipeline's decision.
//!
//! Bitrate changes retune the running encoder (OpenH264's `SetOption(ENCODER_OPTION_BITRATE)`,
//! which the safe wrapper does not offer, hence the crate's one `unsafe`): no rebuild and no
//! keyframe, so the encoder can follow every congestion estimate. Rebuilding cost a keyframe
//! per change, which is why the sender used to follow the estimate only every 2 s.

use super::CodecError;
use crate::frame::VideoFrame;
use crate::params::TrtcVideoEncParam;
use openh264::decoder::Decoder;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, QpRange,
    RateControlMode, UsageType,
};
use openh264::formats::YUVSource;
use openh264::OpenH264API;

/// The periodic keyframe's interval: only a safety net. Whoever needs a keyframe asks (the
/// server for a new subscriber, a receiver after a loss), and a periodic one is a burst no link
/// asked for: OpenH264 codes an IDR coarse and spends the next second of P pictures refining
/// it (640x360: a 16 KB IDR, then 8–11 KB pictures where 1.5 KB had been enough), several times
/// a 300 kbps link for a second. Every 2 s, that alone overran such a link, whatever the
/// congestion controller did.
pub const KEYFRAME_EVERY_SECS: u32 = 10;

/// What the pictures are: it picks OpenH264's tuning (camera or screen content).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentHint {
    /// Camera: natural pictures, motion.
    Camera,
    /// Screen: text and sharp edges, little motion.
    Screen,
}

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct H264Config {
    /// Target bitrate, bits per second.
    pub bitrate_bps: u32,
    /// Frames per second the rate control plans for.
    pub fps: f32,
    /// A keyframe at least every this many frames (receivers that joined late or lost
    /// packets recover within this; PLI asks for one sooner).
    pub keyframe_interval: u32,
    /// Quantiser bounds: the floor caps quality spend on easy pictures, the ceiling keeps hard
    /// ones legible.
    pub qp: (u8, u8),
    /// Camera or screen tuning.
    pub content: ContentHint,
}

impl H264Config {
    /// Settings for a TRTC encoder parameter set: its bitrate and fps, a keyframe every
    /// [`KEYFRAME_EVERY_SECS`], QP 10–51.
    pub fn from_trtc(p: &TrtcVideoEncParam, content: ContentHint) -> Self {
        H264Config {
            bitrate_bps: p.video_bitrate.max(30) * 1000,
            fps: p.video_fps.max(1) as f32,
            keyframe_interval: p.video_fps.max(1) * KEYFRAME_EVERY_SECS,
            qp: (10, 51),
            content,
        }
    }

    fn openh264(&self) -> EncoderConfig {
        EncoderConfig::new()
            .bitrate(BitRate::from_bps(self.bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(self.fps))
            .rate_control_mode(RateControlMode::Bitrate)
            // Never silently drop frames: the pipeline decides what to drop, and receivers
            // count frames to detect loss.
            .skip_frames(false)
            .usage_type(match self.content {
                ContentHint::Camera => UsageType::CameraVideoRealTime,
                ContentHint::Screen => UsageType::ScreenContentRealTime,
            })
            // OpenH264 supports these for camera content only.
            .adaptive_quantization(self.content == ContentHint::Camera)
            .background_detection(self.content == ContentHint::Camera)
            .intra_frame_period(IntraFramePeriod::from_num_frames(self.keyframe_interval))
            .qp(QpRange::new(self.qp.0, self.qp.1))
    }
}

/// One encoded picture, Annex B (start codes), SPS/PPS included before keyframes.
#[derive(Debug, Clone)]
pub struct EncodedVideo {
    /// The access unit.
    pub data: Vec<u8>,
    /// An IDR picture: decodable on its own.
    pub keyframe: bool,
    /// The source frame's capture time, µs since the Unix epoch.
    pub capture_time_us: u64,
}

/// Borrowed view of a [`VideoFrame`] for OpenH264.
struct Planes<'a>(&'a VideoFrame);

impl YUVSource for Planes<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width, self.0.height)
    }
    fn strides(&self) -> (usize, usize, usize) {
        let (cw, _) = self.0.chroma_size();
        (self.0.width, cw, cw)
    }
    fn y(&self) -> &[u8] {
        &self.0.y
    }
    fn u(&self) -> &[u8] {
        &self.0.u
    }
    fn v(&self) -> &[u8] {
        &self.0.v
    }
}

/// An H.264 encoder.
pub struct H264Encoder {
    config: H264Config,
    encoder: Encoder,
    /// The picture size the encoder last saw (`None`: it has not started, or must restart).
    size: Option<(usize, usize)>,
    /// The bitrate the wrapper was built with: it (re)starts the encoder with that one at the
    /// first picture and at every size change, so it is rebuilt first when ours differs.
    built_bps: u32,
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn encoder(config: &H264Config) -> Result<Encoder, CodecError> {
    Encoder::with_api_config(OpenH264API::from_source(), config.openh264())
        .map_err(|e| CodecError::new("h264 encoder", e))
}

impl H264Encoder {
    /// An encoder; the picture size comes from the first frame (and may change later).
    pub fn new(config: H264Config) -> Result<Self, CodecError> {
        Ok(H264Encoder {
            encoder: encoder(&config)?,
            built_bps: config.bitrate_bps,
            config,
            size: None,
        })
    }

    /// The current settings.
    pub fn config(&self) -> &H264Config {
        &self.config
    }

    /// Follows a new target (for example the congestion controller's estimate) from the next
    /// picture on, without a keyframe. Changes under 2 % are not worth a call.
    pub fn set_bitrate(&mut self, bps: u32) {
        let bps = bps.max(MIN_BITRATE_BPS);
        let old = f64::from(self.config.bitrate_bps);
        if (f64::from(bps) - old).abs() / old < 0.02 {
            return;
        }
        self.config.bitrate_bps = bps;
        // One that has not started yet is built with the new rate at its first picture; one
        // that refuses the change is rebuilt (a keyframe) rather than left at the old rate.
        if self.size.is_some() && !retune(&mut self.encoder, bps) {
            self.size = None;
        }
    }

    /// The next picture will be a keyframe (a receiver asked with PLI, or a new subscriber).
    pub fn request_keyframe(&mut self) {
        self.encoder.force_intra_frame();
    }

    /// Encodes one picture. `None` when the encoder produced nothing for it.
    pub fn encode(&mut self, frame: &VideoFrame) -> Result<Option<EncodedVideo>, CodecError> {
        let size = (frame.width, frame.height);
        if self.size != Some(size) && self.built_bps != self.config.bitrate_bps {
            self.encoder = encoder(&self.config)?;
            self.built_bps = self.config.bitrate_bps;
        }
        self.size = Some(size);
        let bits = self
            .encoder
            .encode(&Planes(frame))
            .map_err(|e| CodecError::new("h264 encoder", e))?;
        let keyframe = matches!(bits.frame_type(), FrameType::IDR | FrameType::I);
        if matches!(bits.frame_type(), FrameType::Skip | FrameType::Invalid) {
            return Ok(None);
        }
        let data = bits.to_vec();
        if data.is_empty() {
            return Ok(None);
        }
        Ok(Some(EncodedVideo {
            data,
            keyframe,
            capture_time_us: frame.capture_time_us,
        }))
    }
}

/// The lowest target OpenH264 is given: below it, rate control stops holding the rate.
const MIN_BITRATE_BPS: u32 = 30_000;

/// Sets a running encoder's target bitrate; `false` when OpenH264 refused it.
#[allow(unsafe_code)]
fn retune(encoder: &mut Encoder, bps: u32) -> bool {
    use openh264_sys2::{SBitrateInfo, ENCODER_OPTION_BITRATE, SPATIAL_LAYER_ALL};
    let Ok(bitrate) = i32::try_from(bps) else {
        return false;
    };
    let mut info = SBitrateInfo {
        iLayer: SPATIAL_LAYER_ALL,
        iBitrate: bitrate,
    };
    // SAFETY: the encoder is initialised (it has encoded a picture), and SetOption reads an
    // `SBitrateInfo` for this option, which lives on our stack for the call. The target is not
    // a parameter the wrapper relies on (it keeps its own copy for reinitialising, which
    // `H264Encoder::encode` accounts for).
    let status = unsafe {
        encoder
            .raw_api()
            .set_option(ENCODER_OPTION_BITRATE, std::ptr::from_mut(&mut info).cast())
    };
    status == 0
}

/// An H.264 decoder.
pub struct H264Decoder {
    decoder: Decoder,
}

impl std::fmt::Debug for H264Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Decoder").finish_non_exhaustive()
    }
}

impl H264Decoder {
    /// A decoder.
    pub fn new() -> Result<Self, CodecError> {
        Ok(H264Decoder {
            decoder: Decoder::new().map_err(|e| CodecError::new("h264 decoder", e))?,
        })
    }

    /// Decodes one access unit (Annex B). `None` while the decoder still needs more (for
    /// example, it has not seen a keyframe). Garbage is an error, never a panic.
    pub fn decode(
        &mut self,
        data: &[u8],
        capture_time_us: u64,
    ) -> Result<Option<VideoFrame>, CodecError> {
        let Some(yuv) = self
            .decoder
            .decode(data)
            .map_err(|e| CodecError::new("h264 decoder", e))?
        else {
            return Ok(None);
        };
        let (w, h) = yuv.dimensions();
        let (ys, us, vs) = yuv.strides();
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let copy = |plane: &[u8], stride: usize, width: usize, rows: usize| -> Vec<u8> {
            let mut out = Vec::with_capacity(width * rows);
            for r in 0..rows {
                out.extend_from_slice(&plane[r * stride..r * stride + width]);
            }
            out
        };
        Ok(Some(VideoFrame {
            width: w,
            height: h,
            y: copy(yuv.y(), ys, w, h),
            u: copy(yuv.u(), us, cw, ch),
            v: copy(yuv.v(), vs, cw, ch),
            capture_time_us,
        }))
    }
}
