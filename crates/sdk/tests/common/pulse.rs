//! PulseAudio for tests: a server of our own (CI has no sound card) and its recorder on a null
//! sink's monitor, which hears what the speaker played.

use std::time::Duration;

/// A PulseAudio server of our own (CI has no sound card) with `modules` loaded, for example a
/// sine source as the microphone or a null sink as the speaker. Point cpal at it with
/// `PULSE_SERVER` = [`Pulse::server`].
pub struct Pulse {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    pub server: String,
}

impl Pulse {
    pub fn start(modules: &[&str]) -> Pulse {
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("native");
        let mut cmd = Command::new("pulseaudio");
        cmd.args([
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--disallow-exit",
        ])
        .arg("--use-pid-file=no")
        .arg(format!(
            "--load=module-native-protocol-unix socket={} auth-anonymous=1",
            socket.display()
        ));
        for m in modules {
            cmd.arg(format!("--load={m}"));
        }
        let child = cmd
            .env("XDG_RUNTIME_DIR", dir.path())
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pulseaudio runs (scripts/setup.sh installs it)");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "pulseaudio did not start"
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

/// PulseAudio's own recorder (parec) on the null sink's monitor: what the speaker played,
/// 48 kHz mono, arriving in real time.
pub struct Recorder {
    child: std::process::Child,
    bytes: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Recorder {
    pub fn start(server: &str) -> Recorder {
        let mut child = std::process::Command::new("parec")
            .args(["--server", server, "-d", "vspeaker.monitor"])
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
        let bytes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&bytes);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut out, &mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Recorder { child, bytes }
    }

    fn len(&self) -> usize {
        self.bytes.lock().unwrap().len()
    }

    pub async fn wait_until_recording(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.len() == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "parec recorded nothing in 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The next `length` of what the speaker plays.
    pub async fn record(&self, length: Duration) -> Vec<i16> {
        let start = self.len() & !1;
        let want = (48_000.0 * length.as_secs_f64()) as usize * 2;
        let deadline = tokio::time::Instant::now() + length + Duration::from_secs(5);
        while self.len() < start + want {
            assert!(
                tokio::time::Instant::now() < deadline,
                "parec stalled: {} of {want} bytes",
                self.len() - start
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.bytes.lock().unwrap()[start..start + want]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
