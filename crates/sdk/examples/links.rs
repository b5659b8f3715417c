//! Media benchmark: one call through each of issue 11's emulated links, and what a person on
//! the other side would notice, as one table for docs/benchmarks.md.
//!
//! ```sh
//! cargo run --release -p trtc-sdk --example links            # every profile
//! cargo run --release -p trtc-sdk --example links -- step    # the profiles whose name has "step"
//! ```
//!
//! A room server in this process behind the user-space relay (`trtc-netlab`, crates/netlab:
//! a token-bucket cap with a 300 ms queue, random and Gilbert–Elliott loss, delay with jitter);
//! a sender publishing the synthetic camera (640x360@15, 1,200 kbps configured, each picture
//! stamped with its capture time and counter) and the tone; a receiver viewing it and playing
//! the tone into a PulseAudio null sink recorded with parec (so a private PulseAudio is
//! started: `pulseaudio` and `parec` from scripts/setup.sh).
//!
//! Each profile: 6 s as before, 15 s impaired, 8 s as before again. Measured over the
//! impaired span unless said: the longest gap between shown pictures (to the end of the run),
//! pictures shown per second, glass-to-glass p50/p95, the share of 20 ms of the speaker's output
//! that carry the tone, the sender's RTP rate offered to the link, how long after a step down
//! until that rate (500 ms windows) is under the link, how long after the impairment ends
//! until a picture captured after it is shown and until the rate is back to 90 % of before,
//! and the grades onNetworkQuality gave (the sender's own, and the receiver's of the sender).

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::pulse::{Pulse, Recorder};
use common::relay::{relayed_server, sender_and_receiver_playing};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use trtc_media::analysis::rms;
use trtc_media::frame::now_us;
use trtc_media::stamp;
use trtc_netlab::Impairment;
use trtc_sdk::{SourceChoice, TrtcEvent, TrtcVideoEncParam};

const BEFORE: Duration = Duration::from_secs(6);
const IMPAIRED: Duration = Duration::from_secs(15);
const AFTER: Duration = Duration::from_secs(8);
const VIDEO_KBPS: u32 = 1_200;
/// 20 ms at 48 kHz; the tone plays at half of full scale (rms ≈ 0.35), silence reads ~0.
const AUDIO_FRAME: usize = 960;
const HEARD_RMS: f64 = 0.1;

struct Profile {
    name: &'static str,
    /// Before and after the impaired span.
    around: Impairment,
    during: Impairment,
    /// The sender may halve its resolution below the floor (TRTC's `enableAdjustRes`).
    adjust_res: bool,
}

fn profiles() -> Vec<Profile> {
    // In netlab-relay's words (trtc_netlab::impairment); losses are on the way up unless said.
    let p = |name, around: &str, during: &str, adjust_res| Profile {
        name,
        around: around.parse().expect("a link in netlab's words"),
        during: during.parse().expect("a link in netlab's words"),
        adjust_res,
    };
    vec![
        p("cap 300 kbps", "rate=300kbit", "rate=300kbit", false),
        p("cap 1 Mbps", "rate=1mbit", "rate=1mbit", false),
        p("cap 3 Mbps", "rate=3mbit", "rate=3mbit", false),
        p("loss 5 %", "clean", "up-loss=5%", false),
        p("loss 10 %", "clean", "up-loss=10%", false),
        p("loss 30 %", "clean", "up-loss=30%", false),
        // Bursts of ~4 datagrams, half of them lost: 2 % on average, each way.
        p("burst loss 2 %", "clean", "burst=2%", false),
        p(
            "jitter 100 ± 30 ms",
            "clean",
            "delay=100ms jitter=30ms",
            false,
        ),
        // Repairs take a round trip of 200 ms and more: the reassembler's wait must learn it.
        p(
            "loss 5 % each way, 100 ms each way",
            "delay=100ms",
            "delay=100ms loss=5%",
            false,
        ),
        p(
            "step 2 Mbps → 300 kbps → 2 Mbps",
            "rate=2mbit",
            "rate=300kbit",
            false,
        ),
        p(
            "cap 300 kbps, adjustRes",
            "rate=300kbit",
            "rate=300kbit",
            true,
        ),
        p(
            "step 2 Mbps → 300 kbps → 2 Mbps, adjustRes",
            "rate=2mbit",
            "rate=300kbit",
            true,
        ),
    ]
}

/// Whether the profile steps the link's rate down (and back up).
fn stepped(p: &Profile) -> bool {
    match (p.around.up_rate_bps, p.during.up_rate_bps) {
        (Some(around), Some(during)) => around > during,
        _ => false,
    }
}

