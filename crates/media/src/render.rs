//! Pictures for display: a decoded I420 frame scaled to fit a tile and turned into RGBA, the
//! layout a web canvas takes as is. Scaling happens on the planes before the colour
//! conversion, so a 720p frame shown in a 320-pixel tile converts a ninth of the pixels.
//! Both steps use SIMD libraries (fast_image_resize, yuvutils-rs), never hand-written loops.

use crate::convert::ConvertError;
use crate::frame::VideoFrame;
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use yuvutils_rs::{YuvPlanarImage, YuvRange, YuvStandardMatrix};

/// An RGBA picture, rows packed (stride = 4 × width).
#[derive(Clone, PartialEq, Eq)]
pub struct RgbaPicture {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width × height × 4` bytes.
    pub rgba: Vec<u8>,
}

impl std::fmt::Debug for RgbaPicture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgbaPicture")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// The largest even size with the frame's aspect ratio inside `max_width × max_height`, never
/// larger than the frame itself (the display scales up for free; converting more pixels
/// than the source has buys nothing). A box of 0 in either direction means "no limit".
pub fn fit(width: usize, height: usize, max_width: usize, max_height: usize) -> (usize, usize) {
    let max_w = if max_width == 0 {
        width
    } else {
        max_width.min(width)
    };
    let max_h = if max_height == 0 {
        height
    } else {
        max_height.min(height)
    };
    // Compare cross products instead of dividing: exact, and no float rounding at the edges.
    let (w, h) = if max_w * height <= max_h * width {
        (max_w, (max_w * height / width.max(1)).max(1))
    } else {
        ((max_h * width / height.max(1)).max(1), max_h)
    };
    ((w & !1).max(2), (h & !1).max(2))
}

/// Keeps its scratch buffers between frames: one per view, reused at every frame.
#[derive(Debug, Default)]
pub struct Renderer {
    resizer: Resizer,
}

impl Renderer {
    /// A renderer with empty scratch space.
    pub fn new() -> Self {
        Renderer::default()
    }

    /// `frame` scaled to fit `max_width × max_height` (see [`fit`]) as RGBA, BT.601 limited
    /// range like the rest of the pipeline.
    pub fn render(
        &mut self,
        frame: &VideoFrame,
        max_width: usize,
        max_height: usize,
    ) -> Result<RgbaPicture, ConvertError> {
        let (w, h) = fit(frame.width, frame.height, max_width, max_height);
        let (cw, ch) = frame.chroma_size();
        let err = |e: &dyn std::fmt::Display| ConvertError(e.to_string());
        let scaled;
        let (y, u, v): (&[u8], &[u8], &[u8]) = if (w, h) == (frame.width, frame.height) {
            (&frame.y, &frame.u, &frame.v)
        } else {
            let options =
                ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
            let mut plane = |data: &[u8], sw: usize, sh: usize, dw: usize, dh: usize| {
                let src = ImageRef::new(sw as u32, sh as u32, data, PixelType::U8)
                    .map_err(|e| err(&e))?;
                let mut dst = Image::new(dw as u32, dh as u32, PixelType::U8);
                self.resizer
                    .resize(&src, &mut dst, &options)
                    .map_err(|e| err(&e))?;
                Ok::<_, ConvertError>(dst.into_vec())
            };
            let (dcw, dch) = (w.div_ceil(2), h.div_ceil(2));
            scaled = (
                plane(&frame.y, frame.width, frame.height, w, h)?,
                plane(&frame.u, cw, ch, dcw, dch)?,
                plane(&frame.v, cw, ch, dcw, dch)?,
            );
            (&scaled.0, &scaled.1, &scaled.2)
        };
        let planar = YuvPlanarImage {
            y_plane: y,
            y_stride: w as u32,
            u_plane: u,
            u_stride: w.div_ceil(2) as u32,
            v_plane: v,
            v_stride: w.div_ceil(2) as u32,
            width: w as u32,
            height: h as u32,
        };
        let mut rgba = vec![0u8; w * h * 4];
        yuvutils_rs::yuv420_to_rgba(
            &planar,
            &mut rgba,
            (w * 4) as u32,
            YuvRange::Limited,
            YuvStandardMatrix::Bt601,
        )
        .map_err(|e| err(&e))?;
        Ok(RgbaPicture {
            width: w,
            height: h,
            rgba,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stamp;
    use crate::synthetic::SyntheticVideo;

    #[test]
    fn fit_keeps_the_aspect_ratio_inside_the_box_and_never_upscales() {
        assert_eq!(fit(640, 360, 320, 320), (320, 180));
        assert_eq!(fit(640, 360, 1000, 90), (160, 90));
        assert_eq!(fit(640, 360, 1920, 1080), (640, 360));
        assert_eq!(fit(640, 360, 0, 0), (640, 360));
        assert_eq!(fit(1280, 720, 333, 0), (332, 186));
        assert_eq!(fit(640, 360, 1, 1), (2, 2));
    }

    /// The stamp read back from RGBA the way the app's tests read a canvas: the green
    /// channel at the centre of each block (grey blocks, so any channel works).
    fn read_rgba_stamp(p: &RgbaPicture, source_width: usize) -> Option<stamp::Stamp> {
        let block = stamp::block_size(source_width) as f64 * p.width as f64 / source_width as f64;
        let mut luma = VideoFrame::black(source_width, (source_width * p.height / p.width) & !1, 0);
        let b = stamp::block_size(source_width);
        for row in 0..8 {
            for col in 0..16 {
                let x = ((col as f64 + 0.5) * block) as usize;
                let y = ((row as f64 + 0.5) * block) as usize;
                let g = p.rgba[(y * p.width + x) * 4 + 1];
                for yy in row * b..(row + 1) * b {
                    let start = yy * luma.width + col * b;
                    luma.y[start..start + b].fill(if g > 128 { 235 } else { 16 });
                }
            }
        }
        stamp::read(&luma)
    }

    #[test]
    fn a_scaled_picture_keeps_its_stamp_readable() {
        let frame = SyntheticVideo::draw(640, 360, 4242, 1_700_000_000_000_000);
        let mut r = Renderer::new();
        for (bw, bh) in [(640, 360), (400, 400), (320, 180)] {
            let p = r.render(&frame, bw, bh).unwrap();
            assert_eq!(p.rgba.len(), p.width * p.height * 4);
            let s = read_rgba_stamp(&p, 640).expect("stamp readable");
            assert_eq!(s.counter, 4242, "box {bw}x{bh}");
        }
    }

    #[test]
    fn colours_come_out_as_bt601_limited_range() {
        let mut frame = VideoFrame::black(64, 64, 0);
        frame.y.fill(235);
        let p = Renderer::new().render(&frame, 32, 32).unwrap();
        assert_eq!((p.width, p.height), (32, 32));
        assert!(p.rgba.chunks(4).all(|px| px[0] >= 250 && px[3] == 255));
        frame.y.fill(16);
        let p = Renderer::new().render(&frame, 0, 0).unwrap();
        assert!(p.rgba.chunks(4).all(|px| px[0] <= 5 && px[1] <= 5));
    }
}
