//! The real app in a call, under Xvfb via WebDriver (qa-contract §4), at 640x360 and 15 fps (the
//! SDK's default camera encoding) to fit 2 cores: its own synthetic camera in the self tile, a
//! room-bot's camera in the bot's tile, both read back from the canvases' pixels; a screen
//! share the bot receives; a remote screen on the stage; and a capture that fails for a real
//! reason (an X server without MIT-SHM) showing the toast while the meeting goes on.

mod common;
use common::webdriver::Gui;
use common::*;
use std::time::{Duration, Instant};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Reads the synthetic pattern's stamp (crates/media/src/stamp.rs: 16 × 8 blocks, magic 0xA5,
/// then 56 bits of capture time and the 32-bit frame counter) from a tile's canvas with
/// getImageData, scaled from the 640-pixel-wide source to the canvas's size. The counter, or
/// null when the canvas shows no readable stamp.
const READ_COUNTER: &str = r#"
const canvas = document.querySelector(`[data-testid='${arguments[0]}'] canvas`);
if (!canvas || canvas.hidden || canvas.width < 160) return null;
const block = 8 * canvas.width / 640;
const img = canvas.getContext('2d').getImageData(0, 0, Math.ceil(16 * block), Math.ceil(8 * block));
const bit = (i) => {
  const x = Math.floor(((i % 16) + 0.5) * block), y = Math.floor((Math.floor(i / 16) + 0.5) * block);
  return img.data[(y * img.width + x) * 4 + 1] > 128 ? 1 : 0;
};
const field = (from, n) => { let v = 0; for (let i = from; i < from + n; i++) v = v * 2 + bit(i); return v; };
if (field(0, 8) !== 0xA5) return null;
return field(64, 32);
"#;

