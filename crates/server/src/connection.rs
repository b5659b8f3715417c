//! One task per WebSocket connection: parses frames, runs the entry checks, and relays between
//! the client and its room's actor. Bad input gets an error reply and the connection stays.

use crate::auth::{self, Refusal};
use crate::rate::{Limiter, Verdict};
use crate::registry::RoomKey;
use crate::room::{Admitted, Outbox, RoomCommand};
use crate::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, warn};
use trtc_protocol::codes::*;
use trtc_protocol::messages::parse_client_message;
use trtc_protocol::{
    close, ClientMessage, MediaState, ServerMessage, SessionInfo, TrtcAppScene, PROTOCOL_VERSION,
};

/// How long a close waits for the client's close in reply.
const CLOSE_LINGER: Duration = Duration::from_secs(1);
/// Messages a room may queue for one client before the client counts as not reading.
const OUTBOX_CAPACITY: usize = 128;

/// The session this connection holds.
struct Session {
    key: RoomKey,
    user_id: String,
    room: mpsc::Sender<RoomCommand>,
    inbox: mpsc::Receiver<ServerMessage>,
    /// The room's SFU, and this connection's way into its own outbox for media signalling.
    media: Arc<trtc_rtc::sfu::RoomMedia>,
    /// Weak: only the room holds this connection's outbox, so the inbox closes when the room
    /// lets go (the connection's cue to end).
    outbox: mpsc::WeakSender<ServerMessage>,
    /// Why the room let go, once it has.
    closing: Arc<OnceLock<u16>>,
}

