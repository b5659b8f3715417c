//! The test relay's impairments behave as their models say (`common::relay`): Gilbert–Elliott
//! losses have the mean share and come in runs, delays spread around their base within the
//! jitter. The tests that run calls through the relay rely on both.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::relay::{Burst, Impairment, State};
use std::time::Duration;

#[test]
fn bursts_lose_their_share_in_runs() {
    // Mean loss 0.5 × 0.02 / (0.02 + 0.25) ≈ 3.7 %, in bursts of about 4 datagrams.
    let mut s = State::new(Impairment {
        burst: Some(Burst {
            enter: 0.02,
            leave: 0.25,
            loss: 0.5,
        }),
        ..Impairment::default()
    });
    let lost: Vec<bool> = (0..200_000).map(|_| s.burst_loss(0)).collect();
    let share = lost.iter().filter(|l| **l).count() as f64 / lost.len() as f64;
    assert!((0.030..0.045).contains(&share), "{share}");
    let adjacent = lost.windows(2).filter(|w| w[0] && w[1]).count() as f64;
    let alone = share * share * lost.len() as f64;
    assert!(
        adjacent > 5.0 * alone,
        "losses come together: {adjacent} vs {alone}"
    );
}

#[test]
fn delays_spread_around_the_base() {
    let mut s = State::new(Impairment {
        delay: Duration::from_millis(100),
        jitter: Duration::from_millis(30),
        ..Impairment::default()
    });
    let d: Vec<f64> = (0..10_000)
        .map(|_| s.delay().as_secs_f64() * 1000.0)
        .collect();
    assert!(d.iter().all(|ms| (70.0..=130.0).contains(ms)));
    let mean = d.iter().sum::<f64>() / d.len() as f64;
    assert!((98.0..102.0).contains(&mean), "{mean}");
}
