//! Network loss: resumption within the drop timeout (nobody sees a leave), the drop timeout
//! itself (others see reason 1), and recovery after the server restarts.

mod common;
use common::*;
use std::time::Duration;
use trtc_sdk::{TrtcAppScene, TrtcEvent};

#[tokio::test]
async fn dropped_connection_resumes_and_nobody_sees_it_leave() {
    let server = server().await;
    let proxy = Proxy::start(server.addr).await;
    let mut a = Client::new(&proxy.url, "alice");
    let mut b = Client::new(&server.url, "bob");
    assert!(a.enter(1, TrtcAppScene::VideoCall).await > 0);
    assert!(b.enter(1, TrtcAppScene::VideoCall).await > 0);
    a.wait_for(|e| *e == entered("bob")).await;
    b.wait_for(|e| *e == entered("alice")).await;

    proxy.cut();
    assert_eq!(a.wait_for(|_| true).await, TrtcEvent::ConnectionLost);
    assert_eq!(a.wait_for(|_| true).await, TrtcEvent::TryToReconnect);
    a.wait_for(|e| *e == TrtcEvent::ConnectionRecovery).await;
    assert!(
        b.collect(Duration::from_millis(500)).await.is_empty(),
        "bob saw alice's network loss"
    );

    // The session really is the old one: a later leave is seen normally, and events flow.
    let mut c = Client::new(&server.url, "carol");
    assert!(c.enter(1, TrtcAppScene::VideoCall).await > 0);
    assert_eq!(a.wait_for(|_| true).await, entered("carol"));
    assert_eq!(a.exit().await, 0, "no onExitRoom before this one");
    assert_eq!(
        b.wait_for(|e| matches!(e, TrtcEvent::RemoteUserLeaveRoom { .. }))
            .await,
        left("alice", 0)
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn members_who_came_and_went_during_the_outage_are_reconciled() {
    let server = server().await;
    let proxy = Proxy::start(server.addr).await;
    let mut a = Client::new(&proxy.url, "alice");
    let mut b = Client::new(&server.url, "bob");
    assert!(b.enter(2, TrtcAppScene::VideoCall).await > 0);
    assert!(a.enter(2, TrtcAppScene::VideoCall).await > 0);
    a.wait_for(|e| *e == entered("bob")).await;
    proxy.set_down(true);
    a.wait_for(|e| *e == TrtcEvent::ConnectionLost).await;
    // While alice's network is down: bob leaves and carol comes.
    b.exit().await;
    let mut c = Client::new(&server.url, "carol");
    assert!(c.enter(2, TrtcAppScene::VideoCall).await > 0);
    a.wait_for(|e| *e == TrtcEvent::TryToReconnect).await;
    proxy.set_down(false);
    let mut seen = vec![];
    loop {
        let e = a.wait_for(|_| true).await;
        if e == TrtcEvent::ConnectionRecovery {
            break;
        }
        seen.push(e);
    }
    assert!(seen.contains(&left("bob", 0)), "{seen:?}");
    assert!(seen.contains(&entered("carol")), "{seen:?}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn silent_user_is_dropped_after_the_drop_timeout() {
    let cfg = trtc_server::ServerConfig {
        drop_timeout: Duration::from_millis(1500),
        ..config()
    };
    let server = trtc_server::spawn(cfg).await.unwrap();
    let mut watcher = Client::new(&server.url, "watcher");
    assert!(watcher.enter(3, TrtcAppScene::VideoCall).await > 0);
    // A raw client that enters and then never says another word (no heartbeats).
    let mut frozen = Raw::connect(&server.url).await;
    assert_eq!(frozen.enter(0, raw_params("frozen", 3)).await, 0);
    assert_eq!(watcher.wait_for(|_| true).await, entered("frozen"));
    let started = std::time::Instant::now();
    assert_eq!(watcher.wait_for(|_| true).await, left("frozen", 1));
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "dropped too early: {:?}",
        started.elapsed()
    );
    // Meanwhile the SDK client, which heartbeats, was never dropped.
    assert!(watcher
        .collect(Duration::from_millis(2000))
        .await
        .is_empty());
    // The frozen client's socket is closed by the server.
    assert_eq!(frozen.recv().await, None);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn session_survives_a_server_restart_by_entering_again() {
    let first = server().await;
    let addr = first.addr;
    let mut a = Client::new(&first.url, "alice");
    assert!(a.enter(4, TrtcAppScene::VideoCall).await > 0);
    first.shutdown().await.unwrap();
    assert_shutdown_then_lost(&mut a).await;
    // A new server process on the same address knows nothing of the session.
    let cfg = trtc_server::ServerConfig {
        listen: addr,
        ..config()
    };
    let second = trtc_server::spawn(cfg).await.unwrap();
    a.wait_for(|e| *e == TrtcEvent::ConnectionRecovery).await;
    let mut b = Client::new(&second.url, "bob");
    assert!(b.enter(4, TrtcAppScene::VideoCall).await > 0);
    assert_eq!(
        b.wait_for(|_| true).await,
        entered("alice"),
        "alice is in the room on the new server"
    );
    second.shutdown().await.unwrap();
}

#[tokio::test]
async fn gives_up_with_error_8_when_the_server_never_returns() {
    let server = server().await;
    let timing = trtc_sdk::SessionTiming {
        reconnect_timeout: Duration::from_millis(800),
        ..fast_timing()
    };
    let mut a = Client::with_timing(&server.url, "alice", timing);
    assert!(a.enter(5, TrtcAppScene::VideoCall).await > 0);
    server.shutdown().await.unwrap();
    assert_shutdown_then_lost(&mut a).await;
    let err = a.wait_for(|e| matches!(e, TrtcEvent::Error { .. })).await;
    assert!(
        matches!(err, TrtcEvent::Error { err_code: -8, .. }),
        "{err:?}"
    );
}

/// A server shutting down is the loss it causes, and then said as such (5101) with the first
/// attempt to reconnect.
async fn assert_shutdown_then_lost(a: &mut Client) {
    assert_eq!(a.wait_for(|_| true).await, TrtcEvent::ConnectionLost);
    assert_eq!(a.wait_for(|_| true).await, TrtcEvent::TryToReconnect);
    assert!(
        matches!(
            a.wait_for(|_| true).await,
            TrtcEvent::Warning {
                warning_code: 5101,
                ..
            }
        ),
        "onWarning 5101 after onTryToReconnect"
    );
}
