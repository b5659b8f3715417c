//! Remote audio reaches the speaker: one client sends the 440 Hz tone, the other plays it
//! through cpal into a PulseAudio null sink, and PulseAudio's own recorder (parec) hears the
//! tone on the sink's monitor.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::pulse::{Pulse, Recorder};
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
    // One recorder for the whole test: parec takes a second or two before its first bytes,
    // so each phase below is cut out of its continuous recording.
    let recorder = Recorder::start(&pulse.server);
    recorder.wait_until_recording().await;

    let heard = recorder.record(Duration::from_secs(1)).await;
    // The tone is sent at half of full scale (rms ≈ 0.35); silence or a stray click is far
    // below this.
    assert!(
        rms(&heard) > 0.1,
        "the speaker played the tone: rms {}",
        rms(&heard)
    );
    let f = dominant_frequency(&heard, 48_000, 100, 2000).expect("a tone");
    assert!((f as i32 - 440).abs() <= 10, "the speaker played {f} Hz");

    // Muting the talker silences the speaker. What was already queued (jitter buffer and
    // device buffer, under 100 ms) plays out first, so each phase skips its first 300 ms.
    listener.cloud.mute_remote_audio("talker", true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let muted = recorder.record(Duration::from_secs(1)).await;
    assert!(
        rms(&muted) < 0.01,
        "muted, yet the speaker played rms {}",
        rms(&muted)
    );
    listener.cloud.mute_remote_audio("talker", false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let unmuted = recorder.record(Duration::from_secs(1)).await;
    assert!(rms(&unmuted) > 0.1, "unmuted, yet rms {}", rms(&unmuted));
    server.shutdown().await.unwrap();
}
