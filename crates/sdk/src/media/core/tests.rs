//! The media core in virtual time: every scenario runs in microseconds, with the time passed in.

use super::*;
use trtc_media::params::TrtcAudioQuality;
use trtc_protocol::codes::{ERR_FAILED, WARNING_IGNORE_UPSTREAM_FOR_AUDIENCE};
use trtc_rtc::client::{ConnRole, ReceiveCounters};
use trtc_rtc::LinkState;

const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
const BOTH: MediaState = MediaState {
    audio: true,
    video: true,
    sub: false,
};

struct Harness {
    core: MediaCore,
    now: Instant,
    /// Received packets per remote stream, as the next snapshot reports them.
    packets: HashMap<(String, StreamKind), u64>,
}

use std::collections::HashMap;

impl Harness {
    fn new() -> Self {
        Harness {
            core: MediaCore::new(false),
            now: Instant::now(),
            packets: HashMap::new(),
        }
    }

    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.core.poll_output()).collect()
    }

    fn input(&mut self, i: Input) -> Vec<Output> {
        self.core.handle_input(i, self.now);
        self.drain()
    }

    fn command(&mut self, c: MediaCommand) -> Vec<Output> {
        self.input(Input::Command(c))
    }

    fn server(&mut self, m: ServerMessage) -> Vec<Output> {
        self.input(Input::Server(m))
    }

    /// Moves time on, firing the core's timeout if one falls due.
    fn advance(&mut self, d: Duration) -> Vec<Output> {
        self.now += d;
        if self.core.poll_timeout().is_some_and(|t| t <= self.now) {
            self.core.handle_timeout(self.now);
        }
        self.drain()
    }

    /// One counter snapshot, `d` after the last moment.
    fn tick(&mut self, d: Duration) -> Vec<Output> {
        let mut out = self.advance(d);
        let subscriber = self
            .packets
            .iter()
            .map(|(k, p)| {
                let c = ReceiveCounters {
                    packets: *p,
                    ..Default::default()
                };
                (k.clone(), c)
            })
            .collect();
        let snapshot = Snapshot {
            subscriber,
            ..Default::default()
        };
        out.extend(self.input(Input::Counters(snapshot)));
        out
    }

    fn arrive(&mut self, user: &str, kind: StreamKind, n: u64) {
        *self.packets.entry((user.into(), kind)).or_default() += n;
    }

    /// Enters, opens camera and microphone, and gets the publisher connected as `conn`.
    fn publishing(&mut self, conn: u64) -> Vec<Output> {
        let mut all = self.input(Input::Room(RoomChange::Entered { bind_ip: IP }));
        all.extend(self.command(MediaCommand::StartLocalPreview(None)));
        all.extend(self.command(MediaCommand::StartLocalAudio(TrtcAudioQuality::Default)));
        for (kind, token) in opened(&all) {
            all.extend(self.input(Input::SourceStarted {
                kind,
                token,
                result: Ok(()),
            }));
        }
        all.extend(self.accept(BOTH));
        all.extend(self.connect_publisher(conn));
        all
    }

    fn accept(&mut self, accepted: MediaState) -> Vec<Output> {
        self.server(ServerMessage::MediaStateResult {
            code: 0,
            message: "ok".into(),
            accepted,
        })
    }

    /// Answers the latest CreatePublisher with connection `conn`, its answer, and Connected.
    fn connect_publisher(&mut self, conn: u64) -> Vec<Output> {
        let token = self.pending_creation().expect("a publisher was asked for");
        let mut all = self.input(Input::PublisherCreated {
            token,
            result: Ok((conn, "offer".into())),
        });
        all.extend(self.server(ServerMessage::PublishAnswer {
            sdp: "answer".into(),
        }));
        all.extend(self.input(Input::Peer(PeerEvent::Link {
            conn,
            role: ConnRole::Publisher,
            state: LinkState::Connected,
        })));
        all
    }

    fn pending_creation(&self) -> Option<u64> {
        self.core.links.creating()
    }

    fn remote_publishes(&mut self, user: &str, state: MediaState) -> Vec<Output> {
        self.server(ServerMessage::RemoteMediaState {
            user_id: user.into(),
            state,
        })
    }
}

fn opened(out: &[Output]) -> Vec<(StreamKind, u64)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Effect(Effect::OpenSource { kind, token, .. }) => Some((*kind, *token)),
            _ => None,
        })
        .collect()
}

