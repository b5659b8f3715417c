//! A sequence of client actions against one room, decoded from bytes (the `room_sequence` fuzz
//! target), with the room's invariants checked after every step: at most one screen sharer, at
//! most 50 publishers, no audience publishing, and the counts inside TRTC's limits.

use super::*;
use trtc_protocol::limits::{MAX_ANCHORS, MAX_CALL_USERS};
use trtc_protocol::StreamKind;

const USERS: u8 = 8;

pub(crate) fn run(data: &[u8]) {
    // One runtime for the process: building one per input was most of the target's cost.
    static RUNTIME: std::sync::OnceLock<Option<tokio::runtime::Runtime>> =
        std::sync::OnceLock::new();
    let rt = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .ok()
    });
    if let Some(rt) = rt {
        rt.block_on(async { sequence(data) });
    }
}

fn sequence(data: &[u8]) {
    let Some((&first, mut ops)) = data.split_first() else {
        return;
    };
    let scene = match first % 4 {
        0 => TrtcAppScene::VideoCall,
        1 => TrtcAppScene::Live,
        2 => TrtcAppScene::AudioCall,
        _ => TrtcAppScene::VoiceChatRoom,
    };
    let times = RoomTimes {
        drop_timeout: Duration::from_secs(90),
        live_linger: Duration::from_secs(600),
        claim_grace: Duration::from_secs(10),
    };
    let mut now = Instant::now();
    let mut room = Room::detached(scene, times, now);
    let mut inboxes: Vec<Option<mpsc::Receiver<ServerMessage>>> =
        (0..USERS).map(|_| None).collect();
    let mut conns = [0u64; USERS as usize];
    let mut tokens: Vec<String> = vec![String::new(); USERS as usize];
    let mut next_conn = 1;
    while let [op, arg, rest @ ..] = ops {
        ops = rest;
        let u = arg % USERS;
        let user = format!("u{u}");
        let conn = conns[usize::from(u)];
        match op % 10 {
            0 | 6 => {
                let (tx, rx) = mpsc::channel(32);
                let outbox = Outbox::new(next_conn, tx);
                let role = if arg & 0x80 == 0 {
                    TrtcRole::Anchor
                } else {
                    TrtcRole::Audience
                };
                let result = if op % 10 == 0 {
                    room.enter(user, role, scene, arg & 0x40 != 0, outbox, now)
                } else {
                    let token = tokens[usize::from(u)].clone();
                    room.resume(&user, &token, outbox, now)
                };
                if let Ok(admitted) = result {
                    tokens[usize::from(u)] = admitted.token;
                    conns[usize::from(u)] = next_conn;
                    inboxes[usize::from(u)] = Some(rx);
                }
                next_conn += 1;
            }
            1 => room.handle(
                RoomCommand::Exit {
                    user_id: user,
                    conn_id: conn,
                },
                now,
            ),
            2 => room.handle(
                RoomCommand::Heartbeat {
                    user_id: user,
                    conn_id: conn,
                },
                now,
            ),
            3 => {
                let state = MediaState {
                    audio: arg & 0x10 != 0,
                    video: arg & 0x20 != 0,
                    sub: arg & 0x40 != 0,
                };
                let _ = room.set_media(&user, conn, state, now);
            }
            4 => {
                let role = if arg & 0x80 == 0 {
                    TrtcRole::Anchor
                } else {
                    TrtcRole::Audience
                };
                let _ = room.switch_role(&user, conn, role);
            }
            5 => room.handle(
                RoomCommand::Detach {
                    user_id: user,
                    conn_id: conn,
                },
                now,
            ),
            7 => {
                now += Duration::from_millis(u64::from(*arg) * 500);
                room.tick(now);
            }
            8 => room.media_notice(MediaNotice::Stream {
                user_id: user,
                kind: StreamKind::ALL[usize::from(arg >> 4) % 3],
                present: arg & 0x80 != 0,
            }),
            _ => room.media_notice(MediaNotice::PublisherLink {
                user_id: user,
                up: arg & 0x80 != 0,
            }),
        }
        // Drain what clients would read, so outboxes never count as full by accident.
        for rx in inboxes.iter_mut().flatten() {
            while rx.try_recv().is_ok() {}
        }
        check(&room);
        if room.dissolved {
            return;
        }
    }
}

fn check(room: &Room) {
    let sharers = room.members.values().filter(|m| m.media.sub).count();
    assert!(sharers <= 1, "{sharers} screen sharers");
    let publishers = room.members.values().filter(|m| m.media.any()).count();
    assert!(publishers <= MAX_ANCHORS, "{publishers} publishers");
    assert!(room.members.len() <= MAX_CALL_USERS);
    if room.scene.is_live() {
        assert!(
            !room
                .members
                .values()
                .any(|m| m.role == TrtcRole::Audience && m.media.any()),
            "audience publishing"
        );
    }
}
