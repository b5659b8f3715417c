//! Media through the room server's SFU with synthetic sources: pictures arrive decoded with
//! their frame counters in order and their capture stamps readable, the tone is heard, the
//! availability events follow mute/unmute/stop, point2PointDelay agrees with the stamps, and
//! the server's publishing rules hold.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use std::sync::mpsc::Receiver;
use std::time::Duration;
use trtc_media::analysis::dominant_frequency;
use trtc_media::frame::now_us;
use trtc_media::stamp;
use trtc_sdk::{
    codes, frame_channel, AudioFrame, SourceChoice, TrtcAppScene, TrtcAudioQuality, TrtcCloud,
    TrtcCloudConfig, TrtcEvent, TrtcRole, VideoFrame,
};

fn media_client(url: &str, user: &str) -> Client {
    let cloud = TrtcCloud::new(
        TrtcCloudConfig {
            timing: fast_timing(),
            speaker: SourceChoice::None,
            ..TrtcCloudConfig::default()
        }
        .with_server_url(url)
        .with_sources(SourceChoice::Synthetic, SourceChoice::Synthetic),
    );
    let events = cloud.events();
    Client {
        cloud,
        events,
        user: user.into(),
        wants_statistics: true,
    }
}

fn publish(c: &Client) {
    c.cloud.start_local_preview(None);
    c.cloud.start_local_audio(TrtcAudioQuality::Default);
}

/// Reads decoded pictures for `d` from the first one on (the decoder may first wait for a
/// keyframe), on a blocking thread since the view is a std channel.
async fn pictures(
    rx: Receiver<VideoFrame>,
    d: Duration,
) -> (Receiver<VideoFrame>, Vec<(stamp::Stamp, u64)>) {
    tokio::task::spawn_blocking(move || {
        let mut got = vec![];
        if let Ok(f) = rx.recv_timeout(WAIT) {
            let s = stamp::read(&f).expect("every decoded picture carries its stamp");
            got.push((s, now_us()));
        }
        let end = std::time::Instant::now() + d;
        while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
            if let Ok(f) = rx.recv_timeout(left) {
                let arrived = now_us();
                got.push((
                    stamp::read(&f).expect("every decoded picture carries its stamp"),
                    arrived,
                ));
            }
        }
        (rx, got)
    })
    .await
    .unwrap()
}

async fn samples(rx: Receiver<AudioFrame>, d: Duration) -> Vec<i16> {
    tokio::task::spawn_blocking(move || {
        let end = std::time::Instant::now() + d;
        let mut got = vec![];
        while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
            if let Ok(f) = rx.recv_timeout(left) {
                got.extend_from_slice(&f.samples);
            }
        }
        got
    })
    .await
    .unwrap()
}

