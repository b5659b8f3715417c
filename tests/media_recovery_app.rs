//! The real app when a participant's process is killed mid-call (issue 8): their tile goes to
//! the placeholder within seconds instead of freezing on the last picture for the 90 s drop
//! timeout, while they stay in the member list until that timeout, as TRTC does.

mod common;
use common::webdriver::Gui;
use common::*;
use std::time::{Duration, Instant};

/// Whether a tile shows pictures (its canvas) rather than the placeholder (the avatar).
const SHOWS_VIDEO: &str = r#"
const tile = document.querySelector(`[data-testid='${arguments[0]}']`);
if (!tile) return null;
return { canvas: !tile.querySelector('canvas').hidden, avatar: !tile.querySelector('.avatar').hidden,
         frames: Number(tile.querySelector('canvas').dataset.frames || 0) };
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_participants_tile_shows_the_placeholder_not_a_frozen_picture() {
    let server = RoomServer::start(&[]);
    let args = [
        "--server",
        &server.url,
        "--sdkappid",
        &APP.to_string(),
        "--secret",
        KEY,
        "--camera",
        "none",
        "--mic",
        "none",
        "--speaker",
        "none",
    ];
    let gui = Gui::launch(&args).await;
    gui.click("camera-switch").await; // nothing of our own to show
    gui.join("72", "ann").await;
    gui.wait_visible("room-screen", true).await;
    let mut bob = bot(
        &server.url,
        "bob",
        72,
        &["--camera", "synthetic", "--mic", "synthetic"],
    );
    bob.until("onEnterRoom");
    gui.wait_js(
        &SHOWS_VIDEO.replace("arguments[0]", "'video-tile-bob'"),
        "bob's tile draws his pictures",
        |v| v["canvas"] == true && v["frames"].as_u64().unwrap_or(0) >= 5,
    )
    .await;

    bob.child.kill().unwrap(); // SIGKILL: no exitRoom, no goodbye
    let killed = Instant::now();
    let state = gui
        .wait_js(
            &SHOWS_VIDEO.replace("arguments[0]", "'video-tile-bob'"),
            "bob's tile goes to the placeholder",
            |v| v["canvas"] == false && v["avatar"] == true,
        )
        .await;
    eprintln!(
        "kill: bob's tile showed the placeholder {:.1} s after the kill ({state})",
        killed.elapsed().as_secs_f64()
    );
    assert!(
        killed.elapsed() < Duration::from_secs(10),
        "far sooner than the drop timeout"
    );
    assert!(
        gui.visible("member-bob").await,
        "bob is still a member until the drop timeout"
    );
    gui.close().await;
}
