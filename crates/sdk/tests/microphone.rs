//! A real microphone through the SFU: cpal capture from a PulseAudio server whose default source
//! is a virtual 660 Hz sine (CI has no sound card), published by one client and heard by another.
//! 660 Hz, not the synthetic tone's 440, so the test proves the device path carried it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use trtc_media::analysis::dominant_frequency;
use trtc_sdk::{
    frame_channel, SourceChoice, TrtcAppScene, TrtcAudioQuality, TrtcCloud, TrtcCloudConfig,
    TrtcEvent,
};

struct Pulse {
    child: Child,
    _dir: tempfile::TempDir,
    server: String,
}

impl Pulse {
    fn start(frequency: u32) -> Pulse {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("native");
        let child = Command::new("pulseaudio")
            .args(["-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit"])
            .arg("--use-pid-file=no")
            .arg(format!(
                "--load=module-native-protocol-unix socket={} auth-anonymous=1",
                socket.display()
            ))
            .arg(format!(
                "--load=module-sine-source source_name=vsine rate=48000 frequency={frequency}"
            ))
            .arg("--load=module-null-sink sink_name=vspeaker")
            .env("XDG_RUNTIME_DIR", dir.path())
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pulseaudio runs (scripts/setup.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "pulseaudio did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Pulse {
            child,
            server: format!("unix:{}", socket.display()),
            _dir: dir,
        }
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(url: &str, user: &str, mic: SourceChoice) -> Client {
    let cloud = TrtcCloud::new(
        TrtcCloudConfig {
            timing: fast_timing(),
            ..TrtcCloudConfig::default()
        }
        .with_server_url(url)
        .with_sources(SourceChoice::None, mic),
    );
    Client {
        events: cloud.events(),
        cloud,
        user: user.into(),
        wants_statistics: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_microphone_is_heard_by_the_other_side() {
    let pulse = Pulse::start(660);
    // This test binary has one test: the process environment is its own.
    std::env::set_var("PULSE_SERVER", &pulse.server);
    let server = server().await;
    let mut speaker = client(&server.url, "speaker", SourceChoice::Device);
    let mut listener = client(&server.url, "listener", SourceChoice::None);
    assert!(speaker.enter(70, TrtcAppScene::VideoCall).await > 0);
    assert!(listener.enter(70, TrtcAppScene::VideoCall).await > 0);
    speaker.cloud.start_local_audio(TrtcAudioQuality::Default);
    speaker
        .wait_for(|e| matches!(e, TrtcEvent::MicDidReady))
        .await;
    listener
        .wait_for(|e| matches!(e, TrtcEvent::UserAudioAvailable { available: true, .. }))
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
