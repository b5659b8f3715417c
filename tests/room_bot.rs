//! room-bot and room-server as processes, as QA scripts run them (qa-contract §1–§2).

mod common;
use common::*;
use std::process::Command;

#[test]
fn enters_prints_event_lines_and_leaves_with_exit_0() {
    let server = RoomServer::start(&[]);
    let mut b = bot(&server.url, "alice", 1, &["--duration", "0"]);
    let enter = b.event();
    assert_eq!(enter["event"], "onEnterRoom");
    assert!(enter["result"].as_i64().unwrap() >= 1, "{enter}");
    assert_eq!(
        b.event(),
        serde_json::json!({"event": "onExitRoom", "reason": 0})
    );
    assert_eq!(b.wait(), 0);
    assert!(b.seen.len() == 2, "nothing else on stdout: {:?}", b.seen);
}

#[test]
fn failed_entry_prints_on_error_then_on_enter_room_and_exits_2() {
    let server = RoomServer::start(&[]);
    let mut b = bot(&server.url, "alice", 1, &["--secret", "wrong-secret"]);
    let err = b.event();
    assert_eq!(err["event"], "onError");
    assert_eq!(err["errCode"], -100018);
    assert!(
        err["errMsg"].as_str().unwrap().contains("signature"),
        "{err}"
    );
    assert_eq!(
        b.event(),
        serde_json::json!({"event": "onEnterRoom", "result": -100018})
    );
    assert_eq!(b.wait(), 2);
    // A userSig from a backend takes the same path.
    let sig = trtc_usersig::gen_user_sig(APP.into(), KEY, "someone-else", 600, now());
    let mut cmd = Command::new(bin("room-bot"));
    cmd.args([
        "--server",
        &server.url,
        "--sdkappid",
        &APP.to_string(),
        "--userid",
        "alice",
        "--usersig",
        &sig,
        "--roomid",
        "1",
    ]);
    let mut b = Proc::spawn(&mut cmd);
    assert_eq!(b.until("onEnterRoom")["result"], -100018);
    assert_eq!(b.wait(), 2);
}

#[test]
fn bad_command_lines_exit_64_with_nothing_on_stdout() {
    // A complete, valid command line; each case breaks exactly one thing about it.
    let valid = [
        "--server",
        "ws://x",
        "--sdkappid",
        "1",
        "--userid",
        "a",
        "--secret",
        "k",
        "--roomid",
        "1",
    ];
    let without = |flag: &str| -> Vec<&str> {
        let at = valid.iter().position(|a| *a == flag).unwrap();
        valid
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != at && *i != at + 1)
            .map(|(_, a)| *a)
            .collect()
    };
    let with =
        |extra: &[&'static str]| -> Vec<&str> { valid.iter().chain(extra).copied().collect() };
    let replaced = |flag: &str, value: &'static str| -> Vec<&str> {
        let mut v = valid.to_vec();
        let at = v.iter().position(|a| *a == flag).unwrap();
        v[at + 1] = value;
        v
    };
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        without("--secret"),
        without("--roomid"),
        with(&["--scene", "party"]),
        with(&["--role", "king"]),
        replaced("--sdkappid", "nope"),
        with(&["--duration", "-1"]),
        with(&["--camera", "webcam"]),
        with(&["--mic", "loud"]),
        with(&["--video-resolution", "100x100"]),
        with(&["--video-fps", "0"]),
    ];
    for args in &cases {
        let mut b = Proc::spawn(Command::new(bin("room-bot")).args(args));
        assert_eq!(b.wait(), 64, "{args:?}");
        assert!(b.seen.is_empty(), "{args:?} printed {:?}", b.seen);
    }
}

#[test]
fn sees_others_come_and_go_and_leaves_on_sigterm() {
    let server = RoomServer::start(&[]);
    let mut a = bot(&server.url, "alice", 2, &[]);
    assert!(a.event()["result"].as_i64().unwrap() > 0);
    let mut b = bot(&server.url, "bob", 2, &["--duration", "0.5"]);
    assert_eq!(b.until("onRemoteUserEnterRoom")["userId"], "alice");
    assert_eq!(
        a.event(),
        serde_json::json!({"event": "onRemoteUserEnterRoom", "userId": "bob"})
    );
    assert_eq!(
        a.event(),
        serde_json::json!({"event": "onRemoteUserLeaveRoom", "userId": "bob", "reason": 0})
    );
    assert_eq!(b.wait(), 0);
    a.signal("TERM");
    assert_eq!(
        a.event(),
        serde_json::json!({"event": "onExitRoom", "reason": 0})
    );
    assert_eq!(a.wait(), 0);
}

