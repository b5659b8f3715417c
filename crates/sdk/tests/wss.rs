//! `wss://`: the server with a certificate, the SDK trusting a private root.

mod common;
use common::*;
use trtc_sdk::{TrtcAppScene, TrtcCloud, TrtcCloudConfig, TrtcEvent};

#[tokio::test]
async fn enters_over_tls_and_refuses_an_untrusted_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let cfg = trtc_server::ServerConfig {
        tls: Some((cert_path, key_path)),
        ..config()
    };
    let server = trtc_server::spawn(cfg).await.unwrap();
    assert!(server.url.starts_with("wss://"));
    let url = format!("wss://localhost:{}", server.addr.port());

    let trusting = TrtcCloud::new(
        TrtcCloudConfig {
            server_url: url.clone(),
            timing: fast_timing(),
            extra_root_certs: vec![],
            speaker: trtc_sdk::SourceChoice::None,
            ..TrtcCloudConfig::default()
        }
        .with_root_cert(cert.cert.der().to_vec()),
    );
    let mut c = Client {
        events: trusting.events(),
        cloud: trusting,
        user: "alice".into(),
        wants_statistics: false,
    };
    assert!(c.enter(1, TrtcAppScene::VideoCall).await > 0);

    let timing = trtc_sdk::SessionTiming {
        enter_timeout: std::time::Duration::from_millis(800),
        ..fast_timing()
    };
    let mut untrusting = Client::with_timing(&url, "bob", timing);
    assert_eq!(untrusting.enter(1, TrtcAppScene::VideoCall).await, -3308);
    assert!(c
        .collect(std::time::Duration::from_millis(200))
        .await
        .iter()
        .all(|e| !matches!(e, TrtcEvent::RemoteUserEnterRoom { .. })));
    server.shutdown().await.unwrap();
}
