//! `room-load` against the `room-server` process (issue 10's small layout): everyone enters,
//! every subscriber receives every stream without loss, and the server's `/metrics` counted
//! the same packets room-load's receivers did. And the same participants against Janus
//! VideoRoom, which keeps the comparison in docs/benchmarks.md working.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{bin, http_get, Proc, RoomServer, APP, KEY};
use std::process::{Command, Stdio};

#[test]
fn two_publishers_reach_twenty_subscribers_and_metrics_agree() {
    let server = RoomServer::start(&[]);
    let http = server.url.replacen("ws://", "http://", 1);
    let server_pid = server.proc.child.id().to_string();
    let report = room_load(&[
        &[
            "--server",
            &server.url,
            "--sdkappid",
            &APP.to_string(),
            "--secret",
            KEY,
        ],
        &[
            "--publishers",
            "2",
            "--subscribers",
            "20",
            "--duration",
            "10",
        ],
        &[
            "--metrics-url",
            &format!("{http}/metrics"),
            "--server-pid",
            &server_pid,
        ],
    ]);
    let joins = &report["joins"];
    assert_eq!(joins["entered"], 22, "{joins}");

    let receivers = report["receivers"].as_array().unwrap();
    assert_eq!(receivers.len(), 22);
    for r in receivers {
        let user = r["user"].as_str().unwrap();
        // Subscribers receive both publishers' audio and video; each publisher the other's.
        let want = if user.starts_with('s') { 4 } else { 2 };
        assert_eq!(r["expected"], want, "{user}");
        assert_eq!(
            r["missing"].as_array().unwrap().len(),
            0,
            "{user} missed {}",
            r["missing"]
        );
        for s in r["streams"].as_array().unwrap() {
            assert!(
                s["packets"].as_u64().unwrap() > 0,
                "{user}: nothing in the window: {s}"
            );
            assert_eq!(s["run_lost"], 0, "{user} lost packets: {s}");
        }
    }
    assert_senders_unthrottled(&report);
    let totals = &report["totals"];
    assert_eq!(totals["run_lost"], 0, "{totals}");
    // 200 kbps video reaches every subscriber at about that rate (the window is 10 s).
    let video_min = totals["video_kbps_min"].as_f64().unwrap();
    assert!(video_min > 100.0, "slowest video stream {video_min} kbps");

    let server_side = &report["server"];
    let forwarded = server_side["run_forwarded_packets"].as_u64().unwrap();
    let received = totals["run_packets"].as_u64().unwrap();
    let nacked = server_side["run_nacked_packets"].as_u64().unwrap();
    // Retransmissions reach receivers without being counted as forwarded (with no loss there
    // are none). What remains is at most a packet or so per subscriber connection, written
    // while the receiving end was still setting up its SRTP keys after the handshake (it was
    // about two per connection before subscribers took the DTLS server's side, and 40 in all
    // before the SFU held new tracks until their renegotiation was answered).
    let connections = receivers.len() as u64;
    assert!(
        forwarded >= received && forwarded - received <= nacked + connections,
        "/metrics forwarded {forwarded} packets, receivers counted {received} (nacked {nacked})"
    );
    assert!(forwarded > 0);
    assert!(
        server_side["cpu_s"].as_f64().unwrap() > 0.0,
        "{server_side}"
    );
    assert!(
        server_side["rss_bytes"].as_u64().unwrap() > 1 << 20,
        "{server_side}"
    );

    // After everyone left, the gauges are back to nothing (rooms end at once; their peer
    // connections close in the background).
    let gauges = [
        "trtc_rooms 0",
        "trtc_members 0",
        "trtc_sfu_publications 0",
        "trtc_sfu_forwarded_tracks 0",
        "trtc_sfu_peer_connections{role=\"publisher\"} 0",
        "trtc_sfu_peer_connections{role=\"subscriber\"} 0",
    ];
    let deadline = std::time::Instant::now() + common::WAIT;
    let (head, mut page) = http_get(&format!("{http}/metrics"));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "not Prometheus text: {head}"
    );
    while !gauges.iter().all(|g| page.lines().any(|l| l == *g)) {
        assert!(
            std::time::Instant::now() < deadline,
            "gauges not back to zero after everyone left:\n{page}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
        page = http_get(&format!("{http}/metrics")).1;
    }
}

/// Debian's Janus, as scripts/bench-sfu.sh runs it, on a free loopback port.
struct Janus {
    proc: Proc,
    url: String,
    _dir: tempfile::TempDir,
}

impl Janus {
    fn start() -> Janus {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/janus/run.sh");
        let proc = Proc::spawn_keeping_stderr(
            Command::new(script)
                .arg(port.to_string())
                .arg(dir.path())
                .stderr(Stdio::null()),
        );
        let deadline = std::time::Instant::now() + common::WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "Janus is not listening on {port} (is the janus package installed? scripts/setup.sh installs it)"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Janus {
            proc,
            url: format!("ws://127.0.0.1:{port}"),
            _dir: dir,
        }
    }
}

#[test]
fn the_same_participants_run_against_janus() {
    let janus = Janus::start();
    let janus_pid = janus.proc.child.id().to_string();
    let report = room_load(&[
        &[
            "--janus",
            "--server",
            &janus.url,
            "--sdkappid",
            "1",
            "--secret",
            "unused",
        ],
        &["--publishers", "2", "--subscribers", "5", "--duration", "5"],
        &["--server-pid", &janus_pid],
    ]);
    assert_eq!(report["joins"]["entered"], 7, "{}", report["joins"]);
    for r in report["receivers"].as_array().unwrap() {
        assert_eq!(r["missing"].as_array().unwrap().len(), 0, "{r}");
        for s in r["streams"].as_array().unwrap() {
            assert!(s["packets"].as_u64().unwrap() > 0, "{s}");
        }
    }
    assert_senders_unthrottled(&report);
    let totals = &report["totals"];
    assert_eq!(totals["streams_missing"], 0, "{totals}");
    assert!(
        totals["video_kbps_min"].as_f64().unwrap() > 100.0,
        "{totals}"
    );
    // Janus's CPU per packet is read from its process, over what the receivers counted.
    let per_packet = report["server"]["cpu_us_per_packet"].as_f64();
    assert!(
        per_packet.is_some_and(|us| us > 0.0),
        "{}",
        report["server"]
    );
}

/// Both publishers sent the clip, and the server's feedback kept their congestion controllers
/// well above it: a server whose feedback reads as loss (as Janus's once did, see
/// `answer_with_audio_transport_cc` in crates/load) throttles senders to 100 kbps, and the
/// comparison would measure less load than it claims.
fn assert_senders_unthrottled(report: &serde_json::Value) {
    let senders = report["senders"].as_array().unwrap();
    assert_eq!(senders.len(), 2, "{senders:?}");
    for s in senders {
        assert!(s["packets"].as_u64().unwrap() > 0, "{s}");
        assert!(
            s["target_kbps"].as_f64().unwrap() >= 500.0,
            "throttled: {s}"
        );
    }
}

/// Runs room-load with these flags, and small pictures: the debug-built stack on two shared
/// cores is what is being tested, not how much it carries (docs/benchmarks.md has those
/// figures, from release builds). Its JSON report.
fn room_load(flags: &[&[&str]]) -> serde_json::Value {
    let out = Command::new(bin("room-load"))
        .args(flags.concat())
        .args(["--video", "320x180", "--fps", "15", "--video-kbps", "200"])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "room-load failed: {:?}", out.status);
    serde_json::from_slice(&out.stdout).unwrap()
}