fn is_available(e: &TrtcEvent, who: &str, video: bool, on: bool) -> bool {
    match e {
        TrtcEvent::UserVideoAvailable { user_id, available } if video => {
            user_id == who && *available == on
        }
        TrtcEvent::UserAudioAvailable { user_id, available } if !video => {
            user_id == who && *available == on
        }
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_clients_see_and_hear_each_other_through_the_sfu() {
    let server = server().await;
    let users = ["alice", "bob", "carol"];
    let mut clients: Vec<Client> = users.iter().map(|u| media_client(&server.url, u)).collect();
    for c in clients.iter_mut() {
        assert!(c.enter(40, TrtcAppScene::VideoCall).await > 0);
        publish(c);
    }
    // Every client sees both others' video become available and opens a view on it.
    let mut views = vec![];
    let mut ears = vec![];
    for (i, c) in clients.iter_mut().enumerate() {
        let others: Vec<&str> = users.iter().copied().filter(|u| *u != users[i]).collect();
        // The others publish in any order: wait for both before taking either (an event for
        // one that came while waiting for the other would be gone).
        let mut waiting = others.clone();
        while !waiting.is_empty() {
            let e = c
                .wait_for(|e| waiting.iter().any(|w| is_available(e, w, true, true)))
                .await;
            waiting.retain(|w| !is_available(&e, w, true, true));
        }
        for other in others {
            let (view, rx) = frame_channel(64);
            c.cloud.start_remote_view(other, 0, Some(view));
            views.push((users[i], other, rx));
            let (sink, rx) = frame_channel(200);
            c.cloud.set_remote_audio_sink(other, Some(sink));
            ears.push((users[i], other, rx));
        }
    }
    // Pictures: counters strictly increase, stamps read, and the delay is plausible.
    let mut stamp_delays = vec![];
    let reads = views.into_iter().map(|(me, other, rx)| async move {
        let (_rx, got) = pictures(rx, Duration::from_secs(3)).await;
        (me, other, got)
    });
    for (me, other, got) in futures_util::future::join_all(reads).await {
        // 15 fps are sent; a loaded 2-core machine running three clients still shows most.
        assert!(
            got.len() >= 10,
            "{me} decoded only {} pictures of {other} in 3 s",
            got.len()
        );
        for w in got.windows(2) {
            assert!(
                w[1].0.counter > w[0].0.counter,
                "{me} saw {other}'s frames out of order: {:?}",
                w
            );
        }
        for (s, arrived) in &got {
            let ms = arrived.saturating_sub(s.capture_time_us) / 1000;
            assert!(ms < 2000, "{me}: a picture of {other} took {ms} ms");
            stamp_delays.push(ms);
        }
    }
    // Sound: the 440 Hz tone is the loudest frequency at every receiver.
    let listens = ears.into_iter().map(|(me, other, rx)| async move {
        (me, other, samples(rx, Duration::from_secs(1)).await)
    });
    for (me, other, pcm) in futures_util::future::join_all(listens).await {
        assert!(
            pcm.len() >= 48_000 / 2,
            "{me} heard {} samples of {other}",
            pcm.len()
        );
        let f = dominant_frequency(&pcm, 48_000, 100, 2000).expect("a tone");
        assert!((f as i32 - 440).abs() <= 10, "{me} hears {other} at {f} Hz");
    }
    // point2PointDelay is reported for every remote stream and agrees with the stamps (which
    // also include the hop through the view channel, so they may only be larger).
    let stats = clients[0]
        .wait_for(|e| matches!(e, TrtcEvent::Statistics(s) if s.remote_statistics_array.iter().filter(|r| r.decoded_frames > 0 && r.audio_bitrate > 0).count() >= 2))
        .await;
    let TrtcEvent::Statistics(stats) = stats else {
        unreachable!()
    };
    let max_stamp = *stamp_delays.iter().max().unwrap();
    for r in &stats.remote_statistics_array {
        assert!(
            r.point2_point_delay as u64 <= max_stamp + 50,
            "{r:?} vs stamps up to {max_stamp} ms"
        );
        // One entry per user and stream, audio beside video, as TRTC reports it.
        assert_eq!(r.stream_type, 0, "{r:?}");
        assert_eq!((r.width, r.height), (640, 360));
        assert!(r.frame_rate > 5 && r.audio_bitrate > 0, "{r:?}");
    }
    assert_eq!(stats.remote_statistics_array.len(), 2);
    assert!(stats.received_bytes > 0 && stats.sent_bytes > 0);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_follows_mute_unmute_and_stop() {
    let server = server().await;
    let mut a = media_client(&server.url, "alice");
    let mut b = media_client(&server.url, "bob");
    assert!(a.enter(41, TrtcAppScene::VideoCall).await > 0);
    assert!(b.enter(41, TrtcAppScene::VideoCall).await > 0);
    publish(&a);
    // Camera and microphone open side by side: their availability may come in either order.
    let (mut video, mut audio) = (false, false);
    while !(video && audio) {
        let e = b
            .wait_for(|e| {
                is_available(e, "alice", true, true) || is_available(e, "alice", false, true)
            })
            .await;
        video |= is_available(&e, "alice", true, true);
        audio |= is_available(&e, "alice", false, true);
    }
    a.cloud.mute_local_video(true);
    b.wait_for(|e| is_available(e, "alice", true, false)).await;
    a.cloud.mute_local_video(false);
    b.wait_for(|e| is_available(e, "alice", true, true)).await;
    a.cloud.mute_local_audio(true);
    b.wait_for(|e| is_available(e, "alice", false, false)).await;
    a.cloud.stop_local_preview();
    b.wait_for(|e| is_available(e, "alice", true, false)).await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audience_publishing_is_refused_and_nothing_reaches_others() {
    let server = server().await;
    let mut anchor = media_client(&server.url, "anchor");
    let mut viewer = media_client(&server.url, "viewer");
    assert!(anchor.enter_live(42, TrtcRole::Anchor).await > 0);
    assert!(viewer.enter_live(42, TrtcRole::Audience).await > 0);
    publish(&viewer);
    let w = viewer
        .wait_for(|e| matches!(e, TrtcEvent::Warning { .. }))
        .await;
    assert!(
        matches!(w, TrtcEvent::Warning { warning_code, .. } if warning_code == codes::WARNING_IGNORE_UPSTREAM_FOR_AUDIENCE)
    );
    let seen = anchor.collect(Duration::from_secs(2)).await;
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            TrtcEvent::UserVideoAvailable { .. }
                | TrtcEvent::UserAudioAvailable { .. }
                | TrtcEvent::FirstVideoFrame { .. }
                | TrtcEvent::FirstAudioFrame { .. }
        )),
        "the anchor got media from the audience: {seen:?}"
    );
    // Becoming an anchor lets the same running camera through.
    viewer.cloud.switch_role(TrtcRole::Anchor);
    anchor
        .wait_for(|e| is_available(e, "viewer", true, true))
        .await;
    server.shutdown().await.unwrap();
}
