//! The room's rules in virtual time: every instant is made up, nothing sleeps.

use super::*;
use std::time::Duration;
use trtc_protocol::codes::*;
use trtc_protocol::limits::{MAX_ANCHORS, MAX_CALL_USERS};
use trtc_protocol::StreamKind;

const DROP: Duration = Duration::from_secs(90);
const LINGER: Duration = Duration::from_secs(600);
const GRACE: Duration = Duration::from_secs(10);

struct Harness {
    room: Room,
    t0: Instant,
    inboxes: BTreeMap<String, (mpsc::Receiver<ServerMessage>, Arc<OnceLock<u16>>)>,
    next_conn: u64,
}

fn harness(scene: TrtcAppScene) -> Harness {
    let t0 = Instant::now();
    let times = RoomTimes {
        drop_timeout: DROP,
        live_linger: LINGER,
        claim_grace: GRACE,
    };
    Harness {
        room: Room::detached(scene, times, t0),
        t0,
        inboxes: BTreeMap::new(),
        next_conn: 1,
    }
}

impl Harness {
    fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }

    fn conn_of(&self, user: &str) -> u64 {
        self.room.members[user].outbox.as_ref().unwrap().conn_id
    }

    fn enter_as(&mut self, user: &str, role: TrtcRole, at: f64) -> Result<Admitted, Refusal> {
        let (tx, rx) = mpsc::channel(1024);
        let outbox = Outbox::new(self.next_conn, tx);
        self.next_conn += 1;
        let closing = Arc::clone(&outbox.closing);
        let scene = self.room.scene;
        let now = self.at(at);
        let result = self
            .room
            .enter(user.into(), role, scene, false, outbox, now);
        if result.is_ok() {
            self.inboxes.insert(user.into(), (rx, closing));
        }
        result
    }

    fn enter(&mut self, user: &str, at: f64) {
        self.enter_as(user, TrtcRole::Anchor, at).expect("entered");
    }

    fn exit(&mut self, user: &str, at: f64) {
        let conn_id = self.conn_of(user);
        let now = self.at(at);
        let user_id = user.into();
        self.room
            .handle(RoomCommand::Exit { user_id, conn_id }, now);
    }

    fn set_media(&mut self, user: &str, state: MediaState, at: f64) -> (i32, MediaState) {
        let conn = self.conn_of(user);
        let now = self.at(at);
        let (code, _, accepted) = self.room.set_media(user, conn, state, now);
        (code, accepted)
    }

    fn messages(&mut self, user: &str) -> Vec<ServerMessage> {
        let (rx, _) = self.inboxes.get_mut(user).unwrap();
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    fn close_code(&self, user: &str) -> Option<u16> {
        self.inboxes[user].1.get().copied()
    }
}

fn screen() -> MediaState {
    MediaState {
        sub: true,
        ..MediaState::default()
    }
}

#[tokio::test]
async fn a_silent_member_is_dropped_at_the_timeout_and_the_others_see_reason_1() {
    let mut h = harness(TrtcAppScene::VideoCall);
    h.enter("alice", 0.0);
    h.enter("bob", 0.0);
    h.messages("alice");
    let bob = h.conn_of("bob");
    h.room.handle(
        RoomCommand::Heartbeat {
            user_id: "bob".into(),
            conn_id: bob,
        },
        h.at(60.0),
    );
    h.room.tick(h.at(89.9));
    assert_eq!(h.room.members.len(), 2, "not before the timeout");
    h.room.tick(h.at(90.0));
    assert!(!h.room.members.contains_key("alice"));
    assert!(
        h.room.members.contains_key("bob"),
        "bob's heartbeat kept him"
    );
    assert_eq!(h.close_code("alice"), Some(close::DROPPED));
    assert_eq!(
        h.messages("bob"),
        vec![ServerMessage::RemoteUserLeaveRoom {
            user_id: "alice".into(),
            reason: LEAVE_TIMEOUT
        }]
    );
}

