//! Measurements on decoded media: what a listener would hear.

/// The strongest frequency in `samples` (mono) between `lo` and `hi` Hz, in 1 Hz steps, by
/// Goertzel's algorithm: a handful of DFT bins is all a tone check needs.
pub fn dominant_frequency(samples: &[i16], rate: u32, lo: u32, hi: u32) -> Option<u32> {
    if samples.is_empty() || lo >= hi {
        return None;
    }
    let power = |f: u32| {
        let w = 2.0 * std::f64::consts::PI * f64::from(f) / f64::from(rate);
        let coeff = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &x in samples {
            let s = f64::from(x) + coeff * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        s1 * s1 + s2 * s2 - coeff * s1 * s2
    };
    // Coarse 10 Hz scan, then 1 Hz around the best.
    let coarse = (lo..=hi)
        .step_by(10)
        .max_by(|a, b| power(*a).total_cmp(&power(*b)))?;
    (coarse.saturating_sub(10).max(lo)..=(coarse + 10).min(hi))
        .max_by(|a, b| power(*a).total_cmp(&power(*b)))
}

/// Root-mean-square level of `samples`, 0.0–1.0 of full scale.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples
        .iter()
        .map(|&s| (f64::from(s) / 32768.0).powi(2))
        .sum();
    (sum / samples.len() as f64).sqrt()
}
