//! Entering a room, step by step, as in TRTC's "Enter a room" guide (steps 2–5), in Rust.
//!
//! Run it against a room server:
//!
//! ```sh
//! room-server --listen 127.0.0.1:8080 --app 1400000000:my-secret &
//! TRTC_SERVER_URL=ws://127.0.0.1:8080 TRTC_SDKAPPID=1400000000 TRTC_SECRET=my-secret \
//!     cargo run -p trtc-sdk --example enter_room -- denny 123321
//! ```
//!
//! The secret is used here the way TRTC's `GenerateTestUserSig` uses it: to sign a userSig on
//! the client, for testing only. In production the userSig comes from your backend.

// An example shows what happens by printing it.
#![allow(clippy::print_stdout)]

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use trtc_sdk::{TrtcAppScene, TrtcCloud, TrtcCloudListener, TrtcParams, TrtcRole};

/// Step 3: listen for SDK events. Only the callbacks we care about are implemented; the rest
/// of the trait's methods do nothing.
struct RoomListener {
    done: mpsc::Sender<Result<i64, String>>,
}

impl TrtcCloudListener for RoomListener {
    fn on_error(&self, err_code: i32, err_msg: &str) {
        // The guide shows a toast for a failed screen capture and a dialog for other errors.
        if err_code == -1308 {
            println!("Failed to initiate screen recording");
        } else {
            eprintln!("error {err_code}: {err_msg}");
        }
    }

    fn on_enter_room(&self, result: i64) {
        // result > 0: entering took `result` ms. result < 0: the error code.
        if result > 0 {
            println!("Enter room success ({result} ms)");
            let _ = self.done.send(Ok(result));
        } else {
            let _ = self
                .done
                .send(Err(format!("enterRoom failed with {result}")));
        }
    }

    fn on_remote_user_enter_room(&self, user_id: &str) {
        println!("{user_id} is in the room");
    }

    fn on_exit_room(&self, reason: i32) {
        println!("Exit room ({reason})");
    }
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let user_id = args.next().unwrap_or_else(|| "denny".into());
    let room_id: u32 = args
        .next()
        .map_or(Ok(123321), |r| r.parse())
        .map_err(|e| format!("room ID: {e}"))?;
    let env = |k: &str| std::env::var(k).map_err(|_| format!("set {k}"));
    let sdk_app_id: u32 = env("TRTC_SDKAPPID")?
        .parse()
        .map_err(|e| format!("TRTC_SDKAPPID: {e}"))?;
    let secret = env("TRTC_SECRET")?;

    // Step 2: create the SDK instance and register the event listener.
    // (The server comes from TRTC_SERVER_URL; `set_server_url` changes it.)
    let trtc_cloud = TrtcCloud::shared_instance();
    let (done, result) = mpsc::channel();
    trtc_cloud.add_listener(Arc::new(RoomListener { done }));

    // Step 4: prepare the two parameters: TRTCParams and the scene.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let params = TrtcParams {
        sdk_app_id,
        user_id: user_id.clone(),
        user_sig: trtc_usersig::gen_user_sig(sdk_app_id.into(), &secret, &user_id, 604_800, now),
        room_id,
        // Only read in the live scenes (Live, VoiceChatRoom); Anchor may publish.
        role: TrtcRole::Anchor,
        ..Default::default()
    };
    // The guide's meeting demo uses the live scene with the anchor role.
    let scene = TrtcAppScene::Live;

    // Step 5: enter the room; the outcome arrives as on_enter_room.
    trtc_cloud.enter_room(&params, scene);
    let entered = result
        .recv_timeout(Duration::from_secs(15))
        .map_err(|_| "no onEnterRoom within 15 s".to_string())?;
    entered?;

    // Leave again, and release the instance once onExitRoom has arrived.
    let mut events = trtc_cloud.events();
    trtc_cloud.exit_room();
    while let Some(event) = events.blocking_recv() {
        if matches!(event, trtc_sdk::TrtcEvent::ExitRoom { .. }) {
            break;
        }
    }
    TrtcCloud::destroy_shared_instance();
    Ok(())
}
