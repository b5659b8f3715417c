//! onNetworkQuality follows the link: a sender and a receiver with every media datagram going
//! through an impairing relay (`common::relay`) and their signalling through a proxy that can
//! cut it. On a clean link both say 1–2; with 30 % of datagrams lost each way the sender's own
//! grade falls to bad or worse; with the network cut (media and signalling) the sender's grade
//! and the receiver's grade of the sender reach 6 (down) within 6 s; after it heals they come
//! back to 1–2. Through 100 ms each way the sender's `rtt` reads the media path's round trip.
//!
//! The signalling is cut too because a media-only cut is not what a person calls a cut: the
//! clients would rebuild their connections over signalling, again and again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::relay::{relayed_server, sender_and_receiver};
use common::*;
use std::time::{Duration, Instant};
use trtc_netlab::Impairment;
use trtc_sdk::TrtcEvent;

/// The local grade and the grade of `of`, from one onNetworkQuality.
fn grades(e: &TrtcEvent, of: &str) -> Option<(u8, Option<u8>)> {
    match e {
        TrtcEvent::NetworkQuality {
            local_quality,
            remote_quality,
        } => Some((
            local_quality.quality,
            remote_quality
                .iter()
                .find(|r| r.user_id == of)
                .map(|r| r.quality),
        )),
        _ => None,
    }
}

/// Waits (up to `within`) for an onNetworkQuality whose grades satisfy `ok`; returns how long
/// it took, or every grade seen on the way.
async fn until(
    client: &mut Client,
    of: &str,
    within: Duration,
    ok: impl Fn(u8, Option<u8>) -> bool,
) -> Result<Duration, Vec<(u8, Option<u8>)>> {
    let start = Instant::now();
    let mut seen = vec![];
    while start.elapsed() < within {
        let left = within.saturating_sub(start.elapsed());
        for e in client.collect(left.min(Duration::from_millis(250))).await {
            if let Some((local, remote)) = grades(&e, of) {
                seen.push((local, remote));
                if ok(local, remote) {
                    return Ok(start.elapsed());
                }
            }
        }
    }
    Err(seen)
}

/// The sender's onStatistics `rtt`s over `during`.
async fn round_trips(client: &mut Client, during: Duration) -> Vec<u32> {
    client
        .collect(during)
        .await
        .iter()
        .filter_map(|e| match e {
            TrtcEvent::Statistics(s) => Some(s.rtt),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quality_follows_loss_a_cut_and_the_recovery() {
    let base = 52_000 + (std::process::id() % 1_000) as u16 * 10;
    let (relay, server) = relayed_server(base).await;
    let proxy = Proxy::start(server.addr).await;
    let (mut sender, mut receiver, _pictures) = sender_and_receiver(&proxy.url, 91, true).await;
    sender.wants_statistics = true;
    receiver.wants_statistics = true;

    let clean = |local: u8, remote: Option<u8>| {
        (1..=2).contains(&local) && remote.is_none_or(|r| (1..=2).contains(&r))
    };
    let within = Duration::from_secs(10);
    until(&mut sender, "receiver", within, clean)
        .await
        .expect("the sender on a clean link");
    until(&mut receiver, "sender", within, |l, r| {
        clean(l, r) && r.is_some()
    })
    .await
    .expect("the receiver, and its grade of the sender, on a clean link");

    // The round trip onStatistics states is the media path's: 100 ms each way through the
    // relay reads about 200 ms (the signalling, which takes no part in the relay, reads ~0).
    relay.set(Impairment {
        delay: Duration::from_millis(100),
        ..Impairment::default()
    });
    let rtts = round_trips(&mut sender, Duration::from_secs(8)).await;
    assert!(
        rtts.last().is_some_and(|ms| (180..=300).contains(ms)),
        "the sender's rtt through 100 ms each way: {rtts:?} ms"
    );
    relay.set(Impairment::default());

    relay.set(Impairment {
        up_loss: 0.3,
        down_loss: 0.3,
        ..Impairment::default()
    });
    until(&mut sender, "receiver", within, |l, _| l >= 4)
        .await
        .expect("the sender with 30 % loss each way");
    // The receiver's grade of the sender: the sender's uplink loss is partly repaired by
    // retransmission before it reaches the receiver, so it reads poor or worse.
    until(&mut receiver, "sender", within, |_, r| {
        r.is_some_and(|r| r >= 3)
    })
    .await
    .expect("the receiver's grade of the sender with 30 % loss each way");

    relay.set(Impairment {
        cut: true,
        ..Impairment::default()
    });
    proxy.set_down(true);
    // Drain what was measured before the cut.
    let _ = sender.collect(Duration::from_millis(100)).await;
    let _ = receiver.collect(Duration::from_millis(100)).await;
    let six = Duration::from_secs(6);
    let took = until(&mut sender, "receiver", six, |l, _| l == 6)
        .await
        .expect("the sender reads 6 within 6 s of the cut");
    eprintln!("the sender read 6 after {took:?}");
    until(&mut receiver, "sender", six, |_, r| r == Some(6))
        .await
        .expect("the receiver grades the sender 6 within 6 s of the cut");

    relay.set(Impairment::default());
    proxy.set_down(false);
    let healed = Duration::from_secs(20);
    let took = until(&mut sender, "receiver", healed, clean)
        .await
        .expect("the sender back to 1–2 after the link heals");
    eprintln!("the sender was back to 1–2 after {took:?}");
    until(&mut receiver, "sender", healed, |l, r| {
        clean(l, r) && r.is_some()
    })
    .await
    .expect("the receiver back to 1–2 after the link heals");
    server.shutdown().await.unwrap();
}
