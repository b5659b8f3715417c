//! End to end: the real app binary under Xvfb, clicked through with WebDriver as QA would
//! (qa-contract §4). One app at a time: WebKit is heavy for a 2-core machine.

mod common;
use common::webdriver::Gui;
use common::*;

/// Held for a whole test; an async mutex, since each test awaits while holding it.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn remote_args(server: &RoomServer, secret: &str) -> Vec<String> {
    vec![
        "--server".into(),
        server.url.clone(),
        "--sdkappid".into(),
        APP.to_string(),
        "--secret".into(),
        secret.into(),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn valid_join_on_the_built_in_server_then_leave() {
    let _one = ONE_AT_A_TIME.lock().await;
    let gui = Gui::launch(&[]).await;
    assert!(gui
        .wait_text("connection-info", |_| true)
        .await
        .starts_with("Built-in server"));
    assert_eq!(
        gui.attr("camera-switch", "aria-checked").await.as_deref(),
        Some("true")
    );
    assert_eq!(
        gui.attr("mic-switch", "aria-checked").await.as_deref(),
        Some("false")
    );
    assert!(!gui.visible("role").await, "role is only for live scenes");
    gui.select("scene", "live").await;
    assert!(gui.visible("role").await);
    gui.select("scene", "videocall").await;

    gui.join("123", "alice").await;
    gui.wait_text("toast", |t| t == "Enter room success").await;
    gui.wait_visible("room-screen", true).await;
    assert!(gui
        .wait_text("room-title", |t| t.contains("123"))
        .await
        .contains("123"));
    assert!(gui
        .wait_text("member-alice", |t| t.contains("you"))
        .await
        .contains("alice"));

    // A second client finds the built-in server through the config folder and joins the room.
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(gui.config_dir.join("local-server.json")).unwrap())
            .unwrap();
    let keys: toml::Value =
        toml::from_str(&std::fs::read_to_string(gui.config_dir.join("local-server.toml")).unwrap())
            .unwrap();
    let mut cmd = std::process::Command::new(bin("room-bot"));
    cmd.args([
        "--server",
        info["url"].as_str().unwrap(),
        "--sdkappid",
        &keys["sdk_app_id"].as_integer().unwrap().to_string(),
    ])
    .args([
        "--secret",
        keys["secret"].as_str().unwrap(),
        "--userid",
        "bob",
        "--roomid",
        "123",
        "--duration",
        "30",
    ]);
    let mut bob = Proc::spawn(&mut cmd);
    assert_eq!(bob.until("onRemoteUserEnterRoom")["userId"], "alice");
    gui.wait_visible("member-bob", true).await;

    gui.click("leave-room").await;
    gui.click("leave-confirm").await;
    gui.wait_visible("join-screen", true).await;
    assert_eq!(bob.until("onRemoteUserLeaveRoom")["userId"], "alice");
    gui.close().await;
}

#[tokio::test]
async fn invalid_input_shows_the_rule_with_its_code_and_sends_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = RoomServer::start(&[]);
    let mut watcher = bot(&server.url, "watcher", 55, &[]);
    assert!(watcher.event()["result"].as_i64().unwrap() > 0);
    let gui = Gui::launch(&strs(&remote_args(&server, KEY))).await;

    gui.join("55", "bad id").await;
    let msg = gui.wait_text("validation-message", |t| !t.is_empty()).await;
    assert_eq!(
        gui.attr("validation-message", "data-code").await.as_deref(),
        Some("-3319")
    );
    assert!(msg.contains("letters, digits"), "{msg}");
    assert!(gui.visible("join-screen").await);

    gui.join("not-a-number", "alice").await;
    gui.wait_text("validation-message", |t| t.contains("digits only"))
        .await;
    assert_eq!(
        gui.attr("validation-message", "data-code").await.as_deref(),
        Some("-3318")
    );

    gui.join("", "alice").await;
    // The form clears the last message and sets the new one once the check returns: wait for
    // this one's words, then read its code.
    gui.wait_text("validation-message", |t| t.contains("Enter a room ID"))
        .await;
    assert_eq!(
        gui.attr("validation-message", "data-code").await.as_deref(),
        Some("-3318")
    );

    // Nothing reached the room: the watcher saw no one enter.
    watcher.signal("TERM");
    assert_eq!(watcher.until("onExitRoom")["reason"], 0);
    watcher.wait();
    assert!(
        !watcher
            .seen
            .iter()
            .any(|l| l.contains("onRemoteUserEnterRoom")),
        "{:?}",
        watcher.seen
    );
    gui.close().await;
}

#[tokio::test]
async fn rejected_user_sig_shows_the_error_dialog_and_confirm_returns_to_join() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = RoomServer::start(&[]);
    let gui = Gui::launch(&strs(&remote_args(&server, "not-the-secret"))).await;
    assert!(gui
        .wait_text("connection-info", |_| true)
        .await
        .contains("test signing"));
    gui.join("77", "alice").await;
    gui.wait_visible("error-dialog", true).await;
    let msg = gui
        .wait_text("error-dialog-message", |t| !t.is_empty())
        .await;
    assert!(msg.contains("-100018"), "{msg}");
    assert!(!gui.visible("room-screen").await);
    gui.click("error-dialog-confirm").await;
    gui.wait_visible("error-dialog", false).await;
    assert!(gui.visible("join-screen").await);
    gui.close().await;
}