pub(crate) async fn serve(ws: WebSocket, state: Arc<State>, mut shutdown: watch::Receiver<bool>) {
    let conn_id = state.next_conn_id();
    let (mut sink, mut stream) = ws.split();
    let mut session: Option<Session> = None;
    let enter_within = state.config.admission.enter_timeout;
    // Only a successful enterRoom lifts the deadline; heartbeats and errors do not.
    let mut enter_by = Instant::now() + enter_within;
    let mut limiter = Limiter::new(std::time::Instant::now());
    debug!(conn_id, "connection opened");
    let closing: Option<(u16, String)> = loop {
        let reply = tokio::select! {
            _ = shutdown.changed() => break Some((close::GOING_AWAY, "server shutting down".into())),
            _ = tokio::time::sleep_until(enter_by), if session.is_none() => {
                break Some((close::POLICY, format!("no enterRoom within {} s", enter_within.as_secs_f32())));
            }
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let now = std::time::Instant::now();
                    match limiter.frame(now) {
                        Verdict::Pass => handle_text(&state, conn_id, &mut session, &mut limiter, text.as_str()).await,
                        Verdict::Refuse => Some(rate_limited()),
                        Verdict::Close => break Some(abuse()),
                    }
                }
                Some(Ok(Message::Binary(_))) => match limiter.frame(std::time::Instant::now()) {
                    Verdict::Close => break Some(abuse()),
                    _ => Some(error(ERR_INVALID_PARAMETER, "binary frames are not part of the protocol")),
                },
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                // tungstenite answers a client's close itself.
                Some(Ok(Message::Close(_))) | None => break None,
                Some(Err(e)) => {
                    debug!(conn_id, error = %e, "connection error");
                    break transport_close(e);
                }
            },
            msg = next_from_room(&mut session) => match msg {
                Some(ServerMessage::ExitRoom { reason }) => {
                    let replaced = session.as_ref().and_then(|s| s.closing.get().copied()) == Some(close::REPLACED);
                    session = None;
                    enter_by = Instant::now() + enter_within;
                    let msg = ServerMessage::ExitRoom { reason };
                    if send(&mut sink, &msg).await.is_err() {
                        break None;
                    }
                    if replaced {
                        break Some((close::REPLACED, close::reason(close::REPLACED).into()));
                    }
                    None
                }
                Some(msg) => Some(msg),
                // The room let go of this connection: it said why.
                None => {
                    let code = session.as_ref().and_then(|s| s.closing.get().copied()).unwrap_or(close::GOING_AWAY);
                    session = None;
                    break Some((code, close::reason(code).into()));
                }
            },
        };
        if *shutdown.borrow() {
            // Whatever the room answered while it closed ("not in a room") is not news to a
            // client about to hear that the server is going away.
            break Some((close::GOING_AWAY, close::reason(close::GOING_AWAY).into()));
        }
        if let Some(reply) = reply {
            if send(&mut sink, &reply).await.is_err() {
                break None;
            }
        }
        if limiter.exhausted() {
            break Some(abuse());
        }
    };
    if let Some((code, reason)) = closing {
        debug!(conn_id, code, %reason, "closing");
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        };
        if sink.send(Message::Close(Some(frame))).await.is_ok() {
            // The closing handshake: read (and drop) what the client already sent until its
            // close arrives. Closing the socket with unread data would reset it, and the reset
            // can overtake our close frame at the client.
            let _ = tokio::time::timeout(CLOSE_LINGER, async {
                while let Some(Ok(m)) = stream.next().await {
                    if matches!(m, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
    }
    if let Some(s) = session {
        // Not an exit: the session waits for resumption until the drop timeout.
        let _ = s
            .room
            .send(RoomCommand::Detach {
                user_id: s.user_id,
                conn_id,
            })
            .await;
    }
    debug!(conn_id, "connection closed");
}

/// The close for a transport error the client caused; `None` when the socket itself broke.
fn transport_close(e: axum::Error) -> Option<(u16, String)> {
    let inner = e.into_inner();
    match inner.downcast_ref::<tungstenite::Error>()? {
        tungstenite::Error::Capacity(c) => Some((close::TOO_BIG, format!("{c}"))),
        tungstenite::Error::Utf8(_) => Some((
            close::INVALID_PAYLOAD,
            "text frame is not valid UTF-8".into(),
        )),
        tungstenite::Error::Protocol(p) => Some((1002, format!("protocol error: {p}"))),
        _ => None,
    }
}

fn rate_limited() -> ServerMessage {
    error(
        ERR_REFUSED,
        "rate limited: too many messages; this one was ignored",
    )
}

fn abuse() -> (u16, String) {
    warn!("closing a connection that kept exceeding the signalling rate limits");
    (close::POLICY, "rate limits exceeded".into())
}

async fn next_from_room(session: &mut Option<Session>) -> Option<ServerMessage> {
    match session {
        Some(s) => s.inbox.recv().await,
        None => std::future::pending().await,
    }
}

async fn send(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    msg: &ServerMessage,
) -> Result<(), axum::Error> {
    let text = serde_json::to_string(msg).expect("server messages serialise");
    sink.send(Message::Text(text.into())).await
}

fn error(code: i32, message: impl Into<String>) -> ServerMessage {
    ServerMessage::Error {
        code,
        message: message.into(),
    }
}

async fn handle_text(
    state: &Arc<State>,
    conn_id: u64,
    session: &mut Option<Session>,
    limiter: &mut Limiter,
    text: &str,
) -> Option<ServerMessage> {
    let msg = match parse_client_message(text) {
        Ok(m) => m,
        Err(reply) => return Some(reply),
    };
    if matches!(msg, ClientMessage::MediaState(_))
        && limiter.media_state(std::time::Instant::now()) != Verdict::Pass
    {
        // A Close verdict leaves the limiter exhausted; the loop closes after this reply.
        return Some(rate_limited());
    }
    match msg {
        ClientMessage::EnterRoom {
            protocol,
            scene,
            params,
        } => {
            let (code, message, info) =
                match enter(state, conn_id, session, protocol, scene, params).await {
                    Ok(info) => (ERR_NULL, "ok".to_string(), Some(info)),
                    Err((code, message)) => (code, message, None),
                };
            Some(ServerMessage::EnterRoomResult {
                code,
                message,
                session: info,
            })
        }
        ClientMessage::ResumeSession {
            protocol,
            session_token,
        } => Some(
            match resume(state, conn_id, session, protocol, &session_token).await {
                Ok(members) => ServerMessage::ResumeResult {
                    code: ERR_NULL,
                    message: "ok".into(),
                    members,
                },
                Err((code, message)) => ServerMessage::ResumeResult {
                    code,
                    message,
                    members: vec![],
                },
            },
        ),
        ClientMessage::Heartbeat => {
            if let Some(s) = session {
                let _ = s
                    .room
                    .send(RoomCommand::Heartbeat {
                        user_id: s.user_id.clone(),
                        conn_id,
                    })
                    .await;
            }
            Some(ServerMessage::HeartbeatAck)
        }
        ClientMessage::ExitRoom => match session {
            // The room answers with exitRoom(0) through the inbox, after telling the others.
            Some(s) => {
                let _ = s
                    .room
                    .send(RoomCommand::Exit {
                        user_id: s.user_id.clone(),
                        conn_id,
                    })
                    .await;
                None
            }
            None => Some(error(ERR_REFUSED, "not in a room: send enterRoom first")),
        },
        ClientMessage::MediaState(wanted) => {
            let Some(s) = session else {
                return Some(error(ERR_REFUSED, "not in a room: send enterRoom first"));
            };
            let (reply, answer) = oneshot::channel();
            let cmd = RoomCommand::SetMedia {
                user_id: s.user_id.clone(),
                conn_id,
                state: wanted,
                reply,
            };
            let refused = || {
                (
                    ERR_REFUSED,
                    "not in a room".to_string(),
                    MediaState::default(),
                )
            };
            let (code, message, accepted) = if s.room.send(cmd).await.is_ok() {
                answer.await.unwrap_or_else(|_| refused())
            } else {
                refused()
            };
            Some(ServerMessage::MediaStateResult {
                code,
                message,
                accepted,
            })
        }
        ClientMessage::PublishOffer { sdp } => {
            let Some(s) = session else {
                return Some(error(ERR_REFUSED, "not in a room: send enterRoom first"));
            };
            let Some(outbox) = s.outbox.upgrade() else {
                return Some(error(ERR_REFUSED, "not in a room"));
            };
            let media = s.media.session(&s.user_id, outbox);
            Some(match media.publish_offer(sdp).await {
                Ok(sdp) => ServerMessage::PublishAnswer { sdp },
                Err(e) => error(ERR_INVALID_PARAMETER, format!("publishOffer: {e}")),
            })
        }
        ClientMessage::SubscribeAnswer { sdp } => {
            let Some(s) = session else {
                return Some(error(ERR_REFUSED, "not in a room: send enterRoom first"));
            };
            let Some(outbox) = s.outbox.upgrade() else {
                return Some(error(ERR_REFUSED, "not in a room"));
            };
            let media = s.media.session(&s.user_id, outbox);
            match media.subscribe_answer(sdp).await {
                Ok(()) => None,
                Err(e) => Some(error(
                    ERR_INVALID_PARAMETER,
                    format!("subscribeAnswer: {e}"),
                )),
            }
        }
        ClientMessage::RequestKeyframe {
            user_id,
            stream_type,
        } => {
            let Some(s) = session else {
                return Some(error(ERR_REFUSED, "not in a room: send enterRoom first"));
            };
            let kind = trtc_protocol::StreamKind::from_stream_type(stream_type);
            s.media.request_keyframe(&user_id, kind).await;
            None
        }
        ClientMessage::SwitchRole {
            role,
            private_map_key,
        } => {
            let Some(s) = session else {
                return Some(ServerMessage::SwitchRoleResult {
                    code: ERR_REFUSED,
                    message: "not in a room: send enterRoom first".into(),
                });
            };
            let (code, message) = switch_role(state, conn_id, s, role, &private_map_key).await;
            Some(ServerMessage::SwitchRoleResult { code, message })
        }
    }
}

async fn enter(
    state: &Arc<State>,
    conn_id: u64,
    session: &mut Option<Session>,
    protocol: u32,
    scene: TrtcAppScene,
    params: Option<trtc_protocol::EntryParams>,
) -> Result<SessionInfo, Refusal> {
    if protocol != PROTOCOL_VERSION {
        return Err((
            ERR_TRTC_ENTER_ROOM_FAILED,
            format!("protocol {protocol} is not supported; this server speaks {PROTOCOL_VERSION}"),
        ));
    }
    auth::check_entry(&state.config.apps, params.as_ref(), crate::unix_now())?;
    let p = params.expect("check_entry accepted, so params are present");
    let key = RoomKey {
        app: p.sdk_app_id,
        room: p
            .room()
            .expect("check_entry accepted, so a room is present"),
    };
    let repeat = match session {
        Some(s) if s.key == key => true,
        Some(s) => {
            return Err((
                ERR_TRTC_ENTER_ROOM_REFUSED,
                format!(
                    "this connection is already in room {}: exitRoom first",
                    s.key.room
                ),
            ))
        }
        None => false,
    };
    let (tx, inbox) = mpsc::channel(OUTBOX_CAPACITY);
    let outbox = Outbox::new(conn_id, tx.clone());
    let closing = Arc::clone(&outbox.closing);
    let (room, admitted) = ask_room(state, &key, scene, |reply| RoomCommand::Enter {
        user_id: p.user_id.clone(),
        role: p.role,
        scene,
        repeat,
        outbox: outbox.clone(),
        reply,
    })
    .await?;
    // Everyone receives: the subscriber connection is offered as soon as there is something
    // to receive, whether or not this member ever publishes.
    let media = admitted.media.session(&p.user_id, tx.clone());
    tokio::spawn(async move { media.refresh_subscriptions().await });
    *session = Some(Session {
        key,
        user_id: p.user_id,
        room,
        inbox,
        media: admitted.media,
        outbox: tx.downgrade(),
        closing,
    });
    Ok(SessionInfo {
        session_token: admitted.token,
        members: admitted.members,
        heartbeat_interval_ms: state.config.heartbeat_interval().as_millis() as u64,
    })
}

/// Sends a command to the room's actor, retrying once with a new room if the old one dissolved
/// between look-up and send.
async fn ask_room(
    state: &Arc<State>,
    key: &RoomKey,
    scene: TrtcAppScene,
    make: impl Fn(oneshot::Sender<Result<Admitted, Refusal>>) -> RoomCommand,
) -> Result<(mpsc::Sender<RoomCommand>, Admitted), Refusal> {
    for _ in 0..3 {
        let room = state.registry.room(
            key,
            scene,
            state.config.room_times(),
            &state.config.effective_media(),
        );
        let (reply, answer) = oneshot::channel();
        if room.send(make(reply)).await.is_err() {
            continue;
        }
        if let Ok(result) = answer.await {
            return result.map(|a| (room, a));
        }
    }
    warn!(room = %key, "room actor unavailable");
    Err((
        ERR_TRTC_ENTER_ROOM_FAILED,
        "room unavailable; try again".into(),
    ))
}

async fn resume(
    state: &Arc<State>,
    conn_id: u64,
    session: &mut Option<Session>,
    protocol: u32,
    token: &str,
) -> Result<Vec<String>, Refusal> {
    if protocol != PROTOCOL_VERSION {
        return Err((
            ERR_TRTC_ENTER_ROOM_FAILED,
            format!("protocol {protocol} is not supported"),
        ));
    }
    if session.is_some() {
        return Err((
            ERR_TRTC_ENTER_ROOM_REFUSED,
            "this connection already holds a session".into(),
        ));
    }
    let (key, user_id) = state
        .registry
        .session(token)
        .ok_or((ERR_TRTC_ENTER_ROOM_FAILED, "session not found".to_string()))?;
    let (tx, inbox) = mpsc::channel(OUTBOX_CAPACITY);
    let outbox = Outbox::new(conn_id, tx.clone());
    let closing = Arc::clone(&outbox.closing);
    // A room that no longer exists has no such session; never create one for a resume.
    let not_found = || (ERR_TRTC_ENTER_ROOM_FAILED, "session not found".to_string());
    let room = state.registry.existing_room(&key).ok_or_else(not_found)?;
    let (reply, answer) = oneshot::channel();
    room.send(RoomCommand::Resume {
        user_id: user_id.clone(),
        token: token.into(),
        outbox,
        reply,
    })
    .await
    .map_err(|_| not_found())?;
    let admitted = answer.await.map_err(|_| not_found())??;
    // Media signalling for this member now goes to the new connection, and what it missed
    // meanwhile is repaired.
    admitted.media.session(&user_id, tx.clone());
    admitted.media.resumed(&user_id);
    *session = Some(Session {
        key,
        user_id,
        room,
        inbox,
        media: admitted.media,
        outbox: tx.downgrade(),
        closing,
    });
    Ok(admitted.members)
}

async fn switch_role(
    state: &Arc<State>,
    conn_id: u64,
    s: &Session,
    role: trtc_protocol::TrtcRole,
    pmk: &str,
) -> Refusal {
    if let Some(app) = state
        .config
        .apps
        .get(&s.key.app)
        .filter(|a| a.private_map_key_required)
    {
        if role == trtc_protocol::TrtcRole::Anchor {
            if let Err(refusal) = auth::check_private_map_key(
                app,
                &s.user_id,
                &s.key.room,
                pmk,
                4 | 16,
                crate::unix_now(),
            ) {
                return refusal;
            }
        }
    }
    let (reply, answer) = oneshot::channel();
    let cmd = RoomCommand::SwitchRole {
        user_id: s.user_id.clone(),
        conn_id,
        role,
        reply,
    };
    if s.room.send(cmd).await.is_err() {
        return (ERR_REFUSED, "not in a room".into());
    }
    answer
        .await
        .unwrap_or((ERR_REFUSED, "not in a room".into()))
}
