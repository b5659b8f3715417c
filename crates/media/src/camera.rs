//! Camera capture through nokhwa (V4L2 on Linux), converted to I420 by [`crate::convert`].
//!
//! No camera at all is [`CaptureError::NoDevice`] (TRTC warning 1111); a camera that will not
//! open is [`CaptureError::OpenFailed`] (−1301). MJPEG is preferred (most webcams only reach
//! 720p30 in it), YUYV accepted.

use crate::convert::{mjpeg_to_i420, yuyv_to_i420};
use crate::frame::{now_us, VideoFrame};
use crate::sink::{FrameSink, PushError};
use crate::source::{CaptureError, CaptureThread, VideoSource};
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};
use std::sync::atomic::Ordering;

/// A camera as the device list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraDevice {
    /// What selection refers to.
    pub index: u32,
    /// Human-readable name.
    pub name: String,
}

/// The cameras present; an empty list means none (warning 1111).
pub fn list_cameras() -> Result<Vec<CameraDevice>, CaptureError> {
    let found = nokhwa::query(ApiBackend::Video4Linux)
        .map_err(|e| CaptureError::NoDevice(format!("cameras: {e}")))?;
    Ok(found
        .into_iter()
        .enumerate()
        .map(|(i, c)| CameraDevice {
            index: match c.index() {
                CameraIndex::Index(n) => *n,
                CameraIndex::String(_) => i as u32,
            },
            name: c.human_name(),
        })
        .collect())
}

/// One camera, asked for the format closest to a size and frame rate.
#[derive(Debug)]
pub struct Camera {
    index: u32,
    width: u32,
    height: u32,
    fps: u32,
    thread: CaptureThread,
}

impl Camera {
    /// Camera `index` of [`list_cameras`] at about `width × height` and `fps`.
    pub fn new(index: u32, width: u32, height: u32, fps: u32) -> Self {
        Camera {
            index,
            width,
            height,
            fps,
            thread: CaptureThread::default(),
        }
    }
}

fn open(index: u32, width: u32, height: u32, fps: u32) -> Result<nokhwa::Camera, CaptureError> {
    if list_cameras()?.is_empty() {
        return Err(CaptureError::NoDevice("no camera".into()));
    }
    let wanted = CameraFormat::new(Resolution::new(width, height), FrameFormat::MJPEG, fps);
    let format = RequestedFormat::with_formats(
        RequestedFormatType::Closest(wanted),
        &[FrameFormat::MJPEG, FrameFormat::YUYV],
    );
    let mut camera = nokhwa::Camera::new(CameraIndex::Index(index), format)
        .map_err(|e| CaptureError::OpenFailed(format!("camera {index}: {e}")))?;
    camera
        .open_stream()
        .map_err(|e| CaptureError::OpenFailed(format!("camera {index}: {e}")))?;
    Ok(camera)
}

impl VideoSource for Camera {
    fn start(&mut self, sink: FrameSink<VideoFrame>) -> Result<(), CaptureError> {
        let (index, w, h, fps) = (self.index, self.width, self.height, self.fps);
        self.thread.start(
            "camera",
            move || open(index, w, h, fps),
            move |mut camera, stop| {
                while !stop.load(Ordering::Relaxed) {
                    // frame() blocks until the camera delivers: the camera paces this loop.
                    let buffer = match camera.frame() {
                        Ok(b) => b,
                        Err(e) => {
                            tracing::warn!(error = %e, "camera stopped delivering");
                            break;
                        }
                    };
                    let taken = now_us();
                    let res = buffer.resolution();
                    let (bw, bh) = (res.width() as usize, res.height() as usize);
                    let converted = match buffer.source_frame_format() {
                        FrameFormat::MJPEG => mjpeg_to_i420(buffer.buffer(), taken),
                        FrameFormat::YUYV => yuyv_to_i420(buffer.buffer(), bw, bh, bw * 2, taken),
                        other => {
                            tracing::warn!(format = %other, "camera format not supported");
                            break;
                        }
                    };
                    match converted {
                        Ok(frame) => {
                            if sink.push(frame) == Err(PushError::Closed) {
                                break;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "camera frame dropped"),
                    }
                }
                let _ = camera.stop_stream();
            },
        )
    }

    fn stop(&mut self) {
        self.thread.stop();
    }
}
