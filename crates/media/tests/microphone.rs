//! Microphone capture through cpal from a real PulseAudio server with a virtual 440 Hz source
//! (the CI machine has no sound card): the tone is what arrives. Without a server the start
//! fails with an error instead of delivering silence.

// Test support: a panic here is a failed test, with the message unwrap gives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use trtc_media::analysis::dominant_frequency;
use trtc_media::mic::Microphone;
use trtc_media::sink::frame_channel;
use trtc_media::AudioSource;

struct Pulse {
    child: Child,
    _dir: tempfile::TempDir,
    server: String,
}

impl Pulse {
    fn start() -> Pulse {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("native");
        let child = Command::new("pulseaudio")
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--disallow-exit",
                "--use-pid-file=no",
            ])
            .arg(format!(
                "--load=module-native-protocol-unix socket={} auth-anonymous=1",
                socket.display()
            ))
            .arg("--load=module-sine-source source_name=vsine rate=48000 frequency=440")
            .env("XDG_RUNTIME_DIR", dir.path())
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pulseaudio runs (scripts/setup.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "pulseaudio did not open {}",
                socket.display()
            );
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

#[test]
fn captures_the_tone_and_fails_cleanly_without_a_server() {
    // One test function: the server is chosen through the process environment.
    std::env::set_var("PULSE_SERVER", "unix:/nonexistent/pulse/native");
    let (sink, _rx) = frame_channel(8);
    assert!(
        Microphone::new().start(sink).is_err(),
        "no server, no microphone"
    );

    let pulse = Pulse::start();
    std::env::set_var("PULSE_SERVER", &pulse.server);
    let (sink, rx) = frame_channel(400);
    let mut mic = Microphone::new();
    mic.start(sink).unwrap();
    let mut samples = vec![];
    let mut channels = 1;
    // The first callbacks deliver a backlog; take two seconds' worth and use the second half.
    while samples.len() < 96_000 * usize::from(channels) {
        let f = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("frames keep coming");
        assert_eq!(f.sample_rate, 48_000);
        assert_eq!(f.samples.len(), 480 * usize::from(f.channels));
        channels = f.channels;
        samples.extend(f.samples);
    }
    mic.stop();
    let mono: Vec<i16> = samples
        .iter()
        .step_by(usize::from(channels))
        .copied()
        .collect();
    let tail = &mono[mono.len() / 2..];
    let f = dominant_frequency(tail, 48_000, 100, 2000).unwrap();
    assert!((436..=444).contains(&f), "heard {f} Hz");
    assert!(
        trtc_media::analysis::rms(tail) > 0.1,
        "the tone is loud, not silence"
    );
}
