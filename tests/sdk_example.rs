//! The SDK guide's example (crates/sdk/examples/enter_room.rs) runs against a room-server
//! process and enters the room, as the guide promises.

mod common;
use common::*;
use std::process::Command;

#[test]
fn enter_room_example_enters_and_leaves() {
    let server = RoomServer::start(&[]);
    let mut watcher = bot(
        &server.url,
        "watcher",
        123321,
        &["--scene", "live", "--duration", "20"],
    );
    assert!(watcher.event()["result"].as_i64().unwrap() > 0);
    let example = bin("examples/enter_room");
    let out = Command::new(example)
        .args(["denny", "123321"])
        .env("TRTC_SERVER_URL", &server.url)
        .env("TRTC_SDKAPPID", APP.to_string())
        .env("TRTC_SECRET", KEY)
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Enter room success"), "{stdout}");
    assert!(stdout.contains("watcher is in the room"), "{stdout}");
    assert!(stdout.contains("Exit room (0)"), "{stdout}");
    // The watcher saw denny come and go.
    assert_eq!(watcher.until("onRemoteUserEnterRoom")["userId"], "denny");
    assert_eq!(watcher.until("onRemoteUserLeaveRoom")["reason"], 0);
}
