//! How long the page's main thread stalls while a person uses the app in a 4-person call: the
//! real app under Xvfb (WebDriver), three room-bots sending 640x360@15 and a tone, and the
//! page's own `requestAnimationFrame` callbacks timed in the page. A gap between two callbacks
//! is a moment the window could not repaint; anything over 100 ms is a visible freeze.
//!
//! Phases: joining, toggling the camera and the microphone, opening the share picker (and how
//! long from the click to the picker on screen), opening the device dialog (and how long until
//! its pickers are filled). Run with `scripts/bench-ui.sh` (release profile); figures go to
//! docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::webdriver::Gui;
use common::*;
use std::time::Duration;

/// Records every gap between animation frames, labelled with the phase it fell in.
const RECORDER: &str = r#"
window.__phase = 'idle';
window.__gaps = {};
let last = performance.now();
const frame = (t) => {
  const gap = t - last;
  last = t;
  const p = window.__phase;
  (window.__gaps[p] = window.__gaps[p] || []).push(gap);
  requestAnimationFrame(frame);
};
requestAnimationFrame(frame);
"#;

/// Clicks `arguments[0]` inside the page and resolves with the ms until the condition named
/// `arguments[1]` holds, polled every animation frame. (The page's CSP forbids building a
/// function from a string, so the conditions are spelled out here.)
const CLICK_UNTIL: &str = r#"
const done = arguments[arguments.length - 1];
const q = (id) => document.querySelector(`[data-testid='${id}']`);
const pickers = ['camera-device', 'mic-device', 'speaker-device'].map((id) => document.getElementById(id));
const ready = {
  picker: () => !q('screen-picker').hidden,
  sources: () => !q('screen-picker').hidden && !!q('screen-source-0'),
  dialog: () => !document.getElementById('video-settings').hidden,
  devices: () => !document.getElementById('video-settings').hidden
    && pickers.every((p) => p.options.length > 0 && !p.dataset.loading),
}[arguments[1]];
const t0 = performance.now();
q(arguments[0]).click();
const poll = () => ready() ? done(performance.now() - t0) : requestAnimationFrame(poll);
poll();
"#;

fn phase_report(gaps: &serde_json::Value, phase: &str) -> (f64, f64, usize) {
    let mut v: Vec<f64> = gaps[phase]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
        .unwrap_or_default();
    v.sort_by(|a, b| a.total_cmp(b));
    let max = v.last().copied().unwrap_or(0.0);
    let p99 = v
        .get(((v.len() as f64) * 0.99) as usize)
        .copied()
        .unwrap_or(max);
    (max, p99, v.iter().filter(|g| **g > 100.0).count())
}

async fn set_phase(gui: &Gui, phase: &str) {
    gui.js("window.__phase = arguments[0];", vec![phase.into()])
        .await;
}

async fn click_until(gui: &Gui, testid: &str, ready: &str) -> f64 {
    gui.client
        .execute_async(CLICK_UNTIL, vec![testid.into(), ready.into()])
        .await
        .unwrap()
        .as_f64()
        .unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let server = RoomServer::start(&[]);
    let room = 4100 + (now() % 500) as u32;
    let mut bots: Vec<Proc> = ["bob", "cat", "dan"]
        .iter()
        .map(|u| {
            bot(
                &server.url,
                u,
                room,
                &["--camera", "synthetic", "--mic", "synthetic"],
            )
        })
        .collect();
    for b in &mut bots {
        b.until("onEnterRoom");
    }
    let args = [
        "--server",
        &server.url,
        "--sdkappid",
        &APP.to_string(),
        "--secret",
        KEY,
        "--camera",
        "synthetic",
        "--mic",
        "synthetic",
        "--speaker",
        "none",
    ];
    let gui = Gui::launch(&args).await;
    gui.js(RECORDER, vec![]).await;
    let ua = gui.js("return navigator.userAgent", vec![]).await;

    set_phase(&gui, "join").await;
    if gui.attr("mic-switch", "aria-checked").await.as_deref() != Some("true") {
        gui.click("mic-switch").await;
    }
    gui.join(&room.to_string(), "alice").await;
    gui.wait_visible("room-screen", true).await;
    for u in ["bob", "cat", "dan"] {
        gui.wait_js(
            &format!("const c = document.querySelector(\"[data-testid='video-tile-{u}'] canvas\"); return c ? Number(c.dataset.frames || 0) : 0;"),
            "remote pictures",
            |v| v.as_u64().unwrap_or(0) >= 10,
        )
        .await;
    }
    set_phase(&gui, "call").await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    set_phase(&gui, "camera").await;
    for _ in 0..3 {
        gui.click("camera-toggle").await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        gui.click("camera-toggle").await;
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    set_phase(&gui, "mic").await;
    for _ in 0..3 {
        gui.click("mic-toggle").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        gui.click("mic-toggle").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    set_phase(&gui, "share-picker").await;
    let (mut picker, mut listed) = (vec![], vec![]);
    for _ in 0..5 {
        picker.push(click_until(&gui, "share-screen", "picker").await);
        gui.client
            .execute(
                "document.querySelector(\"[data-testid='screen-cancel']\").click();",
                vec![],
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        listed.push(click_until(&gui, "share-screen", "sources").await);
        gui.click("screen-cancel").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    set_phase(&gui, "device-dialog").await;
    let (mut shown, mut dialog) = (vec![], vec![]);
    for _ in 0..5 {
        shown.push(click_until(&gui, "video-settings-open", "dialog").await);
        gui.js(
            "document.getElementById('video-settings-cancel').click();",
            vec![],
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Emptied first, so "filled" means filled by this opening.
        gui.js(
            "for (const id of ['camera-device','mic-device','speaker-device']) document.getElementById(id).replaceChildren();",
            vec![],
        )
        .await;
        dialog.push(click_until(&gui, "video-settings-open", "devices").await);
        gui.js(
            "document.getElementById('video-settings-cancel').click();",
            vec![],
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    set_phase(&gui, "end").await;
    let gaps = gui.js("return window.__gaps;", vec![]).await;

    println!("ui_stalls: 4-person call (app + 3 room-bots, 640x360@15 + tone), {ua}");
    println!(
        "| phase | frames | longest gap ms | p99 gap ms | gaps > 100 ms |\n|---|---|---|---|---|"
    );
    for phase in [
        "join",
        "call",
        "camera",
        "mic",
        "share-picker",
        "device-dialog",
    ] {
        let n = gaps[phase].as_array().map_or(0, Vec::len);
        let (max, p99, over) = phase_report(&gaps, phase);
        println!("| {phase} | {n} | {max:.0} | {p99:.0} | {over} |");
    }
    for (what, v) in [
        ("share click -> picker shown", &picker),
        ("share click -> sources listed", &listed),
        ("devices click -> dialog shown", &shown),
        ("devices click -> pickers filled", &dialog),
    ] {
        let max = v.iter().copied().fold(0.0, f64::max);
        println!(
            "{what}: median {:.0} ms, max {max:.0} ms ({} runs)",
            median(v.clone()),
            v.len()
        );
    }
    gui.close().await;
    for b in &bots {
        b.signal("TERM");
    }
    for mut b in bots {
        b.wait();
    }
}
