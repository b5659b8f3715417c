//! qa-contract §3: every room-entry check, its code, and the order the server applies them,
//! through the SDK (local checks send nothing) and through the raw protocol (the server checks
//! again).

mod common;
use common::*;
use serde_json::json;
use trtc_sdk::{TrtcAppScene, TrtcEvent, TrtcParams, TrtcRole};

#[tokio::test]
async fn sdk_checks_locally_in_contract_order_and_reports_on_error_first() {
    // No server at all: local failures must not need one.
    let mut c = Client::new("ws://127.0.0.1:9", "x");
    let cases: Vec<(TrtcParams, i64)> = vec![
        (TrtcParams::default(), -3316),
        (
            TrtcParams {
                sdk_app_id: 0,
                ..params("alice", 1)
            },
            -3317,
        ),
        (
            TrtcParams {
                room_id: 0,
                ..params("alice", 1)
            },
            -3318,
        ),
        (
            TrtcParams {
                room_id: u32::MAX,
                ..params("alice", 1)
            },
            -3318,
        ),
        (str_params("alice", "no/slash"), -3318),
        (params("", 1), -3319),
        (params("has space", 1), -3319),
        (params(&"x".repeat(33), 1), -3319),
        (
            TrtcParams {
                user_sig: String::new(),
                ..params("alice", 1)
            },
            -3320,
        ),
    ];
    for (p, code) in cases {
        c.cloud.enter_room(&p, TrtcAppScene::VideoCall);
        let err = c.wait_for(|_| true).await;
        assert!(
            matches!(err, TrtcEvent::Error { err_code, .. } if i64::from(err_code) == code),
            "{err:?} for {code}"
        );
        assert_eq!(
            c.wait_for(|_| true).await,
            TrtcEvent::EnterRoom { result: code }
        );
    }
}

