use super::*;
use trtc_protocol::SessionInfo;

fn params() -> EntryParams {
    EntryParams {
        sdk_app_id: 1,
        user_id: "me".into(),
        user_sig: "sig".into(),
        room_id: 7,
        ..Default::default()
    }
}

struct Harness {
    s: Session,
    now: Instant,
}

impl Harness {
    fn new() -> Self {
        let now = Instant::now();
        Harness {
            s: Session::new(SessionTiming::default(), now),
            now,
        }
    }
    fn input(&mut self, i: Input) -> Vec<Output> {
        self.s.handle_input(i, self.now);
        self.drain()
    }
    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.s.poll_output()).collect()
    }
    /// Advances time to the next timeout (at most `limit`), like the driver's sleep.
    fn advance(&mut self, limit: Duration) -> Vec<Output> {
        let end = self.now + limit;
        let mut out = vec![];
        while let Some(t) = self.s.poll_timeout().filter(|t| *t <= end) {
            self.now = t.max(self.now);
            self.s.handle_timeout(self.now);
            out.extend(self.drain());
        }
        self.now = end;
        out
    }
    fn events(out: &[Output]) -> Vec<&'static str> {
        out.iter()
            .filter_map(|o| {
                if let Output::Event(e) = o {
                    Some(e.name())
                } else {
                    None
                }
            })
            .collect()
    }
    fn enter(&mut self, members: &[&str]) {
        assert_eq!(
            self.input(Input::EnterRoom(params(), TrtcAppScene::VideoCall)),
            vec![Output::Connect]
        );
        let out = self.input(Input::Connected);
        assert!(matches!(
            out[..],
            [Output::Send(ClientMessage::EnterRoom { .. })]
        ));
        self.now += Duration::from_millis(30);
        let out = self.input(Input::Message(ServerMessage::EnterRoomResult {
            code: 0,
            message: "ok".into(),
            session: Some(SessionInfo {
                session_token: "t1".into(),
                members: members.iter().map(|m| m.to_string()).collect(),
                heartbeat_interval_ms: 1000,
            }),
        }));
        assert_eq!(out[0], Output::Room(RoomChange::Entered), "media first");
        assert_eq!(out[1], Output::Event(TrtcEvent::EnterRoom { result: 30 }));
    }
}

#[test]
fn invalid_params_fail_locally_and_send_nothing() {
    let mut h = Harness::new();
    let bad = EntryParams {
        user_id: "no spaces".into(),
        ..params()
    };
    let out = h.input(Input::EnterRoom(bad, TrtcAppScene::VideoCall));
    assert_eq!(Harness::events(&out), ["onError", "onEnterRoom"]);
    assert_eq!(
        out[1],
        Output::Event(TrtcEvent::EnterRoom { result: -3319 })
    );
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::Connect | Output::Send(_))));
}

#[test]
fn enter_reports_elapsed_ms_and_existing_members() {
    let mut h = Harness::new();
    h.enter(&["a", "b"]);
    let out = h.drain();
    assert!(out.is_empty());
    assert!(h.s.in_room());
    // Members arrived with the enter result as onRemoteUserEnterRoom, after onEnterRoom.
    let mut h = Harness::new();
    h.input(Input::EnterRoom(params(), TrtcAppScene::VideoCall));
    h.input(Input::Connected);
    let out = h.input(Input::Message(ServerMessage::EnterRoomResult {
        code: 0,
        message: "ok".into(),
        session: Some(SessionInfo {
            session_token: "t".into(),
            members: vec!["a".into()],
            heartbeat_interval_ms: 1000,
        }),
    }));
    assert_eq!(
        out[1],
        Output::Event(TrtcEvent::EnterRoom { result: 1 }),
        "elapsed is at least 1 ms"
    );
    assert_eq!(
        out[2],
        Output::Event(TrtcEvent::RemoteUserEnterRoom {
            user_id: "a".into()
        })
    );
}

#[test]
fn unreachable_server_times_out_with_3308_after_retrying() {
    let mut h = Harness::new();
    h.input(Input::EnterRoom(params(), TrtcAppScene::VideoCall));
    let mut connects = 0;
    let mut last = vec![];
    for _ in 0..1000 {
        let out = h.input(Input::ConnectFailed);
        assert!(out.is_empty());
        let out = h.advance(Duration::from_secs(1));
        connects += out.iter().filter(|o| **o == Output::Connect).count();
        if !Harness::events(&out).is_empty() {
            last = out;
            break;
        }
    }
    assert!(connects > 5, "kept trying to connect");
    assert_eq!(Harness::events(&last), ["onError", "onEnterRoom"]);
    assert!(last.contains(&Output::Event(TrtcEvent::EnterRoom { result: -3308 })));
}

