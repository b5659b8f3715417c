//! Who sees whom: enter/leave per scene, switchRole, the anchor and user limits, replacement
//! of an earlier session, and dissolution of empty rooms.

mod common;
use common::*;
use std::time::Duration;
use trtc_sdk::{TrtcAppScene, TrtcEvent, TrtcRole};

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn call_scene_everyone_sees_enter_and_leave() {
    let server = server().await;
    let mut a = Client::new(&server.url, "alice");
    let mut b = Client::new(&server.url, "bob");
    assert!(a.enter(1, TrtcAppScene::VideoCall).await > 0);
    assert!(b.enter(1, TrtcAppScene::VideoCall).await > 0);
    assert_eq!(a.wait_for(|_| true).await, entered("bob"));
    assert_eq!(
        b.wait_for(|_| true).await,
        entered("alice"),
        "existing members arrive after onEnterRoom"
    );
    assert_eq!(b.exit().await, 0);
    assert_eq!(a.wait_for(|_| true).await, left("bob", 0));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn live_scene_only_anchors_are_visible_and_switch_role_announces() {
    let server = server().await;
    let mut anchor = Client::new(&server.url, "anchor");
    let mut viewer = Client::new(&server.url, "viewer");
    assert!(anchor.enter_live(2, TrtcRole::Anchor).await > 0);
    assert!(viewer.enter_live(2, TrtcRole::Audience).await > 0);
    assert_eq!(
        viewer.wait_for(|_| true).await,
        entered("anchor"),
        "audience sees anchors"
    );
    assert!(
        anchor.collect(QUIET).await.is_empty(),
        "anchors do not see audience"
    );

    viewer.cloud.switch_role(TrtcRole::Anchor);
    assert_eq!(
        viewer.wait_for(|_| true).await,
        TrtcEvent::SwitchRole {
            err_code: 0,
            err_msg: "ok".into()
        }
    );
    assert_eq!(anchor.wait_for(|_| true).await, entered("viewer"));

    viewer.cloud.switch_role(TrtcRole::Audience);
    viewer
        .wait_for(|e| matches!(e, TrtcEvent::SwitchRole { err_code: 0, .. }))
        .await;
    assert_eq!(anchor.wait_for(|_| true).await, left("viewer", 3));

    // An audience member leaving is invisible.
    assert_eq!(viewer.exit().await, 0);
    assert!(anchor.collect(QUIET).await.is_empty());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn switch_role_in_a_call_scene_is_refused() {
    let server = server().await;
    let mut a = Client::new(&server.url, "alice");
    assert!(a.enter(3, TrtcAppScene::VideoCall).await > 0);
    a.cloud.switch_role(TrtcRole::Audience);
    assert!(matches!(
        a.wait_for(|_| true).await,
        TrtcEvent::SwitchRole { err_code: -2, .. }
    ));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn fifty_first_anchor_and_switch_past_fifty_are_refused() {
    let server = server().await;
    let mut anchors = vec![];
    for i in 0..50 {
        let mut c = Client::new(&server.url, &format!("anchor{i}"));
        assert!(c.enter_live(4, TrtcRole::Anchor).await > 0, "anchor {i}");
        anchors.push(c);
    }
    let mut extra = Client::new(&server.url, "anchor50");
    assert_eq!(extra.enter_live(4, TrtcRole::Anchor).await, -102052);
    // Audience still fits, but cannot become the 51st anchor.
    assert!(extra.enter_live(4, TrtcRole::Audience).await > 0);
    extra.cloud.switch_role(TrtcRole::Anchor);
    assert!(matches!(
        extra
            .wait_for(|e| matches!(e, TrtcEvent::SwitchRole { .. }))
            .await,
        TrtcEvent::SwitchRole {
            err_code: -102052,
            ..
        }
    ));
    // Once an anchor leaves, the switch succeeds.
    anchors[0].exit().await;
    extra.cloud.switch_role(TrtcRole::Anchor);
    assert!(matches!(
        extra
            .wait_for(|e| matches!(e, TrtcEvent::SwitchRole { .. }))
            .await,
        TrtcEvent::SwitchRole { err_code: 0, .. }
    ));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn three_hundred_first_user_of_a_call_room_is_refused() {
    let server = server().await;
    let mut users = vec![];
    for i in 0..300 {
        let mut c = Client::new(&server.url, &format!("u{i}"));
        assert!(c.enter(5, TrtcAppScene::AudioCall).await > 0, "user {i}");
        // Drop the event backlog as we go; only the entry result matters here.
        users.push(c.cloud);
    }
    let mut extra = Client::new(&server.url, "u300");
    assert_eq!(extra.enter(5, TrtcAppScene::AudioCall).await, -102052);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn same_user_again_replaces_the_earlier_session_silently() {
    let server = server().await;
    let mut other = Client::new(&server.url, "watcher");
    let mut first = Client::new(&server.url, "alice");
    let mut second = Client::new(&server.url, "alice");
    assert!(other.enter(6, TrtcAppScene::VideoCall).await > 0);
    assert!(first.enter(6, TrtcAppScene::VideoCall).await > 0);
    assert_eq!(other.wait_for(|_| true).await, entered("alice"));
    assert!(second.enter(6, TrtcAppScene::VideoCall).await > 0);
    assert_eq!(
        first
            .wait_for(|e| matches!(e, TrtcEvent::ExitRoom { .. }))
            .await,
        TrtcEvent::ExitRoom { reason: 1 }
    );
    assert!(
        other.collect(QUIET).await.is_empty(),
        "others see no leave and no enter"
    );
    // The new session is the real one: its exit is what others see.
    assert_eq!(second.exit().await, 0);
    assert_eq!(other.wait_for(|_| true).await, left("alice", 0));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn empty_call_room_is_dissolved() {
    let server = server().await;
    let mut a = Client::new(&server.url, "alice");
    assert!(a.enter(7, TrtcAppScene::VideoCall).await > 0);
    assert_eq!(a.exit().await, 0);
    // The room's scene went with it: a new first user may pick another scene.
    let mut b = Client::new(&server.url, "bob");
    let result = b.enter(7, TrtcAppScene::AudioCall).await;
    assert!(result > 0, "room 7 still held its old scene: {result}");
    server.shutdown().await.unwrap();
}