#[tokio::test]
async fn entering_again_replaces_the_earlier_session_and_nobody_else_notices() {
    let mut h = harness(TrtcAppScene::VideoCall);
    h.enter("alice", 0.0);
    h.enter("bob", 1.0);
    h.messages("alice");
    let first = h.inboxes.remove("alice").unwrap();
    h.enter("alice", 2.0);
    let (mut rx, closing) = first;
    assert_eq!(
        rx.try_recv().ok(),
        Some(ServerMessage::ExitRoom {
            reason: EXIT_REMOVED
        })
    );
    assert_eq!(closing.get().copied(), Some(close::REPLACED));
    assert!(h.messages("bob").is_empty(), "no leave, no enter");
    assert_eq!(h.room.members.len(), 2);
}

#[tokio::test]
async fn resuming_elsewhere_closes_the_stale_connection_with_its_code() {
    let mut h = harness(TrtcAppScene::VideoCall);
    let admitted = h.enter_as("alice", TrtcRole::Anchor, 0.0).unwrap();
    let (tx, _rx) = mpsc::channel(8);
    let fresh = Outbox::new(99, tx);
    let now = h.at(5.0);
    h.room
        .resume("alice", &admitted.token, fresh, now)
        .expect("resumed");
    assert_eq!(h.close_code("alice"), Some(close::RESUMED_ELSEWHERE));
    assert_eq!(h.conn_of("alice"), 99);
}

#[tokio::test]
async fn call_rooms_hold_300_users_and_50_publishers() {
    let mut h = harness(TrtcAppScene::VideoCall);
    for i in 0..MAX_CALL_USERS {
        h.enter(&format!("u{i}"), 0.0);
    }
    let full = h
        .enter_as("one-too-many", TrtcRole::Anchor, 1.0)
        .unwrap_err();
    assert_eq!(full.0, ERR_SERVER_CENTER_ROOM_FULL);
    let camera = MediaState {
        video: true,
        ..MediaState::default()
    };
    for i in 0..MAX_ANCHORS {
        assert_eq!(h.set_media(&format!("u{i}"), camera, 2.0).0, ERR_NULL);
    }
    let (code, accepted) = h.set_media("u299", camera, 2.0);
    assert_eq!(
        (code, accepted),
        (ERR_SERVER_CENTER_ROOM_FULL, MediaState::default())
    );
}

#[tokio::test]
async fn an_empty_live_room_lingers_after_audience_and_a_call_room_ends_at_once() {
    let mut h = harness(TrtcAppScene::Live);
    h.enter_as("viewer", TrtcRole::Audience, 0.0).unwrap();
    h.exit("viewer", 1.0);
    h.room.tick(h.at(1.0 + LINGER.as_secs_f64() - 1.0));
    assert!(!h.room.dissolved, "lingers");
    h.room.tick(h.at(1.0 + LINGER.as_secs_f64()));
    assert!(h.room.dissolved);

    let mut call = harness(TrtcAppScene::VideoCall);
    call.enter("alice", 0.0);
    call.exit("alice", 1.0);
    assert!(call.room.dissolved);
}

#[tokio::test]
async fn a_screen_claim_no_stream_backs_is_withdrawn_and_frees_the_slot() {
    let mut h = harness(TrtcAppScene::VideoCall);
    h.enter("squatter", 0.0);
    h.enter("bob", 0.0);
    h.enter("carol", 0.0);
    for u in ["squatter", "bob", "carol"] {
        h.messages(u);
    }
    assert_eq!(h.set_media("squatter", screen(), 1.0), (ERR_NULL, screen()));
    assert_eq!(
        h.set_media("carol", screen(), 2.0).0,
        ERR_SCREEN_SHARE_OCCUPIED_BY_OTHER
    );
    h.messages("bob");
    h.room.tick(h.at(1.0 + GRACE.as_secs_f64() - 0.1));
    assert!(h.messages("bob").is_empty(), "not before the grace");
    h.room.tick(h.at(1.0 + GRACE.as_secs_f64()));
    let told = h.messages("squatter");
    assert!(
        matches!(&told[..], [ServerMessage::MediaStateResult { code: ERR_REFUSED, accepted, .. }] if !accepted.sub),
        "{told:?}"
    );
    assert_eq!(
        h.messages("bob"),
        vec![ServerMessage::RemoteMediaState {
            user_id: "squatter".into(),
            state: MediaState::default()
        }]
    );
    assert_eq!(h.set_media("carol", screen(), 12.0), (ERR_NULL, screen()));
}