/// One picture shown: when, its stamp, and how long since its capture (ms).
struct Shown {
    at: Instant,
    capture_us: u64,
    g2g_ms: f64,
}

struct Outcome {
    longest_stall: Duration,
    fps: f64,
    g2g: (f64, f64),
    tone_share: f64,
    sent_kbps: f64,
    under_link: Option<Duration>,
    fresh_picture: Option<Duration>,
    rate_back: Option<Duration>,
    local_grades: Vec<u8>,
    remote_grades: Vec<u8>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The RTP rate offered to the link over `window` ending at each sample, bps.
fn rate_at(samples: &[(Instant, u64)], i: usize, window: Duration) -> Option<f64> {
    let (end, bytes) = samples[i];
    let start = samples[..i]
        .iter()
        .rev()
        .find(|(t, _)| end.duration_since(*t) >= window)?;
    Some((bytes - start.1) as f64 * 8.0 / end.duration_since(start.0).as_secs_f64())
}

fn grades(events: &[TrtcEvent], of: &str) -> (Vec<u8>, Vec<u8>) {
    let mut local = vec![];
    let mut remote = vec![];
    for e in events {
        if let TrtcEvent::NetworkQuality {
            local_quality,
            remote_quality,
        } = e
        {
            local.push(local_quality.quality);
            remote.extend(
                remote_quality
                    .iter()
                    .filter(|r| r.user_id == of)
                    .map(|r| r.quality),
            );
        }
    }
    (local, remote)
}

async fn run(profile: &Profile, index: u16, pulse: &Pulse) -> Outcome {
    let base = 36_000 + (std::process::id() % 200) as u16 * 100 + index * 10;
    let (relay, server) = relayed_server(base).await;
    relay.set(profile.around);
    let room = 200 + u32::from(index);
    let (mut sender, mut receiver, pictures) =
        sender_and_receiver_playing(&server.url, room, true, SourceChoice::Device).await;
    sender.wants_statistics = true;
    receiver.wants_statistics = true;
    // The bitrate follows at the next picture, without a keyframe.
    sender.cloud.set_video_encoder_param(TrtcVideoEncParam {
        video_bitrate: VIDEO_KBPS,
        enable_adjust_res: profile.adjust_res,
        ..TrtcVideoEncParam::default()
    });
    let recorder = Recorder::start(&pulse.server);
    recorder.wait_until_recording().await;

    let done = Arc::new(AtomicBool::new(false));
    let shown = {
        let done = Arc::clone(&done);
        tokio::task::spawn_blocking(move || {
            let mut shown = vec![];
            while !done.load(Ordering::Relaxed) {
                if let Ok(f) = pictures.recv_timeout(Duration::from_millis(50)) {
                    if let Some(s) = stamp::read(&f) {
                        let g2g_ms = now_us().saturating_sub(s.capture_time_us) as f64 / 1e3;
                        shown.push(Shown {
                            at: Instant::now(),
                            capture_us: s.capture_time_us,
                            g2g_ms,
                        });
                    }
                }
            }
            shown
        })
    };
    let rates = {
        let done = Arc::clone(&done);
        let counters = Arc::clone(&relay.counters);
        tokio::spawn(async move {
            let mut samples = vec![];
            while !done.load(Ordering::Relaxed) {
                samples.push((
                    Instant::now(),
                    counters.rtp_bytes_up.load(Ordering::Relaxed),
                ));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            samples
        })
    };

    let _ = tokio::join!(sender.collect(BEFORE), receiver.collect(BEFORE));
    let impaired = Instant::now();
    relay.set(profile.during);
    let (heard, sender_events, receiver_events) = tokio::join!(
        recorder.record(IMPAIRED),
        sender.collect(IMPAIRED),
        receiver.collect(IMPAIRED)
    );
    let healed = Instant::now();
    let healed_us = now_us();
    relay.set(profile.around);
    let _ = tokio::join!(sender.collect(AFTER), receiver.collect(AFTER));
    done.store(true, Ordering::Relaxed);
    let shown = shown.await.unwrap();
    let rates = rates.await.unwrap();
    server.shutdown().await.unwrap();

    let in_span: Vec<&Shown> = shown
        .iter()
        .filter(|s| s.at >= impaired && s.at < healed)
        .collect();
    let mut g2g: Vec<f64> = in_span.iter().map(|s| s.g2g_ms).collect();
    g2g.sort_by(f64::total_cmp);
    let mut last = impaired;
    let mut longest_stall = Duration::ZERO;
    for s in shown.iter().filter(|s| s.at >= impaired) {
        longest_stall = longest_stall.max(s.at.duration_since(last));
        last = s.at;
    }
    let frames: Vec<f64> = heard.chunks_exact(AUDIO_FRAME).map(rms).collect();
    let tone = frames.iter().filter(|&&r| r > HEARD_RMS).count();

    let rate_index = |from: Instant| rates.iter().position(|(t, _)| *t >= from);
    let span_rate = |from: Instant, to: Instant| -> f64 {
        let a = rates.iter().find(|(t, _)| *t >= from).unwrap();
        let b = rates.iter().rev().find(|(t, _)| *t <= to).unwrap();
        (b.1 - a.1) as f64 * 8.0 / b.0.duration_since(a.0).as_secs_f64().max(1e-3)
    };
    let before_rate = span_rate(impaired - Duration::from_secs(3), impaired);
    let link = profile.during.up_rate_bps.map(|bps| bps as f64);
    let stepped_down = stepped(profile);
    let under_link = if stepped_down {
        let link = link.unwrap();
        rate_index(impaired).and_then(|from| {
            (from..rates.len())
                .find(|&i| {
                    rates[i].0 > impaired + Duration::from_millis(500)
                        && rate_at(&rates, i, Duration::from_millis(500)).is_some_and(|r| r < link)
                })
                .map(|i| rates[i].0.duration_since(impaired))
        })
    } else {
        None
    };
    let changed = profile.around != profile.during;
    let rate_back = (stepped_down).then(|| {
        rate_index(healed).and_then(|from| {
            (from..rates.len())
                .find(|&i| {
                    rate_at(&rates, i, Duration::from_secs(1))
                        .is_some_and(|r| r >= 0.9 * before_rate)
                })
                .map(|i| rates[i].0.duration_since(healed))
        })
    });
    let fresh_picture = changed
        .then(|| {
            shown
                .iter()
                .find(|s| s.capture_us >= healed_us)
                .map(|s| s.at.duration_since(healed))
        })
        .flatten();
    let (local_grades, _) = grades(&sender_events, "receiver");
    let (_, remote_grades) = grades(&receiver_events, "sender");
    Outcome {
        longest_stall,
        fps: in_span.len() as f64 / healed.duration_since(impaired).as_secs_f64(),
        g2g: (percentile(&g2g, 0.5), percentile(&g2g, 0.95)),
        tone_share: tone as f64 / frames.len().max(1) as f64,
        sent_kbps: span_rate(impaired, healed) / 1e3,
        under_link,
        fresh_picture,
        rate_back: rate_back.flatten(),
        local_grades,
        remote_grades,
    }
}

/// Seconds until something happened: "–" where it does not apply to the profile, "> 8" when it
/// did not happen within the 8 s after the impairment (or, for a step, its 15 s).
fn secs(applies: bool, d: Option<Duration>) -> String {
    match (applies, d) {
        (false, _) => "–".into(),
        (true, None) => "> 8".into(),
        (true, Some(d)) => format!("{:.1}", d.as_secs_f64()),
    }
}

/// The grades as "lowest–highest" (TRTC's 1 excellent … 6 down).
fn span(grades: &[u8]) -> String {
    match (grades.iter().min(), grades.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
        (Some(lo), Some(hi)) => format!("{lo}–{hi}"),
        _ => "none".into(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let pulse = Pulse::start(&["module-null-sink sink_name=vspeaker"]);
    std::env::set_var("PULSE_SERVER", &pulse.server);
    println!(
        "| link | longest stall (s) | pictures/s (of 15) | g2g p50 / p95 (ms) | tone in 20 ms frames | sent kbps | under link after step (s) | fresh picture after (s) | rate back (s) | quality: sender's own / receiver's of sender |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (i, p) in profiles().iter().enumerate() {
        if !only.is_empty() && !only.iter().any(|o| p.name.contains(o.as_str())) {
            continue;
        }
        let o = run(p, i as u16, &pulse).await;
        println!(
            "| {} | {:.2} | {:.1} | {:.0} / {:.0} | {:.1} % | {:.0} | {} | {} | {} | {} / {} |",
            p.name,
            o.longest_stall.as_secs_f64(),
            o.fps,
            o.g2g.0,
            o.g2g.1,
            o.tone_share * 100.0,
            o.sent_kbps,
            secs(stepped(p), o.under_link),
            secs(p.around != p.during, o.fresh_picture),
            secs(stepped(p), o.rate_back),
            span(&o.local_grades),
            span(&o.remote_grades),
        );
    }
}
