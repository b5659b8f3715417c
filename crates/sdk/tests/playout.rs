//! Remote audio reaches the speaker: one client sends the 440 Hz tone, the other plays it
//! through cpal into a PulseAudio null sink, and PulseAudio's own recorder (parec) hears the
//! tone on the sink's monitor.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use std::time::Duration;
use trtc_media::analysis::{dominant_frequency, rms};
use trtc_sdk::{SourceChoice, TrtcAppScene, TrtcAudioQuality, TrtcEvent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_audio_plays_on_the_speaker() {
    // Only a null sink: what the speaker plays is what its monitor hears. One test in this
    // binary: the environment is its own.
    let pulse = Pulse::start(&["module-null-sink sink_name=vspeaker"]);
    std::env::set_var("PULSE_SERVER", &pulse.server);
    let server = server().await;
    let none = SourceChoice::None;
    let mut talker = media_client(&server.url, "talker", none, SourceChoice::Synthetic, none);
    let mut listener = media_client(&server.url, "listener", none, none, SourceChoice::Device);
    assert!(talker.enter(80, TrtcAppScene::VideoCall).await > 0);
    assert!(listener.enter(80, TrtcAppScene::VideoCall).await > 0);
    talker.cloud.start_local_audio(TrtcAudioQuality::Default);
    let first = listener
        .wait_for(|e| {
            matches!(
                e,
                TrtcEvent::FirstAudioFrame { .. } | TrtcEvent::Warning { .. }
            )
        })
        .await;
    assert!(
        matches!(first, TrtcEvent::FirstAudioFrame { .. }),
        "the speaker opened: {first:?}"
    );
    let heard = record_speaker(&pulse.server, Duration::from_secs(3)).await;
    // The tone is sent at half of full scale (rms ≈ 0.35); silence or a stray click is far
    // below this.
    assert!(
        rms(&heard) > 0.1,
        "the speaker played the tone: rms {}",
        rms(&heard)
    );
    let f = dominant_frequency(&heard, 48_000, 100, 2000).expect("a tone");
    assert!((f as i32 - 440).abs() <= 10, "the speaker played {f} Hz");

    // Muting the talker silences the speaker (what is already in the device buffer, ~20 ms,
    // plays out first, so the recording starts a little later).
    listener.cloud.mute_remote_audio("talker", true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let muted = record_speaker(&pulse.server, Duration::from_secs(1)).await;
    assert!(
        rms(&muted) < 0.01,
        "muted, yet the speaker played rms {}",
        rms(&muted)
    );
    listener.cloud.mute_remote_audio("talker", false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let unmuted = record_speaker(&pulse.server, Duration::from_secs(1)).await;
    assert!(rms(&unmuted) > 0.1, "unmuted, yet rms {}", rms(&unmuted));
    server.shutdown().await.unwrap();
}

/// What the null sink `vspeaker` played for `length`, recorded from its monitor with
/// PulseAudio's own recorder (48 kHz mono).
async fn record_speaker(server: &str, length: Duration) -> Vec<i16> {
    let server = server.to_owned();
    let pcm = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new("parec")
            .args(["--server", &server, "-d", "vspeaker.monitor"])
            .args([
                "--format=s16le",
                "--rate=48000",
                "--channels=1",
                "--raw",
                "--latency-msec=20",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("parec runs (pulseaudio-utils, scripts/setup.sh)");
        let mut out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = std::io::Read::read_to_end(&mut out, &mut bytes);
            bytes
        });
        std::thread::sleep(length);
        let _ = child.kill();
        let _ = child.wait();
        reader.join().unwrap()
    })
    .await
    .unwrap();
    let samples: Vec<i16> = pcm
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    // parec delivers in real time; a recording far short of `length` means it stalled.
    assert!(
        samples.len() as f64 >= 48_000.0 * length.as_secs_f64() * 0.5,
        "recorded {} samples in {length:?}",
        samples.len()
    );
    samples
}