/// The events as event lines, onStatistics and onNetworkQuality left out (they come every 2 s
/// of snapshots).
fn events(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(TrtcEvent::Statistics(_) | TrtcEvent::NetworkQuality { .. }) => None,
            Output::Event(e) => Some(e.to_line()),
            _ => None,
        })
        .collect()
}

fn names(out: &[Output]) -> Vec<&'static str> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.name()),
            _ => None,
        })
        .collect()
}

fn sent_states(out: &[Output]) -> Vec<MediaState> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(ClientMessage::MediaState(s)) => Some(*s),
            _ => None,
        })
        .collect()
}

fn count(out: &[Output], pred: impl Fn(&Effect) -> bool) -> usize {
    out.iter()
        .filter(|o| matches!(o, Output::Effect(e) if pred(e)))
        .count()
}

fn errors(out: &[Output]) -> Vec<i32> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(TrtcEvent::Error { err_code, .. }) => Some(*err_code),
            _ => None,
        })
        .collect()
}

fn available(user: &str, kind: &str, yes: bool) -> String {
    format!(r#"{{"event":"on{kind}Available","userId":"{user}","available":{yes}}}"#)
}

#[test]
fn entering_opens_devices_then_publishes_what_the_server_accepts() {
    let mut h = Harness::new();
    let out = h.publishing(10);
    let n = names(&out);
    assert!(n.contains(&"onCameraDidReady") && n.contains(&"onMicDidReady"));
    assert_eq!(sent_states(&out).last(), Some(&BOTH));
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Send(ClientMessage::PublishOffer { .. }))));
    assert_eq!(
        count(&out, |e| matches!(e, Effect::ApplyAnswer { conn: 10, .. })),
        1
    );
    assert!(
        count(&out, |e| matches!(e, Effect::Keyframe(StreamKind::Big))) >= 1,
        "a new connection starts from a keyframe"
    );
    assert!(errors(&out).is_empty());
}

#[test]
fn a_server_restart_rebuilds_both_connections_and_republishes() {
    let mut h = Harness::new();
    h.publishing(10);
    let out = h.remote_publishes("bob", BOTH);
    assert_eq!(count(&out, |e| matches!(e, Effect::StartDecoder { .. })), 2);
    h.server(ServerMessage::SubscribeOffer { sdp: "o1".into() });

    // The server restarts; the session enters afresh on the new one.
    let out = h.input(Input::Room(RoomChange::Reentered { bind_ip: IP }));
    assert_eq!(count(&out, |e| matches!(e, Effect::ClosePublisher)), 1);
    assert_eq!(count(&out, |e| matches!(e, Effect::CloseSubscriber)), 1);
    assert_eq!(
        sent_states(&out),
        [BOTH],
        "what the user has on is published again, unasked"
    );
    let ev = events(&out);
    assert!(ev.contains(&available("bob", "UserVideo", false)), "{ev:?}");
    assert!(ev.contains(&available("bob", "UserAudio", false)), "{ev:?}");

    // The new server accepts; a new publisher is made and connects.
    let out = h.accept(BOTH);
    assert_eq!(
        count(&out, |e| matches!(e, Effect::CreatePublisher { .. })),
        1
    );
    let out = h.connect_publisher(11);
    assert!(count(&out, |e| matches!(e, Effect::ApplyAnswer { conn: 11, .. })) == 1);
    // The old connection reporting its end changes nothing.
    let out = h.input(Input::Peer(PeerEvent::Link {
        conn: 10,
        role: ConnRole::Publisher,
        state: LinkState::Failed,
    }));
    assert!(out.is_empty(), "{out:?}");

    // Bob is back on the new server: available again, with the decoders he had.
    let out = h.remote_publishes("bob", BOTH);
    assert_eq!(count(&out, |e| matches!(e, Effect::StartDecoder { .. })), 0);
    assert!(events(&out).contains(&available("bob", "UserVideo", true)));
    let out = h.server(ServerMessage::SubscribeOffer { sdp: "o2".into() });
    assert_eq!(
        count(&out, |e| matches!(e, Effect::AnswerSubscribe { .. })),
        1
    );
    let out = h.input(Input::SubscriberAnswered(Ok("a2".into())));
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Send(ClientMessage::SubscribeAnswer { .. }))));
    assert!(errors(&out).is_empty());
}

