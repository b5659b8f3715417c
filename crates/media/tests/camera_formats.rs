//! Webcam pixel formats to I420, on sample frames committed as test data
//! (testdata/camera/make.sh): four coloured quadrants must come out as those colours.

use trtc_media::convert::{mjpeg_to_i420, yuyv_to_i420};
use trtc_media::VideoFrame;

const YUYV: &[u8] = include_bytes!("../testdata/camera/quadrants_320x240.yuyv");
const MJPEG: &[u8] = include_bytes!("../testdata/camera/quadrants_320x240.jpg");

/// BT.601 limited (Y, U, V) of red, green, blue, white, at each quadrant's centre.
const EXPECTED: [((usize, usize), [u8; 3]); 4] = [
    ((80, 60), [81, 90, 240]),
    ((240, 60), [145, 54, 34]),
    ((80, 180), [41, 240, 110]),
    ((240, 180), [235, 128, 128]),
];

fn check(f: &VideoFrame, tolerance: u8, what: &str) {
    assert_eq!((f.width, f.height), (320, 240), "{what}");
    for ((x, y), want) in EXPECTED {
        let got = [
            f.y[y * 320 + x],
            f.u[(y / 2) * 160 + x / 2],
            f.v[(y / 2) * 160 + x / 2],
        ];
        for c in 0..3 {
            assert!(
                got[c].abs_diff(want[c]) <= tolerance,
                "{what} at ({x},{y}): {got:?} vs {want:?}"
            );
        }
    }
}

#[test]
fn yuyv_converts_exactly() {
    let f = yuyv_to_i420(YUYV, 320, 240, 640, 7).unwrap();
    check(&f, 2, "YUYV");
    assert_eq!(f.capture_time_us, 7);
}

#[test]
fn mjpeg_converts_within_jpeg_loss() {
    check(&mjpeg_to_i420(MJPEG, 0).unwrap(), 6, "MJPEG");
}

#[test]
fn broken_camera_data_is_an_error_not_a_panic() {
    assert!(yuyv_to_i420(&YUYV[..1000], 320, 240, 640, 0).is_err());
    assert!(mjpeg_to_i420(b"not a jpeg", 0).is_err());
    // A truncated JPEG may decode partially or fail; either way, no panic.
    for cut in [0, 2, 10, 100, MJPEG.len() / 3, MJPEG.len() - 1] {
        let _ = mjpeg_to_i420(&MJPEG[..cut], 0);
    }
}
