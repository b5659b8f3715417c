//! What turning a decoded picture into a tile's RGBA costs (the app's frame path, Rust side):
//! `cargo run -p trtc-media --example render_cost -- [FRAMES]`. Prints µs per picture for
//! common source and tile sizes.

// A benchmark reports by printing.
#![allow(clippy::print_stdout)]

use std::time::Instant;
use trtc_media::render::Renderer;
use trtc_media::synthetic::SyntheticVideo;

fn main() {
    let frames: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    for ((sw, sh), (tw, th)) in [
        ((640, 360), (640, 360)),
        ((640, 360), (320, 180)),
        ((1280, 720), (640, 360)),
        ((1280, 720), (1280, 720)),
        ((1920, 1080), (960, 540)),
    ] {
        let frame = SyntheticVideo::draw(sw, sh, 1, 0);
        let mut renderer = Renderer::new();
        let start = Instant::now();
        let mut bytes = 0;
        for _ in 0..frames {
            bytes = renderer
                .render(&frame, tw, th)
                .map(|p| p.rgba.len())
                .unwrap_or(0);
        }
        let us = start.elapsed().as_micros() as f64 / f64::from(frames);
        println!("{sw}x{sh} → {tw}x{th}: {us:.0} µs per picture, {bytes} bytes");
    }
}