#[tokio::test]
async fn a_bot_appears_in_the_member_list_and_disappears_when_it_leaves() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = RoomServer::start(&[]);
    let gui = Gui::launch(&strs(&remote_args(&server, KEY))).await;
    gui.join("88", "alice").await;
    gui.wait_visible("room-screen", true).await;

    let mut bob = bot(&server.url, "bob", 88, &["--duration", "2"]);
    assert_eq!(bob.until("onRemoteUserEnterRoom")["userId"], "alice");
    gui.wait_visible("member-bob", true).await;
    assert_eq!(bob.wait(), 0);
    gui.wait_visible("member-bob", false).await;
    assert!(gui.visible("member-alice").await);

    gui.click("leave-room").await;
    gui.click("leave-confirm").await;
    gui.wait_visible("join-screen", true).await;
    gui.close().await;
}

#[tokio::test]
async fn removed_by_a_newer_session_returns_to_join_with_a_dialog() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = RoomServer::start(&[]);
    let gui = Gui::launch(&strs(&remote_args(&server, KEY))).await;
    gui.join("99", "alice").await;
    gui.wait_visible("room-screen", true).await;
    let mut again = bot(&server.url, "alice", 99, &["--duration", "0"]);
    assert_eq!(again.wait(), 0);
    gui.wait_visible("error-dialog", true).await;
    assert!(gui
        .wait_text("error-dialog-message", |t| !t.is_empty())
        .await
        .contains("removed"));
    assert!(gui.visible("join-screen").await);
    gui.close().await;
}

#[tokio::test]
async fn a_second_instance_joins_the_same_built_in_server() {
    let _one = ONE_AT_A_TIME.lock().await;
    let shared = tempfile::tempdir().unwrap();
    let first = Gui::launch_in(shared.path(), &[]).await;
    first.join("4242", "alice").await;
    first.wait_visible("room-screen", true).await;
    let second = Gui::launch_in(shared.path(), &[]).await;
    second.join("4242", "bob").await;
    second.wait_visible("room-screen", true).await;
    second.wait_visible("member-alice", true).await;
    first.wait_visible("member-bob", true).await;
    // Both windows show the same server.
    let a = first.wait_text("room-title", |_| true).await;
    let b = second.wait_text("room-title", |_| true).await;
    assert_eq!(a, b);
    second.click("leave-room").await;
    // Esc closes the confirmation without leaving.
    second.el("leave-confirm").await;
    second
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys("\u{e00c}")
        .await
        .unwrap();
    second.wait_visible("leave-confirm", false).await;
    assert!(second.visible("room-screen").await);
    second.click("leave-room").await;
    second.click("leave-confirm").await;
    first.wait_visible("member-bob", false).await;
    second.close().await;
    first.close().await;
}

#[tokio::test]
async fn settings_switch_to_a_room_server_and_a_backend_user_sig_works() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = RoomServer::start(&[]);
    let mut watcher = bot(&server.url, "watcher", 31, &[]);
    assert!(watcher.event()["result"].as_i64().unwrap() > 0);

    // Start on the built-in server, then point the app at the room server in settings.
    let gui = Gui::launch(&[]).await;
    gui.click("settings-open").await;
    gui.click("settings-remote").await;
    gui.fill("settings-url", &server.url).await;
    gui.fill("settings-sdkappid", &APP.to_string()).await;
    gui.select("settings-signing", "secret").await;
    gui.fill("settings-secret", KEY).await;
    gui.click("settings-save").await;
    let info = gui
        .wait_text("connection-info", |t| t.contains("127.0.0.1"))
        .await;
    assert!(info.contains("test signing"), "{info}");
    gui.join("31", "alice").await;
    gui.wait_visible("member-watcher", true).await;
    assert_eq!(watcher.until("onRemoteUserEnterRoom")["userId"], "alice");
    // The secret was saved owner-only and is never sent back to the page.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(gui.config_dir.join("settings.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    gui.click("leave-room").await;
    gui.click("leave-confirm").await;
    gui.wait_visible("join-screen", true).await;
    gui.close().await;

    // The production path: a userSig from a backend, issued for one user, fills in the user ID.
    let sig = trtc_usersig::gen_user_sig(APP.into(), KEY, "carol", 600, now());
    let gui = Gui::launch(&[
        "--server",
        &server.url,
        "--sdkappid",
        &APP.to_string(),
        "--usersig",
        &sig,
    ])
    .await;
    assert!(gui
        .wait_text("connection-info", |_| true)
        .await
        .contains("userSig"));
    assert_eq!(
        gui.el("user-id")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("carol")
    );
    gui.fill("room-id", "31").await;
    gui.click("enter-room").await;
    gui.wait_visible("member-watcher", true).await;
    assert_eq!(watcher.until("onRemoteUserEnterRoom")["userId"], "carol");
    gui.close().await;
}
