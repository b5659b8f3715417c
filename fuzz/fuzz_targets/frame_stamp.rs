//! The stamp reader on a decoded picture of any size and content. The two modules are compiled
//! from the media crate's own sources: linking the whole crate brings a C library whose bundled
//! tool defines `main`, which displaces libFuzzer's.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/media/src/frame.rs"]
mod frame;
#[allow(dead_code)]
#[path = "../../crates/media/src/stamp.rs"]
mod stamp;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&w, rest)) = data.split_first() else {
        return;
    };
    let Some((&h, pixels)) = rest.split_first() else {
        return;
    };
    // Up to 256×256: larger pictures only cost time (the stamp lives in the top-left corner).
    let (width, height) = (usize::from(w % 128 + 1) * 2, usize::from(h % 128 + 1) * 2);
    let mut frame = frame::VideoFrame::black(width, height, 0);
    for (dst, src) in frame.y.iter_mut().zip(pixels.iter().cycle()) {
        *dst = *src;
    }
    let _ = stamp::read(&frame);
});
