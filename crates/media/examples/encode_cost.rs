//! Encoder CPU cost per stream: encodes the moving test pattern and reports time per frame and
//! the share of one core the stream needs at its frame rate.
//!
//! `cargo run -p trtc-media --example encode_cost [--release]`
//! (in the dev profile OpenH264 itself is still built with -O3; see the root Cargo.toml).

// A benchmark reports by printing.
#![allow(clippy::print_stdout)]

use std::time::Instant;
use trtc_media::codec::h264::{ContentHint, H264Config, H264Encoder};
use trtc_media::params::{TrtcVideoEncParam, TrtcVideoResolution};
use trtc_media::synthetic::SyntheticVideo;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cases = [
        (
            "camera 640x360@30",
            TrtcVideoResolution::R640x360,
            30,
            ContentHint::Camera,
        ),
        (
            "camera 1280x720@30",
            TrtcVideoResolution::R1280x720,
            30,
            ContentHint::Camera,
        ),
        (
            "screen 1920x1080@15",
            TrtcVideoResolution::R1920x1080,
            15,
            ContentHint::Screen,
        ),
    ];
    for (name, res, fps, content) in cases {
        let p = TrtcVideoEncParam {
            video_resolution: res,
            video_fps: fps,
            video_bitrate: res.recommended_kbps(false),
            ..Default::default()
        };
        let (w, h) = p.encoded_size();
        let frames: Vec<_> = (0..90).map(|i| SyntheticVideo::draw(w, h, i, 0)).collect();
        let mut enc = H264Encoder::new(H264Config::from_trtc(&p, content))?;
        // Warm up: the first frames (keyframe, allocation) are not typical.
        for f in &frames[..10] {
            enc.encode(f)?;
        }
        let start = Instant::now();
        let mut bytes = 0;
        for f in &frames[10..] {
            bytes += enc.encode(f)?.map_or(0, |e| e.data.len());
        }
        let per_frame = start.elapsed().as_secs_f64() / (frames.len() - 10) as f64;
        let core_share = per_frame * f64::from(fps) * 100.0;
        let kbps = bytes as f64 * 8.0 / ((frames.len() - 10) as f64 / f64::from(fps)) / 1000.0;
        println!(
            "{name}: {:.2} ms/frame, {core_share:.1} % of one core, {kbps:.0} kbps (target {})",
            per_frame * 1000.0,
            p.video_bitrate
        );
    }
    Ok(())
}