#[test]
fn a_resumed_session_keeps_a_healthy_publisher_and_rebuilds_a_lost_one() {
    let mut h = Harness::new();
    h.publishing(10);
    let out = h.input(Input::Room(RoomChange::Resumed));
    assert_eq!(
        sent_states(&out),
        [BOTH],
        "the server hears our state again"
    );
    assert_eq!(count(&out, |e| matches!(e, Effect::ClosePublisher)), 0);

    // This time the media connection went quiet while signalling was away.
    h.input(Input::Peer(PeerEvent::Link {
        conn: 10,
        role: ConnRole::Publisher,
        state: LinkState::Disconnected,
    }));
    let out = h.input(Input::Room(RoomChange::Resumed));
    assert_eq!(count(&out, |e| matches!(e, Effect::ClosePublisher)), 1);
    assert_eq!(
        count(&out, |e| matches!(e, Effect::CreatePublisher { .. })),
        1
    );
    let out = h.connect_publisher(12);
    assert!(errors(&out).is_empty());
}

#[test]
fn switching_to_audience_and_back_stops_and_resumes_sending() {
    let mut h = Harness::new();
    h.publishing(10);
    let out = h.input(Input::Room(RoomChange::RoleChanged));
    assert_eq!(sent_states(&out), [BOTH]);
    let out = h.server(ServerMessage::MediaStateResult {
        code: WARNING_IGNORE_UPSTREAM_FOR_AUDIENCE,
        message: "audience cannot publish".into(),
        accepted: MediaState::default(),
    });
    assert_eq!(names(&out), ["onWarning"]);
    assert_eq!(
        count(&out, |e| matches!(e, Effect::Accept(s) if !s.any())),
        1,
        "nothing goes out"
    );
    assert_eq!(count(&out, |e| matches!(e, Effect::ClosePublisher)), 0);
    // Back on stage.
    let out = h.input(Input::Room(RoomChange::RoleChanged));
    assert_eq!(sent_states(&out), [BOTH]);
    let out = h.accept(BOTH);
    assert_eq!(
        count(&out, |e| matches!(e, Effect::Accept(s) if *s == BOTH)),
        1
    );
    assert_eq!(
        count(&out, |e| matches!(e, Effect::Keyframe(StreamKind::Big))),
        1,
        "the camera starts again from a keyframe"
    );
    assert_eq!(
        count(&out, |e| matches!(e, Effect::CreatePublisher { .. })),
        0,
        "the publisher connection stayed"
    );
}

#[test]
fn a_participant_leaving_while_decoding_is_released_at_once() {
    let mut h = Harness::new();
    h.publishing(10);
    h.remote_publishes("bob", BOTH);
    let out = h.command(MediaCommand::StartRemoteView(
        "bob".into(),
        StreamKind::Big,
        None,
    ));
    assert_eq!(
        count(&out, |e| matches!(e, Effect::SetView { open: true, .. })),
        1
    );
    h.arrive("bob", StreamKind::Big, 30);
    h.tick(SNAPSHOT_INTERVAL);
    let out = h.input(Input::MemberLeft("bob".into()));
    assert_eq!(
        count(
            &out,
            |e| matches!(e, Effect::DropRemote { user_id } if user_id == "bob")
        ),
        1
    );
    // Its decoder's last words, and silence, are nobody's news now.
    let out = h.input(Input::FirstPicture {
        user_id: "bob".into(),
        kind: StreamKind::Big,
        width: 640,
        height: 360,
    });
    assert!(events(&out).is_empty());
    let out = h.tick(Duration::from_secs(5));
    assert!(names(&out).iter().all(|n| *n != "onUserVideoAvailable"));
}

