//! Pixel-format conversion with yuvutils-rs (SIMD, well kept), never hand-written loops.

use crate::frame::VideoFrame;
use yuvutils_rs::{
    BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix,
};

/// Why a conversion failed (sizes that do not add up).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pixel conversion: {0}")]
pub struct ConvertError(pub String);

/// The even size to convert to, if `data` really holds `height` rows of `width` pixels of
/// `bytes_per_pixel` at `stride`.
fn even_size(
    data: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    bytes_per_pixel: usize,
    what: &str,
) -> Result<(usize, usize), ConvertError> {
    let (w, h) = (width & !1, height & !1);
    if w == 0
        || h == 0
        || stride < width * bytes_per_pixel
        || data.len() < stride * (height - 1) + width * bytes_per_pixel
    {
        return Err(ConvertError(format!(
            "{width}x{height} {what} with stride {stride} needs more than {} bytes",
            data.len()
        )));
    }
    Ok((w, h))
}

/// BGRA/BGRX (as X11 and most screen APIs deliver) to I420, BT.601 limited range — what
/// H.264 decoders assume when the stream says nothing. Odd sizes are cropped to even.
pub fn bgra_to_i420(
    bgra: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    capture_time_us: u64,
) -> Result<VideoFrame, ConvertError> {
    let (w, h) = even_size(bgra, width, height, stride, 4, "BGRA")?;
    let mut frame = VideoFrame::black(w, h, capture_time_us);
    yuvutils_rs::bgra_to_yuv420(
        &mut planar(&mut frame),
        bgra,
        stride as u32,
        YuvRange::Limited,
        YuvStandardMatrix::Bt601,
        YuvConversionMode::Balanced,
    )
    .map_err(|e| ConvertError(e.to_string()))?;
    Ok(frame)
}

fn planar(frame: &mut VideoFrame) -> YuvPlanarImageMut<'_, u8> {
    let (w, h) = (frame.width as u32, frame.height as u32);
    let (cw, _) = frame.chroma_size();
    YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(&mut frame.y),
        y_stride: w,
        u_plane: BufferStoreMut::Borrowed(&mut frame.u),
        u_stride: cw as u32,
        v_plane: BufferStoreMut::Borrowed(&mut frame.v),
        v_stride: cw as u32,
        width: w,
        height: h,
    }
}

/// YUYV 4:2:2 packed (the common uncompressed webcam format) to I420: chroma rows averaged.
pub fn yuyv_to_i420(
    yuyv: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    capture_time_us: u64,
) -> Result<VideoFrame, ConvertError> {
    let (w, h) = even_size(yuyv, width, height, stride, 2, "YUYV")?;
    let mut frame = VideoFrame::black(w, h, capture_time_us);
    let packed = yuvutils_rs::YuvPackedImage {
        yuy: yuyv,
        yuy_stride: stride as u32,
        width: w as u32,
        height: h as u32,
    };
    yuvutils_rs::yuyv422_to_yuv420(&mut planar(&mut frame), &packed)
        .map_err(|e| ConvertError(e.to_string()))?;
    Ok(frame)
}

/// Motion-JPEG (one JPEG per frame, as most webcams send above 640x480) to I420, BT.601
/// limited range like the rest of the pipeline. Corrupt data is an error, never a panic.
pub fn mjpeg_to_i420(jpeg: &[u8], capture_time_us: u64) -> Result<VideoFrame, ConvertError> {
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(jpeg, options);
    let rgb = decoder
        .decode()
        .map_err(|e| ConvertError(format!("JPEG: {e:?}")))?;
    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| ConvertError("JPEG without dimensions".into()))?;
    let (w, h) = (width & !1, height & !1);
    if w == 0 || h == 0 || rgb.len() < width * height * 3 {
        return Err(ConvertError(format!(
            "JPEG of {width}x{height} decoded to {} bytes",
            rgb.len()
        )));
    }
    let mut frame = VideoFrame::black(w, h, capture_time_us);
    yuvutils_rs::rgb_to_yuv420(
        &mut planar(&mut frame),
        &rgb,
        (width * 3) as u32,
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
