//! Media benchmark: glass-to-glass delay, enterRoom to first remote picture, and bytes on the
//! wire against the configured bitrate, with a room server in this process on loopback.
//!
//! ```sh
//! cargo run -p trtc-sdk --example glass_to_glass -- 1280x720 30 20
//! ```
//!
//! A sender publishes the synthetic camera (each picture stamped with its capture time); a
//! receiver decodes it into a view and, per picture, takes the time from the stamp to the
//! moment the decoded picture reaches the view: capture, encode, packetise, SFU, reassemble,
//! decode, everything but the screen's own refresh. Figures go to docs/benchmarks.md.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};
use trtc_media::frame::now_us;
use trtc_media::stamp;
use trtc_sdk::{
    frame_channel, SourceChoice, TrtcAppScene, TrtcCloud, TrtcCloudConfig, TrtcEvent, TrtcParams,
    TrtcVideoEncParam, TrtcVideoResolution,
};

const APP: u32 = 1_400_000_001;
const KEY: &str = "benchmark-secret";

fn params(user: &str) -> TrtcParams {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    TrtcParams {
        sdk_app_id: APP,
        user_id: user.into(),
        user_sig: trtc_usersig::gen_user_sig(APP.into(), KEY, user, 3600, now),
        room_id: 1,
        ..Default::default()
    }
}

fn cloud(url: &str) -> TrtcCloud {
    TrtcCloud::new(TrtcCloudConfig {
        speaker: SourceChoice::None,
        ..TrtcCloudConfig::default()
            .with_server_url(url)
            .with_sources(SourceChoice::Synthetic, SourceChoice::None)
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (w, h) = args
        .first()
        .and_then(|s| s.split_once('x'))
        .map(|(w, h)| (w.parse().unwrap(), h.parse().unwrap()))
        .unwrap_or((640, 360));
    let fps: u32 = args.get(1).map_or(30, |s| s.parse().unwrap());
    let seconds: u64 = args.get(2).map_or(20, |s| s.parse().unwrap());
    let resolution = TrtcVideoResolution::from_size(w, h).expect("a size from TRTC's table");
    let param = TrtcVideoEncParam {
        video_resolution: resolution,
        video_fps: fps,
        video_bitrate: resolution.recommended_kbps(false),
        ..Default::default()
    };

    let server = trtc_server::spawn(trtc_server::ServerConfig::default().with_app(APP, KEY))
        .await
        .unwrap();
    let sender = cloud(&server.url);
    let mut sender_events = sender.events();
    sender.set_video_encoder_param(param);
    sender.start_local_preview(None);
    sender.enter_room(&params("sender"), TrtcAppScene::VideoCall);
    while !matches!(
        sender_events.recv().await,
        Some(TrtcEvent::SendFirstLocalVideoFrame { .. })
    ) {}

    // enterRoom → first remote picture, with the sender already publishing.
    let receiver = cloud(&server.url);
    let mut events = receiver.events();
    let (view, frames) = frame_channel(256);
    let entering = Instant::now();
    receiver.enter_room(&params("receiver"), TrtcAppScene::VideoCall);
    loop {
        let e = events.recv().await;
        if std::env::var_os("TIMELINE").is_some() {
            println!(
                "{:>6.0} ms {:?}",
                entering.elapsed().as_secs_f64() * 1000.0,
                e.as_ref().map(|e| e.name())
            );
        }
        match e {
            Some(TrtcEvent::UserVideoAvailable {
                user_id,
                available: true,
            }) => receiver.start_remote_view(&user_id, 0, Some(view.clone())),
            Some(TrtcEvent::FirstVideoFrame { user_id, .. }) if !user_id.is_empty() => break,
            _ => {}
        }
    }
    let first_frame_ms = entering.elapsed().as_secs_f64() * 1000.0;

    let measured = tokio::task::spawn_blocking(move || {
        let mut delays = vec![];
        let end = Instant::now() + Duration::from_secs(seconds);
        while Instant::now() < end {
            if let Ok(f) = frames.recv_timeout(Duration::from_millis(500)) {
                if let Some(s) = stamp::read(&f) {
                    delays.push(now_us().saturating_sub(s.capture_time_us) as f64 / 1000.0);
                }
            }
        }
        delays
    });
    let mut bitrates = vec![];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let TrtcEvent::Statistics(s) = e {
            if let Some(r) = s.remote_statistics_array.iter().find(|r| r.width > 0) {
                bitrates.push(r.video_bitrate);
            }
        }
    }
    let mut delays = measured.await.unwrap();
    delays.sort_by(f64::total_cmp);
    // The first statistics interval includes the start; the rest are steady state.
    let steady: Vec<u32> = bitrates.iter().skip(1).copied().collect();
    let mean_kbps = steady.iter().sum::<u32>() as f64 / steady.len().max(1) as f64;
    println!(
        "{w}x{h}@{fps} for {seconds} s: {} pictures ({:.1} fps), glass-to-glass p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms; enterRoom → first remote picture {:.0} ms; received {:.0} kbps vs {} kbps configured",
        delays.len(),
        delays.len() as f64 / seconds as f64,
        percentile(&delays, 0.5),
        percentile(&delays, 0.95),
        delays.last().copied().unwrap_or(0.0),
        first_frame_ms,
        mean_kbps,
        param.video_bitrate
    );
    receiver.exit_room();
    sender.exit_room();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.shutdown().await.unwrap();
}
