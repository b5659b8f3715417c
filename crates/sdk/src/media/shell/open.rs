//! Opening a local source and its encoder: camera, microphone or screen as the instance's
//! sources say (a device, the synthetic pattern or tone, or none). Runs on a blocking thread,
//! since a device can take seconds to open.

use super::local::{EncodedSink, LocalStream};
use super::{ShellInput, Sources};
use crate::media::core::{Input, SourceSpec};
use crate::media::{camera_source, mic_source, SourceChoice};
use tokio::sync::mpsc;
use trtc_media::devices::DeviceType;
use trtc_media::processing::AudioProcessor;
use trtc_media::CaptureError;
use trtc_protocol::StreamKind;

/// What opening needs, moved onto the blocking thread.
pub(super) struct OpenJob {
    pub sources: Sources,
    pub encoded: EncodedSink,
    pub inbox: mpsc::UnboundedSender<ShellInput>,
    pub processor: Option<AudioProcessor>,
}

impl OpenJob {
    pub(super) fn run(self, kind: StreamKind, token: u64, spec: SourceSpec) {
        let OpenJob {
            sources,
            encoded,
            inbox,
            processor,
        } = self;

        let first = {
            let inbox = inbox.clone();
            Box::new(move |width, height| {
                let _ = inbox.send(ShellInput::Core(Input::FirstCaptured {
                    kind,
                    token,
                    width,
                    height,
                }));
            })
        };
        let opened = match spec {
            SourceSpec::Camera { param, view } => {
                let (w, h) = param.encoded_size();
                let device = sources.devices.get(DeviceType::Camera);
                match camera_source(sources.camera, device.as_deref(), w, h, param.video_fps) {
                    Some(source) => {
                        LocalStream::video(kind, token, source, param, view, encoded, first)
                    }
                    None => Err(CaptureError::NoDevice("camera source is none".into())),
                }
            }
            SourceSpec::Mic { quality } => {
                let device = sources.devices.get(DeviceType::Mic);
                match mic_source(sources.mic, device) {
                    // The synthetic tone skips voice processing: noise suppression would
                    // take a steady tone for noise (see trtc_media::processing).
                    Some(source) => {
                        let processor = processor.filter(|_| sources.mic == SourceChoice::Device);
                        LocalStream::audio(token, source, quality, processor, encoded)
                    }
                    None => Err(CaptureError::NoDevice("microphone source is none".into())),
                }
            }
            SourceSpec::Screen {
                target,
                param,
                view,
            } => screen(kind, token, target, param, view, encoded, first),
        };
        let msg = match opened {
            Ok(stream) => ShellInput::Opened {
                kind,
                token,
                stream,
            },
            Err(e) => ShellInput::Core(Input::SourceStarted {
                kind,
                token,
                result: Err(e),
            }),
        };
        let _ = inbox.send(msg);
    }
}

#[cfg(target_os = "linux")]
fn screen(
    kind: StreamKind,
    token: u64,
    target: usize,
    param: trtc_media::params::TrtcVideoEncParam,
    view: Option<crate::media::VideoView>,
    encoded: EncodedSink,
    first: Box<dyn FnOnce(u32, u32) + Send>,
) -> Result<LocalStream, CaptureError> {
    let source = Box::new(trtc_media::screen::ScreenCapture::new(
        None,
        target,
        param.video_fps,
    ));
    LocalStream::video(kind, token, source, param, view, encoded, first)
}

#[cfg(not(target_os = "linux"))]
fn screen(
    _kind: StreamKind,
    _token: u64,
    _target: usize,
    _param: trtc_media::params::TrtcVideoEncParam,
    _view: Option<crate::media::VideoView>,
    _encoded: EncodedSink,
    _first: Box<dyn FnOnce(u32, u32) + Send>,
) -> Result<LocalStream, CaptureError> {
    Err(CaptureError::NoDevice(
        "screen capture is X11-only in this build".into(),
    ))
}
