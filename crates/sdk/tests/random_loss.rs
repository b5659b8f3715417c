//! A call through a link that loses 10 % of the media at random still sounds and looks whole:
//! the tone the sender sends is heard from the receiver's speaker (cpal into a PulseAudio null
//! sink, recorded from its monitor) in ≥ 95 % of 20 ms frames, and ≥ 80 % of the sender's
//! pictures are shown. Lost audio is filled in by the receiver's decoder (rebuilt from the
//! next packet's in-band FEC, which the sender adds once it learns the loss, or concealed);
//! lost video is asked for again (NACK) and waited for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::pulse::{Pulse, Recorder};
use common::relay::{relayed_server, sender_and_receiver_playing};
use std::time::{Duration, Instant};
use trtc_media::analysis::rms;
use trtc_media::stamp;
use trtc_netlab::Impairment;
use trtc_sdk::{SourceChoice, TrtcEvent};

/// The share of the sender's packets the link loses.
const LOSS: f64 = 0.10;
/// Measured after the loss has run this long (the sender learns it from feedback).
const SETTLE: Duration = Duration::from_secs(3);
const MEASURE: Duration = Duration::from_secs(8);
/// 20 ms at 48 kHz.
const FRAME: usize = 960;
/// The tone is sent at half of full scale (rms ≈ 0.35); a gap of silence reads ~0.
const HEARD_RMS: f64 = 0.1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenth_of_the_media_lost_the_tone_and_the_pictures_go_on() {
    let pulse = Pulse::start(&["module-null-sink sink_name=vspeaker"]);
    std::env::set_var("PULSE_SERVER", &pulse.server);
    let base = 34_000 + (std::process::id() % 1_000) as u16 * 10;
    let (relay, server) = relayed_server(base).await;
    let (_sender, mut receiver, pictures) =
        sender_and_receiver_playing(&server.url, 95, true, SourceChoice::Device).await;
    receiver
        .wait_for(|e| matches!(e, TrtcEvent::FirstAudioFrame { .. }))
        .await;
    let recorder = Recorder::start(&pulse.server);
    recorder.wait_until_recording().await;

    relay.set(Impairment {
        up_loss: LOSS,
        ..Impairment::default()
    });
    tokio::time::sleep(SETTLE).await;
    let window = tokio::task::spawn_blocking(move || {
        while pictures.try_recv().is_ok() {}
        let end = Instant::now() + MEASURE;
        let mut counters = vec![];
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            if let Ok(f) = pictures.recv_timeout(left) {
                counters.push(stamp::read(&f).expect("a stamp").counter);
            }
        }
        counters
    });
    let heard = recorder.record(MEASURE).await;
    let counters = window.await.unwrap();
    let dropped = relay
        .counters
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed);

    let frames: Vec<f64> = heard.chunks_exact(FRAME).map(rms).collect();
    let with_tone = frames.iter().filter(|&&r| r > HEARD_RMS).count();
    let gaps: Vec<usize> = frames
        .iter()
        .enumerate()
        .filter(|(_, &r)| r <= HEARD_RMS)
        .map(|(i, _)| i)
        .collect();
    eprintln!(
        "relay dropped {dropped}; tone in {with_tone} of {} frames, silent at {gaps:?}",
        frames.len()
    );
    assert!(
        with_tone * 100 >= frames.len() * 95,
        "the tone in {with_tone} of {} 20 ms frames; silent at {gaps:?}",
        frames.len()
    );

    assert!(counters.len() >= 2, "pictures kept coming: {counters:?}");
    assert!(
        counters.windows(2).all(|w| w[1] > w[0]),
        "pictures in order: {counters:?}"
    );
    let span = u64::from(counters.last().unwrap() - counters[0] + 1);
    let shown = counters.len() as u64;
    eprintln!("{shown} of {span} pictures shown");
    assert!(
        shown * 100 >= span * 80,
        "{shown} of the {span} pictures sent were shown: {counters:?}"
    );
    server.shutdown().await.unwrap();
}