#[tokio::test]
async fn a_claim_backed_by_a_stream_stays() {
    let mut h = harness(TrtcAppScene::VideoCall);
    h.enter("sharer", 0.0);
    h.enter("bob", 0.0);
    let both = MediaState {
        audio: true,
        sub: true,
        ..MediaState::default()
    };
    h.set_media("sharer", both, 1.0);
    h.room.media_notice(MediaNotice::Stream {
        user_id: "sharer".into(),
        kind: StreamKind::Sub,
        present: true,
    });
    h.room.media_notice(MediaNotice::Stream {
        user_id: "sharer".into(),
        kind: StreamKind::Audio,
        present: true,
    });
    h.messages("bob");
    h.room.tick(h.at(40.0));
    assert_eq!(h.room.members["sharer"].media, both);
    assert!(h.messages("bob").is_empty());
    // A stream that stops later (its connection went down) is the link's business, not a
    // withdrawal: the claim was backed.
    h.room.media_notice(MediaNotice::Stream {
        user_id: "sharer".into(),
        kind: StreamKind::Sub,
        present: false,
    });
    // Restating it (a mute toggle while the connection is down) does not start a clock either.
    let conn_id = h.conn_of("sharer");
    let user_id = "sharer".into();
    h.room
        .handle(RoomCommand::Heartbeat { user_id, conn_id }, h.at(80.0));
    assert_eq!(h.set_media("sharer", both, 81.0), (ERR_NULL, both));
    h.room.tick(h.at(81.0 + GRACE.as_secs_f64()));
    assert_eq!(h.room.members["sharer"].media, both);
}

#[tokio::test]
async fn everyone_leaving_at_once_leaves_nobody_behind() {
    // The meeting ends: each client sends exitRoom and closes. The room, busy telling the
    // others of each departure, finds the closed connections first and detaches them; their
    // exitRoom, already on the way, must still take them out of the room.
    let mut h = harness(TrtcAppScene::VideoCall);
    for u in ["a", "b", "c"] {
        h.enter(u, 0.0);
    }
    let conns: Vec<(String, u64)> = ["a", "b", "c"]
        .iter()
        .map(|u| (u.to_string(), h.conn_of(u)))
        .collect();
    // b and c stopped reading (their connections closed after exitRoom).
    h.inboxes.remove("b");
    h.inboxes.remove("c");
    for (user_id, conn_id) in conns {
        h.room
            .handle(RoomCommand::Exit { user_id, conn_id }, h.at(1.0));
    }
    assert!(
        h.room.members.is_empty(),
        "still in the room: {:?}",
        h.room.members.keys().collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn an_exit_from_a_connection_replaced_by_a_resumption_is_ignored() {
    let mut h = harness(TrtcAppScene::VideoCall);
    h.enter("a", 0.0);
    let old = h.conn_of("a");
    let token = h.room.members["a"].token.clone();
    h.room.handle(
        RoomCommand::Detach {
            user_id: "a".into(),
            conn_id: old,
        },
        h.at(1.0),
    );
    let (tx, _rx) = mpsc::channel(16);
    h.room
        .resume("a", &token, Outbox::new(99, tx), h.at(2.0))
        .expect("resumed");
    h.room.handle(
        RoomCommand::Exit {
            user_id: "a".into(),
            conn_id: old,
        },
        h.at(3.0),
    );
    assert!(
        h.room.members.contains_key("a"),
        "the resumed session stays"
    );
}