#[test]
fn live_scene_audience_and_string_rooms() {
    let server = RoomServer::start(&[]);
    let mut anchor = bot(
        &server.url,
        "host",
        0,
        &["--str-roomid", "Town Hall", "--scene", "live"],
    );
    assert!(
        anchor.event()["result"].as_i64().unwrap() > 0,
        "{:?}",
        anchor.seen
    );
    let mut viewer = Proc::spawn(Command::new(bin("room-bot")).args([
        "--server",
        &server.url,
        "--sdkappid",
        &APP.to_string(),
        "--userid",
        "viewer",
        "--secret",
        KEY,
        "--str-roomid",
        "Town Hall",
        "--scene",
        "live",
        "--role",
        "audience",
        "--duration",
        "0.3",
    ]));
    assert_eq!(viewer.until("onRemoteUserEnterRoom")["userId"], "host");
    assert_eq!(viewer.wait(), 0);
    anchor.signal("INT");
    assert_eq!(anchor.until("onExitRoom")["reason"], 0);
    assert_eq!(anchor.wait(), 0);
    assert!(
        !anchor.seen.iter().any(|l| l.contains("viewer")),
        "audience is invisible: {:?}",
        anchor.seen
    );
}

#[test]
fn replaced_by_a_newer_session_exits_3() {
    let server = RoomServer::start(&[]);
    let mut first = bot(&server.url, "alice", 3, &[]);
    assert!(first.event()["result"].as_i64().unwrap() > 0);
    let mut second = bot(&server.url, "alice", 3, &["--duration", "0"]);
    assert_eq!(
        first.event(),
        serde_json::json!({"event": "onExitRoom", "reason": 1})
    );
    assert_eq!(first.wait(), 3);
    assert_eq!(second.wait(), 0);
}

#[test]
fn server_gone_for_good_exits_4_after_reconnect_attempts() {
    let mut server = RoomServer::start(&[]);
    let mut b = bot(&server.url, "alice", 4, &["--reconnect-timeout", "1"]);
    assert!(b.event()["result"].as_i64().unwrap() > 0);
    server.proc.child.kill().unwrap();
    assert_eq!(b.event()["event"], "onConnectionLost");
    assert_eq!(b.event()["event"], "onTryToReconnect");
    let err = b.until("onError");
    assert_eq!(err["errCode"], -8);
    assert_eq!(b.wait(), 4);
}

#[test]
fn room_server_stops_cleanly_on_sigterm_and_bots_recover_on_restart() {
    let server = RoomServer::start(&[]);
    let port = server.url.rsplit(':').next().unwrap().to_string();
    let mut b = bot(&server.url, "alice", 5, &[]);
    assert!(b.event()["result"].as_i64().unwrap() > 0);
    let mut server = server;
    server.proc.signal("TERM");
    assert_eq!(server.proc.wait(), 0, "SIGTERM is a clean exit");
    assert_eq!(b.event()["event"], "onConnectionLost");
    let _again = Proc::spawn(Command::new(bin("room-server")).args([
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--app",
        &format!("{APP}:{KEY}"),
    ]));
    b.until("onConnectionRecovery");
    b.signal("TERM");
    assert_eq!(b.until("onExitRoom")["reason"], 0);
    assert_eq!(b.wait(), 0);
}

#[test]
fn room_server_health_and_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\ndrop_timeout = 30\n[[app]]\nsdk_app_id = 77\nsecret = \"from-file\"\n").unwrap();
    let mut cmd = Command::new(bin("room-server"));
    cmd.args(["--config", file.to_str().unwrap()]);
    let mut p = Proc::spawn(&mut cmd);
    let addr = p.line().strip_prefix("listening on ").unwrap().to_string();
    let mut b = Proc::spawn(Command::new(bin("room-bot")).args([
        "--server",
        &format!("ws://{addr}"),
        "--sdkappid",
        "77",
        "--userid",
        "u",
        "--secret",
        "from-file",
        "--roomid",
        "1",
        "--duration",
        "0",
    ]));
    assert!(b.event()["result"].as_i64().unwrap() > 0);
    assert_eq!(b.wait(), 0);
    // A broken config file is a clear error, not a panic.
    std::fs::write(&file, "listen = 5\n").unwrap();
    let out = Command::new(bin("room-server"))
        .args(["--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("server.toml"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
