//! Remote input never panics the server or affects other clients: malformed JSON, unknown
//! messages, binary and oversize frames, and room commands before enterRoom get error replies
//! and the connection stays usable.

mod common;
use common::*;
use serde_json::json;
use std::time::Duration;
use trtc_sdk::TrtcAppScene;

#[tokio::test]
async fn garbage_gets_error_replies_and_the_connection_stays() {
    let server = server().await;
    let mut bystander = Client::new(&server.url, "bystander");
    assert!(bystander.enter(1, TrtcAppScene::VideoCall).await > 0);

    let mut raw = Raw::connect(&server.url).await;
    for bad in [
        "",
        "{",
        "null",
        "[1,2]",
        r#"{"type":"launchRockets"}"#,
        r#"{"type":"enterRoom","protocol":"x"}"#,
        "\u{0}\u{1}",
    ] {
        let reply = raw.request_text(bad).await;
        assert_eq!(reply["type"], "error", "{bad:?} → {reply}");
        assert_eq!(reply["code"], -2);
    }
    let big = format!(r#"{{"type":"heartbeat","pad":"{}"}}"#, "x".repeat(300_000));
    let reply = raw.request_text(&big).await;
    assert!(
        reply["message"].as_str().unwrap().contains("exceeds"),
        "{reply}"
    );
    raw.send_binary(vec![1, 2, 3]).await;
    assert_eq!(raw.recv().await.unwrap()["code"], -2);
    // Room commands before entering.
    assert_eq!(raw.request(json!({"type": "exitRoom"})).await["code"], -3);
    assert_eq!(
        raw.request(json!({"type": "switchRole", "role": 20})).await["code"],
        -3
    );
    assert_eq!(
        raw.request(json!({"type": "resumeSession", "protocol": 1, "sessionToken": "nope"}))
            .await["code"],
        -3301
    );
    assert_eq!(
        raw.request(json!({"type": "heartbeat"})).await["type"],
        "heartbeatAck"
    );
    assert_eq!(
        raw.request(
            json!({"type": "enterRoom", "protocol": 99, "scene": 0, "params": raw_params("x", 1)})
        )
        .await["code"],
        -3301
    );
    // After all that, the same connection still enters normally.
    assert_eq!(raw.enter(0, raw_params("raw", 1)).await, 0);
    assert_eq!(bystander.wait_for(|_| true).await, entered("raw"));
    assert!(
        bystander
            .collect(Duration::from_millis(200))
            .await
            .is_empty(),
        "nothing else reached the bystander"
    );

    // A frame beyond the transport limit closes only that connection.
    let mut huge = Raw::connect(&server.url).await;
    huge.send_text("x".repeat(2 << 20)).await;
    assert_eq!(huge.recv().await, None);
    assert_eq!(
        raw.request(json!({"type": "heartbeat"})).await["type"],
        "heartbeatAck"
    );
    let health = http_get(server.addr, "/healthz").await;
    assert!(health.contains(r#""status":"ok""#), "{health}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_closes_every_client_cleanly() {
    let server = server().await;
    let mut raw = Raw::connect(&server.url).await;
    assert_eq!(raw.enter(0, raw_params("raw", 1)).await, 0);
    let stop = tokio::spawn(server.shutdown());
    assert_eq!(raw.recv().await, None, "closed by the server");
    stop.await.unwrap().unwrap();
}