#[tokio::test]
async fn server_refuses_with_each_code_in_order() {
    let server = server().await;
    let mut raw = Raw::connect(&server.url).await;
    // Parameters missing entirely, then each rule with all later ones also broken.
    let reply = raw
        .request(json!({"type": "enterRoom", "protocol": 1, "scene": 0}))
        .await;
    assert_eq!(reply["code"], -3316);
    assert_eq!(raw.enter(0, json!({})).await, -3316);
    assert_eq!(
        raw.enter(0, json!({"sdkAppId": 0, "userId": "bad id"}))
            .await,
        -3317
    );
    assert_eq!(
        raw.enter(0, json!({"sdkAppId": 42, "userId": "bad id"}))
            .await,
        -3317,
        "unknown app"
    );
    assert_eq!(
        raw.enter(0, json!({"sdkAppId": APP, "userId": "bad id"}))
            .await,
        -3318
    );
    assert_eq!(
        raw.enter(0, json!({"sdkAppId": APP, "roomId": 1, "userId": "bad id"}))
            .await,
        -3319
    );
    assert_eq!(
        raw.enter(0, json!({"sdkAppId": APP, "roomId": 1, "userId": "alice"}))
            .await,
        -3320
    );
    let wrong_key = trtc_usersig::gen_user_sig(APP.into(), "other", "alice", 60, now());
    assert_eq!(
        raw.enter(
            0,
            json!({"sdkAppId": APP, "roomId": 1, "userId": "alice", "userSig": wrong_key})
        )
        .await,
        -100018
    );
    let expired = trtc_usersig::gen_user_sig(APP.into(), KEY, "alice", 60, now() - 120);
    assert_eq!(
        raw.enter(
            0,
            json!({"sdkAppId": APP, "roomId": 1, "userId": "alice", "userSig": expired})
        )
        .await,
        -100018
    );
    let someone_elses = sig("bob");
    assert_eq!(
        raw.enter(
            0,
            json!({"sdkAppId": APP, "roomId": 1, "userId": "alice", "userSig": someone_elses})
        )
        .await,
        -100018
    );
    // Success, then a repeat on the same connection.
    assert_eq!(raw.enter(0, raw_params("alice", 1)).await, 0);
    assert_eq!(raw.enter(0, raw_params("alice", 1)).await, -3340);
    assert_eq!(
        raw.enter(0, raw_params("alice", 2)).await,
        -3340,
        "one session per connection"
    );
    // The first user's scene sticks.
    let mut other = Raw::connect(&server.url).await;
    let reply = other
        .request(
            json!({"type": "enterRoom", "protocol": 1, "scene": 1, "params": raw_params("bob", 1)}),
        )
        .await;
    assert_eq!(reply["code"], -3301);
    assert!(
        reply["message"].as_str().unwrap().contains("videocall"),
        "{reply}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn sdk_reports_server_side_refusals() {
    let server = server().await;
    let mut c = Client::new(&server.url, "alice");
    let p = TrtcParams {
        user_sig: trtc_usersig::gen_user_sig(APP.into(), "wrong", "alice", 60, now()),
        ..params("alice", 5)
    };
    assert_eq!(c.enter_with(&p, TrtcAppScene::VideoCall).await, -100018);
    let p = TrtcParams {
        sdk_app_id: 7,
        ..params("alice", 5)
    };
    assert_eq!(c.enter_with(&p, TrtcAppScene::VideoCall).await, -3317);
    let mut first = Client::new(&server.url, "bob");
    assert!(first.enter(5, TrtcAppScene::AudioCall).await > 0);
    assert_eq!(c.enter(5, TrtcAppScene::VideoCall).await, -3301);
    // The failed attempts left no trace: alice can still enter with the right scene.
    assert!(c.enter(5, TrtcAppScene::AudioCall).await > 0);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn private_map_key_is_checked_where_required() {
    let mut cfg = config();
    cfg.apps.get_mut(&APP).unwrap().private_map_key_required = true;
    let server = trtc_server::spawn(cfg).await.unwrap();
    let mut c = Client::new(&server.url, "alice");
    assert_eq!(
        c.enter(9, TrtcAppScene::VideoCall).await,
        -100006,
        "missing key"
    );
    let pmk = |room: u32, privilege: u32| {
        trtc_usersig::gen_private_map_key(
            APP.into(),
            KEY,
            "alice",
            &trtc_usersig::PmkRoom::Num(room),
            privilege,
            600,
            now(),
        )
    };
    let p = TrtcParams {
        private_map_key: pmk(10, 255),
        ..params("alice", 9)
    };
    assert_eq!(
        c.enter_with(&p, TrtcAppScene::VideoCall).await,
        -100006,
        "key for another room"
    );
    let p = TrtcParams {
        private_map_key: pmk(9, 42),
        ..params("alice", 9)
    };
    assert_eq!(
        c.enter_with(&p, TrtcAppScene::VideoCall).await,
        -100006,
        "anchors need send rights"
    );
    let p = TrtcParams {
        private_map_key: pmk(9, 42),
        role: TrtcRole::Audience,
        ..params("alice", 9)
    };
    assert!(
        c.enter_with(&p, TrtcAppScene::Live).await > 0,
        "42 is enough for audience"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn numeric_and_string_rooms_are_different_rooms() {
    let server = server().await;
    let mut a = Client::new(&server.url, "alice");
    let mut b = Client::new(&server.url, "bob");
    let mut c = Client::new(&server.url, "carol");
    assert!(a.enter(123, TrtcAppScene::VideoCall).await > 0);
    assert!(
        b.enter_with(&str_params("bob", "123"), TrtcAppScene::VideoCall)
            .await
            > 0
    );
    // Spaces are part of a string room's name, not trimmed.
    assert!(
        c.enter_with(&str_params("carol", " 123"), TrtcAppScene::VideoCall)
            .await
            > 0
    );
    let mut d = Client::new(&server.url, "dave");
    assert!(
        d.enter_with(&str_params("dave", "123"), TrtcAppScene::VideoCall)
            .await
            > 0
    );
    assert_eq!(b.wait_for(|_| true).await, entered("dave"));
    assert!(
        a.collect(std::time::Duration::from_millis(300))
            .await
            .is_empty(),
        "numeric room 123 saw nothing"
    );
    assert!(
        c.collect(std::time::Duration::from_millis(100))
            .await
            .is_empty(),
        "\" 123\" saw nothing"
    );
    server.shutdown().await.unwrap();
}
