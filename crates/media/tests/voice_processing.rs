//! Voice processing does what a listener would notice: the far end's voice coming back
//! through the microphone (echo) is removed once the canceller has converged, steady noise is
//! suppressed, and the wrong frame shape is refused.

use trtc_media::analysis::rms;
use trtc_media::processing::{AudioProcessor, ProcessingSettings, FRAME, RATE};
use trtc_media::AudioFrame;

/// Speech-like far-end signal: a few harmonics whose pitch and loudness wander, frame `i`.
fn voice(i: usize) -> Vec<i16> {
    (0..FRAME)
        .map(|n| {
            let t = (i * FRAME + n) as f64 / f64::from(RATE);
            let pitch = 140.0 + 40.0 * (t * 1.3).sin();
            let envelope = 0.5 + 0.5 * (t * 3.7).sin().abs();
            let s: f64 = (1..6)
                .map(|h| (2.0 * std::f64::consts::PI * pitch * h as f64 * t).sin() / h as f64)
                .sum();
            (s * envelope * 6000.0) as i16
        })
        .collect()
}

fn frame(samples: Vec<i16>) -> AudioFrame {
    AudioFrame {
        sample_rate: RATE,
        channels: 1,
        samples,
        capture_time_us: 0,
    }
}

#[test]
fn echo_of_the_far_end_is_cancelled() {
    let settings = ProcessingSettings {
        echo_cancellation: true,
        noise_suppression: false,
        gain_control: false,
    };
    let mut apm = AudioProcessor::new(1, settings).unwrap();
    let delay_frames = 4; // 40 ms from speaker to microphone
    let (mut echo_in, mut echo_out) = (0.0, 0.0);
    for i in 0..800 {
        // 8 s of far-end voice played out…
        apm.render(&frame(voice(i))).unwrap();
        // …and heard back by the microphone, delayed and quieter.
        let echo: Vec<i16> = if i >= delay_frames {
            voice(i - delay_frames).iter().map(|s| s / 2).collect()
        } else {
            vec![0; FRAME]
        };
        let mut mic = frame(echo.clone());
        apm.capture(&mut mic).unwrap();
        if i >= 600 {
            echo_in += rms(&echo);
            echo_out += rms(&mic.samples);
        }
    }
    let erle_db = 20.0 * (echo_in / echo_out.max(1e-9)).log10();
    assert!(erle_db > 15.0, "echo reduced by only {erle_db:.1} dB");
}

#[test]
fn steady_noise_is_suppressed() {
    let settings = ProcessingSettings {
        echo_cancellation: false,
        noise_suppression: true,
        gain_control: false,
    };
    let mut apm = AudioProcessor::new(1, settings).unwrap();
    let mut seed = 1u32;
    let (mut noise_in, mut noise_out) = (0.0, 0.0);
    for i in 0..400 {
        let noise: Vec<i16> = (0..FRAME)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((seed >> 16) as i16) / 16
            })
            .collect();
        let mut mic = frame(noise.clone());
        apm.capture(&mut mic).unwrap();
        if i >= 200 {
            noise_in += rms(&noise);
            noise_out += rms(&mic.samples);
        }
    }
    let db = 20.0 * (noise_in / noise_out.max(1e-9)).log10();
    assert!(db > 6.0, "noise reduced by only {db:.1} dB");
}

#[test]
fn frames_of_the_wrong_shape_are_refused() {
    let mut apm = AudioProcessor::new(1, ProcessingSettings::default()).unwrap();
    assert!(apm.capture(&mut frame(vec![0; 100])).is_err());
    assert!(apm
        .render(&AudioFrame {
            sample_rate: 16_000,
            channels: 1,
            samples: vec![0; 160],
            capture_time_us: 0
        })
        .is_err());
}
