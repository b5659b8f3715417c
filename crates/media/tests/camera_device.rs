//! The camera backend against this machine's real devices. CI machines have no camera, so
//! what a user without one would see is checked: an empty list, and a start that fails with
//! "no camera" (TRTC warning 1111) rather than a hang or a black stream. With a camera
//! attached the same test checks that frames arrive.

use std::time::Duration;
use trtc_media::camera::{list_cameras, Camera};
use trtc_media::sink::frame_channel;
use trtc_media::{CaptureError, VideoSource};

#[test]
fn camera_list_and_start_agree_with_the_hardware() {
    let cameras = list_cameras().expect("listing cameras never fails on Linux");
    let (sink, rx) = frame_channel(4);
    let mut cam = Camera::new(0, 640, 360, 15);
    let started = cam.start(sink);
    if cameras.is_empty() {
        assert!(
            matches!(started, Err(CaptureError::NoDevice(_))),
            "{started:?}"
        );
    } else {
        started.expect("the first camera opens");
        let f = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the camera delivers frames");
        assert!(f.width > 0 && f.height > 0);
        cam.stop();
    }
}
