//! TRTC's `enableAdjustRes`: the sender's camera (640x360, 550 kbps, floor 330) goes through a
//! link that falls from 2 Mbps to 300 kbps for 12 s and comes back. What the person on the
//! other side notices: the pictures get smaller (320x180) and keep coming at a watchable rate
//! instead of a slide show, and once the link has room again they are full size again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::relay::{relayed_server, sender_and_receiver};
use std::time::{Duration, Instant};
use trtc_media::stamp;
use trtc_netlab::Impairment;
use trtc_sdk::TrtcVideoEncParam;

const HIGH: u64 = 2_000_000;
const LOW: u64 = 300_000;
const BEFORE: Duration = Duration::from_secs(5);
const SQUEEZE: Duration = Duration::from_secs(12);
/// The way back up is careful (5 % a second from where it backed off to, see the publisher's
/// `CarefulRamp`), and the full size waits for 6 s of room.
const AFTER: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_squeeze_makes_the_picture_smaller_not_a_slide_show_and_room_restores_it() {
    let base = 46_000 + (std::process::id() % 1_000) as u16 * 10;
    let (relay, server) = relayed_server(base).await;
    let cap = |bps| Impairment {
        up_rate_bps: Some(bps),
        ..Impairment::default()
    };
    relay.set(cap(HIGH));
    let (sender, _receiver, pictures) = sender_and_receiver(&server.url, 93, false).await;
    sender.cloud.set_video_encoder_param(TrtcVideoEncParam {
        enable_adjust_res: true,
        ..TrtcVideoEncParam::default()
    });

    // Every picture's width and stamp counter, and when it arrived.
    let run = BEFORE + SQUEEZE + AFTER;
    let seen = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let mut seen = vec![];
        while start.elapsed() < run {
            if let Ok(f) = pictures.recv_timeout(Duration::from_millis(100)) {
                let counter = stamp::read(&f).expect("a readable stamp").counter;
                seen.push((Instant::now(), f.width, counter));
            }
        }
        seen
    });
    tokio::time::sleep(BEFORE).await;
    let squeezed = Instant::now();
    relay.set(cap(LOW));
    tokio::time::sleep(SQUEEZE).await;
    let healed = Instant::now();
    relay.set(cap(HIGH));
    let seen = seen.await.unwrap();
    server.shutdown().await.unwrap();

    let widths = |from: Instant, to: Instant| -> Vec<usize> {
        let mut w: Vec<usize> = seen
            .iter()
            .filter(|(at, _, _)| *at >= from && *at < to)
            .map(|(_, w, _)| *w)
            .collect();
        w.dedup();
        w
    };
    eprintln!(
        "widths before {:?}, in the squeeze {:?}, after {:?}",
        widths(squeezed - Duration::from_secs(2), squeezed),
        widths(squeezed, healed),
        widths(healed, healed + AFTER)
    );
    assert!(
        seen.windows(2).all(|w| w[1].2 > w[0].2),
        "pictures in order"
    );
    assert_eq!(
        widths(squeezed - Duration::from_secs(2), squeezed),
        vec![640],
        "full size on a 2 Mbps link"
    );
    let late_squeeze = squeezed + Duration::from_secs(6);
    assert_eq!(
        widths(late_squeeze, healed),
        vec![320],
        "half size from 6 s into the squeeze"
    );
    let shown = seen
        .iter()
        .filter(|(at, _, _)| *at >= late_squeeze && *at < healed)
        .count();
    let fps = shown as f64 / healed.duration_since(late_squeeze).as_secs_f64();
    // Without adjustRes the same link gave ~3 pictures a second (docs/benchmarks.md).
    assert!(fps >= 6.0, "{fps:.1} pictures a second at half size");
    assert!(
        widths(healed, healed + AFTER).last() == Some(&640),
        "full size again once the link has room"
    );
}
