//! A link that steps down and back up: the sender's way up is capped at 2 Mbps, then 300 kbps
//! for 15 s, then 2 Mbps again (`trtc-netlab`'s relay: a token bucket with a 300 ms queue). The
//! sender publishes the synthetic camera (550 kbps, 15 fps) and the tone. What a person on the
//! other side notices: pictures keep coming through the squeeze (after the first 4 s of it, the
//! stamp counter rises in every 2 s window), and the sender's rate ends under the link (over
//! the squeeze's last 4 s).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::relay::{relayed_server, sender_and_receiver};
use std::time::{Duration, Instant};
use trtc_media::stamp;
use trtc_netlab::Impairment;
use trtc_sdk::TrtcEvent;

const HIGH: u64 = 2_000_000;
const LOW: u64 = 300_000;
const SQUEEZE: Duration = Duration::from_secs(15);

/// The sender's send rate in one onStatistics, kbps (its video and audio).
fn sent_kbps(e: &TrtcEvent) -> Option<u32> {
    match e {
        TrtcEvent::Statistics(s) => Some(
            s.local_statistics_array
                .iter()
                .map(|l| l.video_bitrate + l.audio_bitrate)
                .sum(),
        ),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pictures_keep_coming_through_a_squeeze_and_the_rate_gets_under_the_link() {
    let base = 42_000 + (std::process::id() % 1_000) as u16 * 10;
    let (relay, server) = relayed_server(base).await;
    relay.set(Impairment {
        up_rate_bps: Some(HIGH),
        ..Impairment::default()
    });
    let (mut sender, _receiver, pictures) = sender_and_receiver(&server.url, 92, true).await;
    sender.wants_statistics = true;

    // Every picture's stamp counter and when it arrived, until the end of the run.
    let run = Duration::from_secs(4) + SQUEEZE + Duration::from_secs(8);
    let seen = tokio::task::spawn_blocking(move || {
        let first = pictures
            .recv_timeout(Duration::from_secs(10))
            .expect("a first picture");
        let start = Instant::now();
        let mut seen = vec![(start, stamp::read(&first).expect("a stamp").counter)];
        while start.elapsed() < run {
            if let Ok(f) = pictures.recv_timeout(Duration::from_millis(100)) {
                seen.push((Instant::now(), stamp::read(&f).expect("a stamp").counter));
            }
        }
        seen
    });

    tokio::time::sleep(Duration::from_secs(4)).await;
    let _ = sender.collect(Duration::from_millis(10)).await;
    let squeezed = Instant::now();
    relay.set(Impairment {
        up_rate_bps: Some(LOW),
        ..Impairment::default()
    });
    // One report every 2 s: the first covers the time just before the squeeze too.
    let during: Vec<u32> = sender
        .collect(SQUEEZE)
        .await
        .iter()
        .filter_map(sent_kbps)
        .collect();
    relay.set(Impairment {
        up_rate_bps: Some(HIGH),
        ..Impairment::default()
    });
    let seen = seen.await.unwrap();
    eprintln!("the sender's rate through the squeeze, every 2 s (kbps): {during:?}");
    eprintln!(
        "dropped at the link: {}",
        relay
            .counters
            .queue_dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    );

    // Pictures after the first 4 s of the squeeze, in 2 s windows.
    let mut stalls = vec![];
    let mut t = squeezed + Duration::from_secs(4);
    while t + Duration::from_secs(2) <= squeezed + SQUEEZE {
        let shown = seen
            .iter()
            .filter(|(at, _)| *at >= t && *at < t + Duration::from_secs(2))
            .count();
        if shown == 0 {
            stalls.push(t.duration_since(squeezed));
        }
        t += Duration::from_secs(2);
    }
    let longest = seen
        .windows(2)
        .map(|w| w[1].0.duration_since(w[0].0))
        .max()
        .unwrap_or_default();
    eprintln!(
        "{} pictures; longest gap {longest:?}; windows without one: {stalls:?}",
        seen.len()
    );
    assert!(
        seen.windows(2).all(|w| w[1].1 > w[0].1),
        "pictures in order"
    );
    assert!(
        stalls.is_empty(),
        "2 s windows of the squeeze (after its first 4 s) without a picture, from: {stalls:?}"
    );
    // Over the squeeze's last 4 s (two reports): one 2 s report may hold a keyframe, which
    // alone is 60-100 kbps of it at this rate, while the link's queue smooths it out.
    let tail = &during[during.len().saturating_sub(2)..];
    assert!(!tail.is_empty(), "reports in the squeeze");
    let last = tail.iter().map(|k| u64::from(*k)).sum::<u64>() / tail.len() as u64;
    assert!(
        last * 1000 < LOW,
        "the sender ends under the 300 kbps link: {during:?}"
    );
    server.shutdown().await.unwrap();
}
