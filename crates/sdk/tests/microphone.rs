//! A real microphone through the SFU: cpal capture from a PulseAudio server whose default source
//! is a virtual 660 Hz sine (CI has no sound card), published by one client and heard by another.
//! 660 Hz, not the synthetic tone's 440, so the test proves the device path carried it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::pulse::Pulse;
use common::*;
use std::time::{Duration, Instant};
use trtc_media::analysis::dominant_frequency;
use trtc_sdk::{
    frame_channel, SourceChoice, TrtcAppScene, TrtcAudioQuality, TrtcEvent, TxMediaDeviceType,
};

fn client(url: &str, user: &str, mic: SourceChoice) -> Client {
    media_client(url, user, SourceChoice::None, mic, SourceChoice::None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_microphone_is_heard_by_the_other_side() {
    let pulse = Pulse::start(&[
        "module-sine-source source_name=vsine rate=48000 frequency=660",
        "module-null-sink sink_name=vspeaker",
    ]);
    // This test binary has one test: the process environment is its own.
    std::env::set_var("PULSE_SERVER", &pulse.server);
    let server = server().await;
    let mut speaker = client(&server.url, "speaker", SourceChoice::Device);
    let mut listener = client(&server.url, "listener", SourceChoice::None);
    assert!(speaker.enter(70, TrtcAppScene::VideoCall).await > 0);
    assert!(listener.enter(70, TrtcAppScene::VideoCall).await > 0);
    // The device manager lists the microphones and speakers the sound server offers and
    // opens the one chosen; an unknown device is refused and changes nothing.
    let devices = speaker.cloud.get_device_manager();
    let mics = devices.get_devices_list(TxMediaDeviceType::Mic).unwrap();
    eprintln!("microphones: {mics:?}");
    assert!(!mics.is_empty() && mics[0].is_default, "{mics:?}");
    assert!(!devices
        .get_devices_list(TxMediaDeviceType::Speaker)
        .unwrap()
        .is_empty());
    assert_eq!(
        devices.set_current_device(TxMediaDeviceType::Mic, "alsa:no-such-device"),
        trtc_sdk::device_manager::ERR_DEVICE_NOT_FOUND
    );
    assert_eq!(
        devices.get_current_device(TxMediaDeviceType::Mic).as_ref(),
        Some(&mics[0])
    );
    // Not the default entry, but a named device that also reaches the sound server.
    let chosen = mics
        .iter()
        .find(|d| !d.is_default && d.device_id.contains("pulse"))
        .unwrap_or(&mics[0])
        .clone();
    assert_eq!(
        devices.set_current_device(TxMediaDeviceType::Mic, &chosen.device_id),
        0
    );
    assert_eq!(
        devices.get_current_device(TxMediaDeviceType::Mic),
        Some(chosen)
    );
    speaker.cloud.start_local_audio(TrtcAudioQuality::Default);
    speaker
        .wait_for(|e| matches!(e, TrtcEvent::MicDidReady))
        .await;
    listener
        .wait_for(|e| {
            matches!(
                e,
                TrtcEvent::UserAudioAvailable {
                    available: true,
                    ..
                }
            )
        })
        .await;
    let (sink, rx) = frame_channel(400);
    listener.cloud.set_remote_audio_sink("speaker", Some(sink));
    listener
        .wait_for(|e| matches!(e, TrtcEvent::FirstAudioFrame { .. }))
        .await;
    let pcm = tokio::task::spawn_blocking(move || {
        let mut pcm = vec![];
        let end = Instant::now() + Duration::from_secs(10);
        while pcm.len() < 48_000 && Instant::now() < end {
            if let Ok(f) = rx.recv_timeout(Duration::from_millis(500)) {
                pcm.extend_from_slice(&f.samples);
            }
        }
        pcm
    })
    .await
    .unwrap();
    assert!(pcm.len() >= 48_000, "heard {} samples", pcm.len());
    // Skip the first 200 ms: capture and the decoder settle.
    let f = dominant_frequency(&pcm[9600..], 48_000, 100, 2000).expect("a tone");
    assert!((f as i32 - 660).abs() <= 10, "heard {f} Hz");
    server.shutdown().await.unwrap();
}