#[test]
fn lost_connection_resumes_with_backoff_and_resyncs_members() {
    let mut h = Harness::new();
    h.enter(&["a", "b"]);
    let out = h.input(Input::Disconnected);
    assert_eq!(Harness::events(&out), ["onConnectionLost"]);
    let out = h.advance(Duration::ZERO);
    assert_eq!(Harness::events(&out), ["onTryToReconnect"]);
    assert!(out.contains(&Output::Connect));
    // Two failed attempts: the delay between them grows.
    h.input(Input::ConnectFailed);
    let first_gap = h.s.poll_timeout().map(|t| t - h.now);
    h.advance(Duration::from_secs(5));
    h.input(Input::ConnectFailed);
    let second_gap = h.s.poll_timeout().map(|t| t - h.now);
    assert!(second_gap > first_gap, "{second_gap:?} > {first_gap:?}");
    h.advance(Duration::from_secs(5));
    let out = h.input(Input::Connected);
    assert_eq!(
        out,
        vec![Output::Send(ClientMessage::ResumeSession {
            protocol: 1,
            session_token: "t1".into()
        })]
    );
    let out = h.input(Input::Message(ServerMessage::ResumeResult {
        code: 0,
        message: "ok".into(),
        members: vec!["b".into(), "c".into()],
    }));
    assert_eq!(
        Harness::events(&out),
        [
            "onRemoteUserLeaveRoom",
            "onRemoteUserEnterRoom",
            "onConnectionRecovery"
        ]
    );
    assert_eq!(
        out[0],
        Output::Room(RoomChange::Resumed),
        "the server kept our media session"
    );
}

#[test]
fn unknown_session_enters_afresh_on_the_same_connection() {
    let mut h = Harness::new();
    h.enter(&[]);
    h.input(Input::Disconnected);
    h.advance(Duration::ZERO);
    h.input(Input::Connected);
    let out = h.input(Input::Message(ServerMessage::ResumeResult {
        code: -3301,
        message: "gone".into(),
        members: vec![],
    }));
    assert!(matches!(
        out[..],
        [Output::Send(ClientMessage::EnterRoom { .. })]
    ));
    let out = h.input(Input::Message(ServerMessage::EnterRoomResult {
        code: 0,
        message: "ok".into(),
        session: Some(SessionInfo {
            session_token: "t2".into(),
            members: vec![],
            heartbeat_interval_ms: 1000,
        }),
    }));
    assert_eq!(Harness::events(&out), ["onConnectionRecovery"]);
    assert_eq!(
        out[0],
        Output::Room(RoomChange::Reentered),
        "media must rebuild what the server lost"
    );
}

#[test]
fn silence_counts_as_a_lost_connection_and_heartbeats_flow() {
    let mut h = Harness::new();
    h.enter(&[]);
    let out = h.advance(Duration::from_millis(1500));
    assert!(out.contains(&Output::Send(ClientMessage::Heartbeat)));
    let out = h.advance(Duration::from_secs(3));
    assert!(out.contains(&Output::Disconnect));
    assert_eq!(Harness::events(&out)[0], "onConnectionLost");
}

#[test]
fn gives_up_after_the_reconnect_timeout() {
    let mut h = Harness::new();
    h.enter(&[]);
    h.input(Input::Disconnected);
    let mut events = vec![];
    for _ in 0..10_000 {
        let out = h.advance(Duration::from_secs(1));
        if out.contains(&Output::Connect) {
            h.input(Input::ConnectFailed);
        }
        events.extend(Harness::events(&out));
        if events.contains(&"onError") {
            break;
        }
    }
    assert_eq!(events.last(), Some(&"onError"));
    assert!(!h.s.in_room());
}

#[test]
fn exit_waits_for_the_server_then_reports_reason_0() {
    let mut h = Harness::new();
    h.enter(&[]);
    assert_eq!(
        h.input(Input::ExitRoom),
        vec![Output::Send(ClientMessage::ExitRoom)]
    );
    let out = h.input(Input::Message(ServerMessage::ExitRoom { reason: 0 }));
    assert_eq!(
        out,
        vec![
            Output::Room(RoomChange::Left),
            Output::Disconnect,
            Output::Event(TrtcEvent::ExitRoom { reason: 0 })
        ]
    );
    // If the server never answers, exit still completes.
    let mut h = Harness::new();
    h.enter(&[]);
    h.input(Input::ExitRoom);
    let out = h.advance(Duration::from_secs(3));
    assert!(out.contains(&Output::Event(TrtcEvent::ExitRoom { reason: 0 })));
}

#[test]
fn replaced_session_ends_with_reason_1() {
    let mut h = Harness::new();
    h.enter(&[]);
    let out = h.input(Input::Message(ServerMessage::ExitRoom { reason: 1 }));
    assert_eq!(Harness::events(&out), ["onExitRoom"]);
    assert!(out.contains(&Output::Event(TrtcEvent::ExitRoom { reason: 1 })));
    assert!(!h.s.in_room());
}

#[test]
fn second_enter_is_refused_with_3340() {
    let mut h = Harness::new();
    h.enter(&[]);
    let out = h.input(Input::EnterRoom(params(), TrtcAppScene::VideoCall));
    assert!(out.contains(&Output::Event(TrtcEvent::EnterRoom { result: -3340 })));
    assert!(h.s.in_room(), "still in the first room");
}
