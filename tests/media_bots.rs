//! Screen sharing as QA scripts drive it: room-bot processes sharing a real X display (Xvfb)
//! through room-server's SFU, the one-sharer rule, and a capture that fails for a real reason.

mod common;
use common::*;

/// The next event named `name` whose `key` equals `value`.
fn until_with(p: &mut Proc, name: &str, key: &str, value: serde_json::Value) -> serde_json::Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let e = p.until(name);
        if e[key] == value {
            return e;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {name} with {key} = {value}"
        );
    }
}

#[test]
fn a_shared_screen_reaches_a_subscriber_and_a_second_sharer_is_refused() {
    let display = Display::start("640x480x24", &[]);
    let env = [("DISPLAY", display.name())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = RoomServer::start(&[]);
    let mut host = bot_env(&server.url, "host", 60, &["--screen"], &env);
    host.until("onScreenCaptureStarted");
    host.until("onSendFirstLocalVideoFrame");

    let mut viewer = bot(&server.url, "viewer", 60, &["--subscribe"]);
    until_with(
        &mut viewer,
        "onUserSubStreamAvailable",
        "userId",
        "host".into(),
    );
    let first = until_with(&mut viewer, "onFirstVideoFrame", "userId", "host".into());
    assert_eq!(first["streamType"], 2, "{first}");
    assert_eq!(
        (first["width"].as_i64(), first["height"].as_i64()),
        (Some(640), Some(480))
    );

    // A second sharer is refused by the server and stays in the room.
    let mut second = bot_env(&server.url, "second", 60, &["--screen"], &env);
    let err = second.until("onError");
    assert_eq!(err["errCode"], -102016, "{err}");
    second.until("onScreenCaptureStopped");
    second.signal("TERM");
    assert_eq!(second.wait(), 0, "the refused sharer left normally");

    host.signal("TERM");
    let stopped = host.until("onScreenCaptureStopped");
    assert_eq!(stopped["reason"], 0);
    assert_eq!(host.wait(), 0);
    viewer.signal("TERM");
    assert_eq!(viewer.wait(), 0);
}

#[test]
fn a_capture_without_shared_memory_fails_with_1308_and_the_bot_stays_in_the_room() {
    let display = Display::start("640x480x24", &["-extension", "MIT-SHM"]);
    let name = display.name();
    let server = RoomServer::start(&[]);
    let mut host = bot_env(
        &server.url,
        "host",
        61,
        &["--screen"],
        &[("DISPLAY", &name)],
    );
    assert!(host.until("onEnterRoom")["result"].as_i64().unwrap() > 0);
    let err = host.until("onError");
    assert_eq!(err["errCode"], -1308, "{err}");
    assert!(
        err["errMsg"].as_str().unwrap().contains("MIT-SHM"),
        "the reason is named: {err}"
    );
    let mut other = bot(&server.url, "other", 61, &["--duration", "0"]);
    assert_eq!(
        other.until("onRemoteUserEnterRoom")["userId"],
        "host",
        "the host is still in the room"
    );
    assert_eq!(other.wait(), 0);
    host.signal("TERM");
    assert_eq!(host.wait(), 0);
}
