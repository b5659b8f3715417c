//! Screen capture on X11 through scrap (MIT-SHM), converted to I420.
//!
//! scrap reports no error when the X server cannot serve shared-memory images: it would hand out
//! black pictures forever. So the source first asks the server (with x11rb, safe Rust) for the
//! MIT-SHM extension and refuses to start without it; the SDK reports that as −1308.
//!
//! The source list is an API of its own ([`list_screens`] → [`ScreenSourceInfo`] → select by
//! index) so that a backend whose OS picks the source (Wayland's portal) can list a single
//! "system picker" entry without changing callers.

use crate::convert::bgra_to_i420;
use crate::frame::{now_us, VideoFrame};
use crate::sink::{FrameSink, PushError};
use crate::source::{pace, CaptureError, CaptureThread, VideoSource};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use x11rb::connection::RequestConnection;

/// What kind of thing a source captures (`TRTCScreenCaptureSourceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenSourceKind {
    /// A window (not offered by this backend yet).
    Window = 0,
    /// A whole screen (monitor).
    Screen = 1,
}

/// One capturable source (`TRTCScreenCaptureSourceInfo`), screens first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenSourceInfo {
    /// Window or screen.
    pub kind: ScreenSourceKind,
    /// Position in the list; what selection refers to.
    pub source_id: usize,
    /// Human-readable name.
    pub source_name: String,
    /// The primary monitor.
    pub is_main_screen: bool,
    /// Position and size on the X screen.
    pub x: i32,
    /// Position on the X screen.
    pub y: i32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Runs `connect` up to five times, 100 ms apart: X connection setup fails transiently on a
/// busy machine right after another client connected (seen both as xcb's "Generic" and as
/// x11rb's early EOF while the server was fine).
fn connect_with_retry<T, E: std::fmt::Debug>(
    mut connect: impl FnMut() -> Result<T, E>,
) -> Result<T, CaptureError> {
    let mut attempt = 0;
    loop {
        match connect() {
            Ok(c) => return Ok(c),
            Err(e) if attempt >= 4 => {
                return Err(CaptureError::NoDevice(format!(
                    "no X display to capture: {e:?}"
                )))
            }
            Err(_) => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

/// Connects to `display` (`None`: `$DISPLAY`) and checks MIT-SHM.
fn preflight(display: Option<&str>) -> Result<(), CaptureError> {
    let (conn, _) = connect_with_retry(|| x11rb::connect(display))?;
    let shm = conn
        .extension_information("MIT-SHM")
        .map_err(|e| CaptureError::OpenFailed(format!("X server did not answer: {e}")))?;
    if shm.is_none() {
        return Err(CaptureError::OpenFailed(
            "the X server has no MIT-SHM extension, which screen capture needs".into(),
        ));
    }
    Ok(())
}

fn server(display: Option<&str>) -> Result<std::rc::Rc<scrap::x11::Server>, CaptureError> {
    let name = display
        .map(|d| {
            std::ffi::CString::new(d)
                .map_err(|_| CaptureError::NoDevice(format!("bad display name {d:?}")))
        })
        .transpose()?;
    connect_with_retry(|| match &name {
        Some(n) => scrap::x11::Server::connect(n.as_ptr()),
        None => scrap::x11::Server::default(),
    })
    .map(std::rc::Rc::new)
}

/// The screens of `display` (`None`: `$DISPLAY`), primary first. Listing needs only the X
/// connection; whether capture can work (MIT-SHM) is checked when it starts, as TRTC reports
/// a capture failure from startScreenCapture rather than from the source list.
pub fn list_screens(display: Option<&str>) -> Result<Vec<ScreenSourceInfo>, CaptureError> {
    let server = server(display)?;
    let mut screens: Vec<ScreenSourceInfo> = scrap::x11::Server::displays(server)
        .map(|d| {
            let r = d.rect();
            (d.is_default(), r)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|(primary, r)| ScreenSourceInfo {
            kind: ScreenSourceKind::Screen,
            source_id: 0,
            source_name: String::new(),
            is_main_screen: primary,
            x: r.x.into(),
            y: r.y.into(),
            width: r.w.into(),
            height: r.h.into(),
        })
        .collect();
    // Screens come first, the primary one leading (TRTC's order).
    screens.sort_by_key(|s| !s.is_main_screen);
    // Servers that flag no monitor as primary (Xvfb, some single-monitor setups): the first is.
    if !screens.iter().any(|s| s.is_main_screen) {
        if let Some(first) = screens.first_mut() {
            first.is_main_screen = true;
        }
    }
    for (i, s) in screens.iter_mut().enumerate() {
        s.source_id = i;
        s.source_name = format!("Screen {} ({}x{})", i + 1, s.width, s.height);
    }
    if screens.is_empty() {
        return Err(CaptureError::NoDevice(
            "the X server reports no monitor".into(),
        ));
    }
    Ok(screens)
}

/// Captures one screen at a frame rate.
#[derive(Debug)]
pub struct ScreenCapture {
    display: Option<String>,
    source_id: usize,
    fps: u32,
    thread: CaptureThread,
}

impl ScreenCapture {
    /// Source `source_id` of [`list_screens`] on `display` (`None`: `$DISPLAY`) at `fps`.
    pub fn new(display: Option<String>, source_id: usize, fps: u32) -> Self {
        ScreenCapture {
            display,
            source_id,
            fps: fps.max(1),
            thread: CaptureThread::default(),
        }
    }
}

/// Opens scrap's capturer for the monitor `wanted` describes (on the capture thread: scrap's
/// X11 types are not `Send`).
fn open(
    display: Option<&str>,
    wanted: &ScreenSourceInfo,
) -> Result<scrap::x11::Capturer, CaptureError> {
    let d = scrap::x11::Server::displays(server(display)?)
        .find(|d| {
            let r = d.rect();
            (
                i32::from(r.x),
                i32::from(r.y),
                u32::from(r.w),
                u32::from(r.h),
            ) == (wanted.x, wanted.y, wanted.width, wanted.height)
        })
        .ok_or_else(|| CaptureError::NoDevice("the screen went away".into()))?;
    scrap::x11::Capturer::new(d).map_err(|e| CaptureError::OpenFailed(e.to_string()))
}

impl VideoSource for ScreenCapture {
    fn start(&mut self, sink: FrameSink<VideoFrame>) -> Result<(), CaptureError> {
        preflight(self.display.as_deref())?;
        let wanted = list_screens(self.display.as_deref())?
            .get(self.source_id)
            .cloned()
            .ok_or_else(|| CaptureError::NoDevice(format!("no screen {}", self.source_id)))?;
        let (display, fps) = (self.display.clone(), self.fps);
        let (w, h) = (wanted.width as usize, wanted.height as usize);
        self.thread.start(
            "screen-capture",
            move || open(display.as_deref(), &wanted),
            move |mut capturer, stop| {
                let period = Duration::from_secs(1) / fps;
                let start = Instant::now();
                // X11 answers the previous request: the first image is empty.
                let _ = capturer.frame();
                let mut tick = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let taken = now_us();
                    match bgra_to_i420(capturer.frame(), w, h, w * 4, taken) {
                        Ok(frame) => {
                            if sink.push(frame) == Err(PushError::Closed) {
                                break;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "screen frame dropped"),
                    }
                    tick += 1;
                    pace(start, tick, period);
                }
            },
        )
    }

    fn stop(&mut self) {
        self.thread.stop();
    }
}
