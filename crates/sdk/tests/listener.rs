//! Code ported from TRTC implements the listener, not the event stream: every media callback
//! reaches a `TrtcCloudListener` (issue 8), here onUserVideoAvailable, onFirstVideoFrame and
//! onStatistics with real media through the server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use trtc_sdk::{SourceChoice, TrtcAppScene, TrtcCloudListener, TrtcStatistics};

#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
}

impl TrtcCloudListener for Recorder {
    fn on_user_video_available(&self, user_id: &str, available: bool) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("videoAvailable {user_id} {available}"));
    }
    fn on_first_video_frame(&self, user_id: &str, stream_type: u8, width: u32, height: u32) {
        self.calls.lock().unwrap().push(format!(
            "firstVideoFrame {user_id} {stream_type} {width}x{height}"
        ));
    }
    fn on_statistics(&self, statistics: &TrtcStatistics) {
        let remote = statistics
            .remote_statistics_array
            .iter()
            .map(|r| format!("{}:{}x{}", r.user_id, r.width, r.height))
            .collect::<Vec<_>>()
            .join(",");
        self.calls
            .lock()
            .unwrap()
            .push(format!("statistics {remote}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_receives_the_media_callbacks() {
    let server = server().await;
    let none = SourceChoice::None;
    let mut sender = media_client(&server.url, "sender", SourceChoice::Synthetic, none, none);
    let mut receiver = media_client(&server.url, "receiver", none, none, none);
    let recorder = Arc::new(Recorder::default());
    receiver
        .cloud
        .add_listener(Arc::clone(&recorder) as Arc<dyn TrtcCloudListener>);
    assert!(sender.enter(97, TrtcAppScene::VideoCall).await > 0);
    assert!(receiver.enter(97, TrtcAppScene::VideoCall).await > 0);
    sender.cloud.start_local_preview(None);

    let has = |what: &str| {
        let calls = recorder.calls.lock().unwrap();
        calls.iter().any(|c| c.starts_with(what))
    };
    let deadline = Instant::now() + WAIT;
    while !has("videoAvailable sender true") {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            recorder.calls.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    receiver.cloud.start_remote_view("sender", 0, None);
    while !(has("firstVideoFrame sender 0 640x360") && has("statistics sender:640x360")) {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            recorder.calls.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.shutdown().await.unwrap();
}
