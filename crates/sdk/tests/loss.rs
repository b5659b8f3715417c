//! Lost packets are recovered: the room server advertises a relay in front of its media ports
//! that drops every 20th RTP packet a client sends (5 % loss on the way up, RTCP untouched),
//! and the receiver still decodes the sender's pictures with their frame counters nearly
//! unbroken. Without retransmission each loss would break a picture and freeze the stream
//! until the next keyframe. The sender's onStatistics says what the link does: upLoss ≈ 5 %.
//!
//! The relay is `common::relay`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::relay::{relayed_server, sender_and_receiver};
use std::sync::atomic::Ordering;
use std::time::Duration;
use trtc_media::stamp;
use trtc_netlab::Impairment;
use trtc_sdk::TrtcEvent;

const DROP_EVERY: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_packets_are_recovered_and_pictures_keep_coming() {
    let base = 30_000 + (std::process::id() % 2_000) as u16 * 10;
    let (relay, server) = relayed_server(base).await;
    relay.set(Impairment {
        drop_every_rtp_up: Some(DROP_EVERY),
        ..Impairment::default()
    });
    let counters = &relay.counters;
    let (mut sender, _receiver, rx) = sender_and_receiver(&server.url, 90, false).await;
    sender.wants_statistics = true;

    let counters_seen = tokio::task::spawn_blocking(move || {
        // From the first picture on (the decoder waits for a keyframe), for 6 s.
        let first = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a first picture");
        let mut seen = vec![stamp::read(&first).expect("a stamp").counter];
        let end = std::time::Instant::now() + Duration::from_secs(6);
        while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
            if let Ok(f) = rx.recv_timeout(left) {
                seen.push(stamp::read(&f).expect("a stamp").counter);
            }
        }
        seen
    })
    .await
    .unwrap();

    // The sender's reports of those seconds (queued on its stream meanwhile) and one more.
    let reports: Vec<u32> = sender
        .collect(Duration::from_millis(2500))
        .await
        .into_iter()
        .filter_map(|e| match e {
            TrtcEvent::Statistics(s) => Some(s.up_loss),
            _ => None,
        })
        .collect();
    let dropped = counters.dropped.load(Ordering::Relaxed);
    let sent = counters.rtp_up.load(Ordering::Relaxed);
    // The first report may cover the time before media flowed through the relay.
    let settled = &reports[1.min(reports.len())..];
    eprintln!("the sender's upLoss reports: {reports:?}");
    assert!(
        settled.len() >= 2 && settled.iter().all(|l| (3..=7).contains(l)),
        "upLoss should read the link's 5 %: {reports:?}"
    );
    assert!(
        dropped >= 10,
        "the relay carried the media and dropped some: {dropped} of {sent} RTP packets ({} in all)",
        counters.all_up.load(Ordering::Relaxed)
    );
    assert!(
        counters_seen.windows(2).all(|w| w[1] > w[0]),
        "pictures in order: {counters_seen:?}"
    );
    let span = u64::from(counters_seen.last().unwrap() - counters_seen[0] + 1);
    let shown = counters_seen.len() as u64;
    eprintln!("relay dropped {dropped} of {sent} RTP packets; {shown} of {span} pictures shown");
    // Every 20th packet lost and nothing recovered would break about one picture in five and
    // freeze the stream until a keyframe each time; recovered, only a picture whose
    // retransmission came too late is missing.
    assert!(
        shown * 100 >= span * 95,
        "{shown} of {span} pictures shown: {counters_seen:?}"
    );
    server.shutdown().await.unwrap();
}
