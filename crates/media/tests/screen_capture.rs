//! Screen capture of a real X server (Xvfb, started here): a red window on screen arrives as
//! red I420 pictures; an X server without MIT-SHM is refused with a reason instead of yielding
//! black pictures; no X server at all is a clear error.

// Test support: a panic here is a failed test, with the message unwrap gives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use trtc_media::screen::{list_screens, ScreenCapture};
use trtc_media::sink::frame_channel;
use trtc_media::{CaptureError, VideoSource};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, WindowClass};

struct Xvfb {
    child: Child,
    name: String,
}

impl Xvfb {
    /// An Xvfb on a display number it picks itself (`-displayfd`), so parallel tests never race
    /// for the same one.
    fn start(extra: &[&str]) -> Xvfb {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "640x480x24",
                "-nolisten",
                "tcp",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb runs (scripts/setup.sh installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let n: u32 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("Xvfb said {line:?}"));
        Xvfb {
            child,
            name: format!(":{n}"),
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn captures_what_is_on_screen() {
    let x = Xvfb::start(&[]);
    let screens = list_screens(Some(&x.name)).unwrap();
    assert_eq!(screens.len(), 1);
    assert!(screens[0].is_main_screen);
    assert_eq!((screens[0].width, screens[0].height), (640, 480));

    // Put a red window over the whole screen. A loaded machine's Xvfb sometimes drops a
    // connection during setup right after another client connected: retry briefly.
    let (conn, n) = (0..5)
        .find_map(|_| {
            x11rb::connect(Some(&x.name))
                .map_err(|_| std::thread::sleep(Duration::from_millis(100)))
                .ok()
        })
        .expect("an X connection within five tries");
    let root = conn.setup().roots[n].root;
    let win = conn.generate_id().unwrap();
    let aux = CreateWindowAux::new()
        .background_pixel(0x00ff_0000)
        .override_redirect(1);
    conn.create_window(
        0,
        win,
        root,
        0,
        0,
        640,
        480,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &aux,
    )
    .unwrap();
    conn.map_window(win).unwrap();
    conn.clear_area(false, win, 0, 0, 0, 0).unwrap();
    conn.flush().unwrap();

    let (sink, rx) = frame_channel(8);
    let mut cap = ScreenCapture::new(Some(x.name.clone()), 0, 15);
    cap.start(sink).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = None;
    while Instant::now() < deadline {
        let f = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("frames keep coming");
        assert_eq!((f.width, f.height), (640, 480));
        let centre = (
            f.y[240 * 640 + 320],
            f.u[120 * 320 + 160],
            f.v[120 * 320 + 160],
        );
        last = Some(centre);
        // BT.601 limited red: Y 81, U 90, V 240.
        if centre.0.abs_diff(81) <= 4 && centre.1.abs_diff(90) <= 4 && centre.2.abs_diff(240) <= 4 {
            cap.stop();
            return;
        }
    }
    panic!("never saw the red window; last centre pixel {last:?}");
}

#[test]
fn an_x_server_without_mit_shm_lists_its_screen_but_refuses_capture_with_a_reason() {
    let x = Xvfb::start(&["-extension", "MIT-SHM"]);
    // The picker still offers the screen; the failure belongs to starting the capture.
    assert_eq!(list_screens(Some(&x.name)).unwrap().len(), 1);
    let (sink, _rx) = frame_channel(1);
    let err = ScreenCapture::new(Some(x.name.clone()), 0, 15)
        .start(sink)
        .unwrap_err();
    assert!(
        matches!(&err, CaptureError::OpenFailed(m) if m.contains("MIT-SHM")),
        "{err}"
    );
}

#[test]
fn no_x_server_is_a_clear_error() {
    let err = list_screens(Some(":4999")).unwrap_err();
    assert!(matches!(err, CaptureError::NoDevice(_)), "{err}");
}