fn remote_args(server: &RoomServer, user_args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "--server",
        &server.url,
        "--sdkappid",
        &APP.to_string(),
        "--secret",
        KEY,
        "--speaker",
        "none",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(user_args.iter().map(|s| s.to_string()));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Waits until the tile's canvas shows a readable counter, then until it has risen by at
/// least `by` (the pictures keep coming, in order).
async fn counter_rises(gui: &Gui, tile: &str, by: u64) -> (u64, u64) {
    let deadline = Instant::now() + common::webdriver::UI_WAIT;
    let mut first = None;
    loop {
        let v = gui.js(READ_COUNTER, vec![tile.into()]).await;
        if let Some(n) = v.as_u64() {
            match first {
                None => first = Some(n),
                Some(f) if n >= f + by => return (f, n),
                Some(f) => assert!(n >= f, "{tile}: counter went back from {f} to {n}"),
            }
        }
        assert!(
            Instant::now() < deadline,
            "{tile}: no rising counter (first {first:?}, last {v})"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// The next event of `p` named `name` with `userId` == `user`.
fn until_user(p: &mut Proc, name: &str, user: &str) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let e = p.until(name);
        if e["userId"] == user {
            return e;
        }
        assert!(Instant::now() < deadline, "no {name} for {user}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_shows_both_cameras_shares_a_screen_and_shows_a_remote_screen() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = RoomServer::start(&[]);
    let args = remote_args(&server, &["--camera", "synthetic", "--mic", "synthetic"]);
    let gui = Gui::launch(&strs(&args)).await;
    // The join form's microphone switch starts off; this call has both.
    gui.click("mic-switch").await;
    gui.join("71", "ann").await;
    gui.wait_visible("room-screen", true).await;
    gui.wait_attr("camera-toggle", "aria-pressed", "true").await;
    gui.wait_attr("mic-toggle", "aria-pressed", "true").await;
    let (a, b) = counter_rises(&gui, "video-tile-self", 10).await;
    eprintln!("self tile: counter {a} → {b}");

    // A bot with camera and microphone appears as a tile showing its pictures, mic on.
    let mut bot1 = bot(
        &server.url,
        "bob",
        71,
        &["--camera", "synthetic", "--mic", "synthetic", "--subscribe"],
    );
    bot1.until("onEnterRoom");
    let (a, b) = counter_rises(&gui, "video-tile-bob", 10).await;
    eprintln!("bob's tile: counter {a} → {b}");
    let mic = gui
        .js(
            "return document.querySelector(`[data-testid='video-tile-bob'] .mic`).dataset.on",
            vec![],
        )
        .await;
    assert_eq!(mic, "true", "bob's microphone shows as on");
    until_user(&mut bot1, "onFirstVideoFrame", "ann");

    // onNetworkQuality on clean loopback: excellent or good both ways, in bob's event lines
    // and on the app's tiles (data-quality, the signal bars).
    let q = loop {
        let e = bot1.until("onNetworkQuality");
        let remote = e["remoteQuality"].as_array().cloned().unwrap_or_default();
        if let Some(ann) = remote.into_iter().find(|r| r["userId"] == "ann") {
            break (e, ann);
        }
    };
    let good = |v: &serde_json::Value| (1..=2).contains(&v.as_u64().unwrap_or(0));
    assert_eq!(q.0["localQuality"]["userId"], "", "{}", q.0);
    assert!(good(&q.0["localQuality"]["quality"]), "bob's own: {}", q.0);
    assert!(good(&q.1["quality"]), "bob's grade of ann: {}", q.0);
    for tile in ["video-tile-self", "video-tile-bob"] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let grade = gui.attr(tile, "data-quality").await.unwrap_or_default();
            if grade == "1" || grade == "2" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{tile} shows network quality {grade:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // What the frame path costs: pulls of a picture already there (no waiting), each one
    // scaled, converted and carried to the page as an ArrayBuffer, then drawn.
    let cost = gui
        .client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            const { invoke } = window.__TAURI__.core;
            const c = document.createElement('canvas').getContext('2d');
            (async () => {
              const e = await invoke('video_endpoint');
              const ws = new WebSocket(`${e.base}/${e.token}/bob%3A0`);
              ws.binaryType = 'arraybuffer';
              await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
              const runs = 60; let bytes = 0, pull = 0, draw = 0;
              for (let i = 0; i < runs; i++) {
                const t0 = performance.now();
                const got = new Promise((ok) => (ws.onmessage = (m) => ok(m.data)));
                ws.send(JSON.stringify({ after: 0, maxWidth: 640, maxHeight: 360 }));
                const buf = await got;
                const t1 = performance.now();
                const v = new DataView(buf); const w = v.getUint32(0, true), h = v.getUint32(4, true);
                c.putImageData(new ImageData(new Uint8ClampedArray(buf, 16, w * h * 4), w, h), 0, 0);
                draw += performance.now() - t1; pull += t1 - t0; bytes = buf.byteLength;
              }
              let small = 0;
              for (let i = 0; i < runs; i++) {
                const t0 = performance.now();
                const got = new Promise((ok) => (ws.onmessage = (m) => ok(m.data)));
                ws.send(JSON.stringify({ after: 0, maxWidth: 64, maxHeight: 36 }));
                await got;
                small += performance.now() - t0;
              }
              ws.close();
              const cost = await invoke('video_path_cost');
              done({ pullMs: pull / runs, drawMs: draw / runs, bytes, renderUs: cost.renderUsPerFrame, smallPullMs: small / runs });
            })().catch((e) => done({ error: String(e) }));"#,
            vec![],
        )
        .await
        .unwrap();
    assert!(cost.get("error").is_none(), "{cost}");
    assert_eq!(
        cost["bytes"],
        16 + 640 * 360 * 4,
        "a full 640x360 RGBA picture"
    );
    eprintln!("frame path at 640x360: {cost}");

    // The statistics overlay reports bob's stream as it arrives.
    gui.click("stats-toggle").await;
    gui.wait_attr("stats-toggle", "aria-pressed", "true").await;
    gui.wait_js(
        "return document.querySelector(`[data-testid='video-tile-bob'] .stats`).textContent",
        "bob's overlay shows his 640x360 stream",
        |t| {
            t.as_str()
                .is_some_and(|t| t.contains("640x360") && t.contains("fps"))
        },
    )
    .await;

    // Microphone and camera off and on: the others see it, the self tile follows.
    gui.click("mic-toggle").await;
    gui.wait_attr("mic-toggle", "aria-pressed", "false").await;
    let off = until_user(&mut bot1, "onUserAudioAvailable", "ann");
    assert_eq!(off["available"], false);
    gui.click("camera-toggle").await;
    gui.wait_attr("camera-toggle", "aria-pressed", "false")
        .await;
    let off = until_user(&mut bot1, "onUserVideoAvailable", "ann");
    assert_eq!(off["available"], false);
    assert!(gui
        .js(READ_COUNTER, vec!["video-tile-self".into()])
        .await
        .is_null());
    gui.click("camera-toggle").await;
    let on = until_user(&mut bot1, "onUserVideoAvailable", "ann");
    assert_eq!(on["available"], true);
    counter_rises(&gui, "video-tile-self", 5).await;

    // Sharing: the picker lists the app's screen; the bot receives the sub stream; the
    // camera gives way while sharing and comes back afterwards.
    gui.click("share-screen").await;
    gui.click("screen-source-0").await;
    gui.wait_attr("share-screen", "aria-pressed", "true").await;
    gui.wait_visible("screen-stage", true).await;
    gui.wait_text("screen-stage", |t| t.contains("You are sharing"))
        .await;
    let sub = until_user(&mut bot1, "onUserSubStreamAvailable", "ann");
    assert_eq!(sub["available"], true);
    let first = loop {
        let e = until_user(&mut bot1, "onFirstVideoFrame", "ann");
        if e["streamType"] == 2 {
            break e;
        }
    };
    assert_eq!(
        (first["width"].as_u64(), first["height"].as_u64()),
        (Some(1280), Some(800))
    );
    gui.click("share-screen").await;
    gui.wait_attr("share-screen", "aria-pressed", "false").await;
    gui.wait_visible("screen-stage", false).await;
    counter_rises(&gui, "video-tile-self", 5).await;

    // A second bot shares the app's own display: it takes the stage, and pictures arrive.
    let display = gui.display.name();
    let mut bot2 = bot_env(
        &server.url,
        "cat",
        71,
        &["--screen"],
        &[("DISPLAY", display.as_str())],
    );
    bot2.until("onScreenCaptureStarted");
    gui.wait_visible("screen-stage", true).await;
    gui.wait_text("screen-stage", |t| t.contains("cat is sharing"))
        .await;
    gui.wait_js(
        "return Number(document.querySelector(`[data-testid='screen-stage'] canvas`).dataset.frames || 0)",
        "the stage draws pictures of cat's screen",
        |frames| frames.as_u64() >= Some(5),
    )
    .await;
    if let Ok(dir) = std::env::var("TRTC_SCREENSHOT_DIR") {
        let png = gui.client.screenshot().await.unwrap();
        std::fs::write(format!("{dir}/three-party-call.png"), png).unwrap();
    }
    bot2.signal("TERM");
    assert_eq!(bot2.wait(), 0);
    gui.wait_visible("screen-stage", false).await;
    bot1.signal("TERM");
    assert_eq!(bot1.wait(), 0);
    gui.wait_visible("video-tile-bob", false).await;
    gui.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screen_capture_that_fails_shows_the_toast_and_the_meeting_goes_on() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = RoomServer::start(&[]);
    let args = remote_args(&server, &["--camera", "synthetic", "--mic", "none"]);
    let dir = tempfile::tempdir().unwrap();
    // The app's own X server lacks MIT-SHM, which scrap's capture needs.
    let gui = Gui::launch_on(dir.path(), &["-extension", "MIT-SHM"], &strs(&args)).await;
    gui.join("72", "dan").await;
    gui.wait_visible("room-screen", true).await;
    counter_rises(&gui, "video-tile-self", 5).await;
    gui.click("share-screen").await;
    gui.click("screen-source-0").await;
    gui.wait_text("toast", |t| t == "Failed to initiate screen recording")
        .await;
    gui.wait_attr("share-screen", "aria-pressed", "false").await;
    assert!(gui.visible("room-screen").await, "still in the meeting");
    assert!(!gui.visible("error-dialog").await);
    // The camera preview is back.
    gui.wait_attr("camera-toggle", "aria-pressed", "true").await;
    counter_rises(&gui, "video-tile-self", 5).await;

    // Devices and video: the pickers list what the system has; a smaller resolution applies
    // to the running camera.
    gui.click("video-settings-open").await;
    gui.wait_js(
        "return ['camera-device', 'mic-device', 'speaker-device'].map((id) => document.getElementById(id).options.length)",
        "every device picker lists something",
        |counts| counts.as_array().is_some_and(|c| c.iter().all(|n| n.as_u64() >= Some(1))),
    )
    .await;
    gui.select("video-resolution", "320x180").await;
    gui.click("video-settings-apply").await;
    gui.wait_text("toast", |t| t == "Video settings applied")
        .await;
    gui.wait_js(
        "return document.querySelector(`[data-testid='video-tile-self'] canvas`).width",
        "the self tile shows the 320-pixel picture",
        |w| *w == 320,
    )
    .await;
    gui.close().await;
}