#[test]
fn a_failing_publisher_is_retried_with_growing_pauses_and_reported_once() {
    let mut h = Harness::new();
    h.input(Input::Room(RoomChange::Entered { bind_ip: IP }));
    let out = h.command(MediaCommand::StartLocalAudio(TrtcAudioQuality::Default));
    let (kind, token) = opened(&out)[0];
    h.input(Input::SourceStarted {
        kind,
        token,
        result: Ok(()),
    });
    h.accept(MediaState {
        audio: true,
        ..Default::default()
    });
    let mut pauses = vec![];
    let mut errs = vec![];
    for _ in 0..5 {
        let token = h.pending_creation().expect("creating");
        let out = h.input(Input::PublisherCreated {
            token,
            result: Err("no media port available".into()),
        });
        errs.extend(errors(&out));
        let at = h.core.poll_timeout().expect("a retry is scheduled");
        pauses.push(at - h.now);
        let out = h.advance(at - h.now);
        assert_eq!(
            count(&out, |e| matches!(e, Effect::CreatePublisher { .. })),
            1
        );
    }
    assert!(pauses.windows(2).all(|w| w[1] > w[0]), "{pauses:?}");
    assert_eq!(errs, [ERR_FAILED], "said once, not at every attempt");
    // An offer the server never answers is given up after the deadline.
    let token = h.pending_creation().expect("creating");
    h.input(Input::PublisherCreated {
        token,
        result: Ok((20, "offer".into())),
    });
    let out = h.advance(links::CONNECT_DEADLINE);
    assert_eq!(count(&out, |e| matches!(e, Effect::ClosePublisher)), 1);
    // Then it connects, and the streak is over.
    let at = h.core.poll_timeout().expect("retry");
    h.advance(at - h.now);
    let out = h.connect_publisher(21);
    assert!(errors(&out).is_empty());
}

#[test]
fn a_remote_stream_that_goes_silent_is_unavailable_until_it_returns() {
    let mut h = Harness::new();
    h.publishing(10);
    let out = h.remote_publishes("bob", BOTH);
    assert!(events(&out).contains(&available("bob", "UserVideo", true)));
    // Video arrives; audio never does (a stream never seen cannot stall).
    h.arrive("bob", StreamKind::Big, 20);
    h.tick(SNAPSHOT_INTERVAL);
    let mut silent_for = Duration::ZERO;
    let lost = loop {
        let out = h.tick(SNAPSHOT_INTERVAL);
        silent_for += SNAPSHOT_INTERVAL;
        if !events(&out).is_empty() {
            break events(&out);
        }
        assert!(
            silent_for < Duration::from_secs(3),
            "not reported within 3 s"
        );
    };
    assert_eq!(lost, [available("bob", "UserVideo", false)]);
    assert!(silent_for <= Duration::from_secs(3));
    h.arrive("bob", StreamKind::Big, 5);
    let out = h.tick(SNAPSHOT_INTERVAL);
    assert_eq!(events(&out), [available("bob", "UserVideo", true)]);
    // Muted by bob: unavailable because the server says so, and no stall is reported later.
    let out = h.remote_publishes(
        "bob",
        MediaState {
            audio: true,
            ..Default::default()
        },
    );
    assert_eq!(events(&out), [available("bob", "UserVideo", false)]);
    let out = h.tick(Duration::from_secs(5));
    assert!(events(&out).is_empty(), "{:?}", events(&out));
}

#[test]
fn a_source_that_opens_after_it_was_stopped_is_closed_not_used() {
    let mut h = Harness::new();
    let out = h.command(MediaCommand::StartLocalPreview(None));
    let (kind, token) = opened(&out)[0];
    h.command(MediaCommand::StopLocalPreview);
    let out = h.input(Input::SourceStarted {
        kind,
        token,
        result: Ok(()),
    });
    assert!(
        names(&out).is_empty(),
        "no onCameraDidReady for a camera that is off"
    );
    assert_eq!(
        count(
            &out,
            |e| matches!(e, Effect::CloseSource { token: t, .. } if *t == token)
        ),
        1
    );
}

#[test]
fn a_fall_in_the_target_reaches_the_camera_encoder_before_the_next_snapshot() {
    let mut h = Harness::new();
    h.publishing(7);
    let rates = |out: &[Output]| -> Vec<(StreamKind, u64)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Effect(Effect::SetRate { kind, bps }) => Some((*kind, *bps)),
                _ => None,
            })
            .collect()
    };
    let fell = |conn| Input::Peer(PeerEvent::TargetFell { conn, bps: 300_000 });
    // Audio's 64 kbps first, the rest to the camera.
    assert_eq!(rates(&h.input(fell(7))), [(StreamKind::Big, 236_000)]);
    // A connection replaced since says nothing about the one in use.
    assert_eq!(rates(&h.input(fell(6))), []);
}
