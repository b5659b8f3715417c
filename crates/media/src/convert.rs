//! Pixel-format conversion with yuvutils-rs (SIMD, well kept), never hand-written loops.

use crate::frame::VideoFrame;
use yuvutils_rs::{
    BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix,
};

/// Why a conversion failed (sizes that do not add up).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pixel conversion: {0}")]
pub struct ConvertError(pub String);

/// BGRA/BGRX (as X11 and most screen APIs deliver) to I420, BT.601 limited range — what
/// H.264 decoders assume when the stream says nothing. Odd sizes are cropped to even.
pub fn bgra_to_i420(
    bgra: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    capture_time_us: u64,
) -> Result<VideoFrame, ConvertError> {
    let (w, h) = (width & !1, height & !1);
    if w == 0 || h == 0 || stride < width * 4 || bgra.len() < stride * (height - 1) + width * 4 {
        return Err(ConvertError(format!(
            "{width}x{height} BGRA with stride {stride} needs more than {} bytes",
            bgra.len()
        )));
    }
    let mut frame = VideoFrame::black(w, h, capture_time_us);
    let (cw, _) = frame.chroma_size();
    let mut planar = YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(&mut frame.y),
        y_stride: w as u32,
        u_plane: BufferStoreMut::Borrowed(&mut frame.u),
        u_stride: cw as u32,
        v_plane: BufferStoreMut::Borrowed(&mut frame.v),
        v_stride: cw as u32,
        width: w as u32,
        height: h as u32,
    };
    yuvutils_rs::bgra_to_yuv420(
        &mut planar,
        bgra,
        stride as u32,
        YuvRange::Limited,
        YuvStandardMatrix::Bt601,
        YuvConversionMode::Balanced,
    )
    .map_err(|e| ConvertError(e.to_string()))?;
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solid_colours_land_on_bt601_limited_values() {
        // (B, G, R) → (Y, U, V)
        for (bgr, yuv) in [
            ([0u8, 0, 255], [81u8, 90, 240]),
            ([255, 255, 255], [235, 128, 128]),
            ([0, 0, 0], [16, 128, 128]),
        ] {
            let px: Vec<u8> = std::iter::repeat_n([bgr[0], bgr[1], bgr[2], 255], 64 * 32)
                .flatten()
                .collect();
            let f = bgra_to_i420(&px, 64, 32, 256, 0).unwrap();
            for (got, want) in [(f.y[100], yuv[0]), (f.u[50], yuv[1]), (f.v[50], yuv[2])] {
                assert!(got.abs_diff(want) <= 2, "{bgr:?}: {got} vs {want}");
            }
        }
        assert!(bgra_to_i420(&[0; 10], 64, 32, 256, 0).is_err());
    }
}
