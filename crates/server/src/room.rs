//! One actor per room. It owns the room's members and is the only code that changes them, so
//! rules that span members (limits, replacement, who sees whom) need no locks.
//!
//! Connections talk to it with [`RoomCommand`]s; it talks back through each member's bounded
//! outbox. A member whose outbox is full (a client not reading) is detached rather than let
//! memory grow; its client resumes and catches up from the member list.

mod media;

use crate::auth::Refusal;
use crate::registry::{Registry, RoomKey};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info};
use trtc_protocol::codes::*;
use trtc_protocol::limits::{MAX_ANCHORS, MAX_AUDIENCE, MAX_CALL_USERS};
use trtc_protocol::{MediaState, ServerMessage, TrtcAppScene, TrtcRole};
use trtc_rtc::sfu::{MediaConfig, MediaNotice, RoomMedia};

/// Leave reasons of onRemoteUserLeaveRoom.
const LEAVE_EXIT: u8 = 0;
const LEAVE_TIMEOUT: u8 = 1;
const LEAVE_TO_AUDIENCE: u8 = 3;
/// Exit reasons of onExitRoom.
const EXIT_SELF: u8 = 0;
const EXIT_REMOVED: u8 = 1;

/// The way back to one connection: its id (to ignore stale commands) and its outbox.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// Unique per connection.
    pub conn_id: u64,
    /// Messages for the client; bounded.
    pub tx: mpsc::Sender<ServerMessage>,
}

/// A successful entry or resumption.
#[derive(Debug)]
pub struct Admitted {
    /// The token that resumes this session.
    pub token: String,
    /// Visible members other than the caller.
    pub members: Vec<String>,
    /// The room's SFU.
    pub media: Arc<RoomMedia>,
}

/// What connections ask of a room.
#[derive(Debug)]
pub enum RoomCommand {
    /// Enter (or replace an earlier session of the same user).
    Enter {
        user_id: String,
        role: TrtcRole,
        scene: TrtcAppScene,
        /// This connection already holds a session in this room (−3340 unless full first).
        repeat: bool,
        outbox: Outbox,
        reply: oneshot::Sender<Result<Admitted, Refusal>>,
    },
    /// Re-attach a session from a new connection.
    Resume {
        user_id: String,
        token: String,
        outbox: Outbox,
        reply: oneshot::Sender<Result<Admitted, Refusal>>,
    },
    /// The client called exitRoom.
    Exit { user_id: String, conn_id: u64 },
    /// Live scenes: change role.
    SwitchRole {
        user_id: String,
        conn_id: u64,
        role: TrtcRole,
        reply: oneshot::Sender<Refusal>,
    },
    /// The client is alive.
    Heartbeat { user_id: String, conn_id: u64 },
    /// The connection closed without exitRoom: keep the session for resumption until the drop timeout.
    Detach { user_id: String, conn_id: u64 },
    /// What the member wants to publish; answered with what the rules accept.
    SetMedia {
        user_id: String,
        conn_id: u64,
        state: MediaState,
        reply: oneshot::Sender<(i32, String, MediaState)>,
    },
}

#[derive(Debug)]
struct Member {
    role: TrtcRole,
    outbox: Option<Outbox>,
    last_seen: Instant,
    token: String,
    /// What the rules let this member publish.
    media: MediaState,
    /// Whether its publishing connection carries media. While it does not, the others see
    /// nothing published (a frozen picture is worse than the placeholder); the membership
    /// itself waits for the drop timeout.
    link_up: bool,
}

impl Member {
    /// What the others are told this member publishes.
    fn published(&self) -> MediaState {
        if self.link_up {
            self.media
        } else {
            MediaState::default()
        }
    }
}

struct Room {
    key: RoomKey,
    scene: TrtcAppScene,
    members: BTreeMap<String, Member>,
    registry: Arc<Registry>,
    drop_timeout: Duration,
    live_linger: Duration,
    /// Set when the room became empty and should end at this time.
    empty_since: Option<Instant>,
    linger: Duration,
    /// Out of the registry; the actor stops.
    dissolved: bool,
    media: Arc<RoomMedia>,
}

/// Starts a room's actor; it ends itself (and leaves the registry) when the room dissolves.
pub fn spawn(
    key: RoomKey,
    scene: TrtcAppScene,
    registry: Arc<Registry>,
    drop_timeout: Duration,
    live_linger: Duration,
    media: MediaConfig,
) -> mpsc::Sender<RoomCommand> {
    let (tx, rx) = mpsc::channel(256);
    let (media, notices) = RoomMedia::new(media);
    let room = Room {
        key,
        scene,
        members: BTreeMap::new(),
        registry,
        drop_timeout,
        live_linger,
        empty_since: Some(Instant::now()),
        // A room whose first entry never completes goes away on its own.
        linger: Duration::from_secs(5),
        dissolved: false,
        media,
    };
    tokio::spawn(room.run(rx, notices));
    tx
}

impl Room {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<RoomCommand>,
        mut notices: mpsc::UnboundedReceiver<MediaNotice>,
    ) {
        info!(room = %self.key, scene = self.scene.name(), "room created");
        let tick = (self.drop_timeout / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
        let mut ticker = tokio::time::interval(tick);
        while !self.dissolved {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.handle(cmd),
                    None => break,
                },
                Some(notice) = notices.recv() => self.media_notice(notice),
                _ = ticker.tick() => {
                    let now = Instant::now();
                    self.drop_silent(now);
                    if self.empty_since.is_some_and(|t| now.duration_since(t) >= self.linger) {
                        self.dissolve();
                    }
                }
            }
        }
        // Commands that raced with dissolution are dropped unanswered; their senders retry
        // with a fresh room (see `connection::ask_room`).
        rx.close();
        while rx.try_recv().is_ok() {}
        info!(room = %self.key, "room dissolved");
    }

    /// Leaves the registry; the run loop ends after the current command.
    fn dissolve(&mut self) {
        self.registry.remove_room(&self.key);
        self.dissolved = true;
    }

    fn visible(&self, role: TrtcRole) -> bool {
        !self.scene.is_live() || role == TrtcRole::Anchor
    }

    fn handle(&mut self, cmd: RoomCommand) {
        match cmd {
            RoomCommand::Enter {
                user_id,
                role,
                scene,
                repeat,
                outbox,
                reply,
            } => {
                let _ = reply.send(self.enter(user_id, role, scene, repeat, outbox));
            }
            RoomCommand::Resume {
                user_id,
                token,
                outbox,
                reply,
            } => {
                let _ = reply.send(self.resume(&user_id, &token, outbox));
            }
            RoomCommand::Exit { user_id, conn_id } => {
                if self.is_current(&user_id, conn_id) {
                    if let Some(m) = self.remove(&user_id, LEAVE_EXIT) {
                        if let Some(out) = m.outbox {
                            let _ = out
                                .tx
                                .try_send(ServerMessage::ExitRoom { reason: EXIT_SELF });
                        }
                    }
                }
            }
            RoomCommand::SwitchRole {
                user_id,
                conn_id,
                role,
                reply,
            } => {
                let _ = reply.send(self.switch_role(&user_id, conn_id, role));
            }
            RoomCommand::Heartbeat { user_id, conn_id } => {
                if self.is_current(&user_id, conn_id) {
                    if let Some(m) = self.members.get_mut(&user_id) {
                        m.last_seen = Instant::now();
                    }
                }
            }
            RoomCommand::SetMedia {
                user_id,
                conn_id,
                state,
                reply,
            } => {
                let _ = reply.send(self.set_media(&user_id, conn_id, state));
            }
            RoomCommand::Detach { user_id, conn_id } => {
                if self.is_current(&user_id, conn_id) {
                    if let Some(m) = self.members.get_mut(&user_id) {
                        debug!(room = %self.key, user = %user_id, "connection lost; session kept for resumption");
                        m.outbox = None;
                    }
                }
            }
        }
    }

    fn is_current(&self, user_id: &str, conn_id: u64) -> bool {
        self.members
            .get(user_id)
            .and_then(|m| m.outbox.as_ref())
            .is_some_and(|o| o.conn_id == conn_id)
    }

    fn count(&self, role: TrtcRole) -> usize {
        self.members.values().filter(|m| m.role == role).count()
    }

    /// Whether one more member of `role` fits (a replaced session does not count twice).
    fn has_room_for(&self, user_id: &str, role: TrtcRole) -> bool {
        let existing = self.members.get(user_id).map(|m| m.role);
        let others = |r: TrtcRole| self.count(r) - usize::from(existing == Some(r));
        if !self.scene.is_live() {
            return self.members.len() - usize::from(existing.is_some()) < MAX_CALL_USERS;
        }
        match role {
            TrtcRole::Anchor => others(TrtcRole::Anchor) < MAX_ANCHORS,
            TrtcRole::Audience => others(TrtcRole::Audience) < MAX_AUDIENCE,
        }
    }

    fn enter(
        &mut self,
        user_id: String,
        role: TrtcRole,
        scene: TrtcAppScene,
        repeat: bool,
        outbox: Outbox,
    ) -> Result<Admitted, Refusal> {
        // Call scenes have no roles: everyone is effectively an anchor.
        let role = if scene.is_live() {
            role
        } else {
            TrtcRole::Anchor
        };
        if !self.has_room_for(&user_id, role) {
            return Err((
                ERR_SERVER_CENTER_ROOM_FULL,
                format!("room {} is full", self.key.room),
            ));
        }
        if repeat {
            return Err((
                ERR_TRTC_ENTER_ROOM_REFUSED,
                "enterRoom repeated on the same connection".into(),
            ));
        }
        if scene != self.scene {
            return Err((
                ERR_TRTC_ENTER_ROOM_FAILED,
                format!(
                    "room {} is a {} room; entering it as {} is refused (all users of a room use the first user's scene)",
                    self.key.room,
                    self.scene.name(),
                    scene.name()
                ),
            ));
        }
        let token = self.registry.new_token(&self.key, &user_id);
        let member = Member {
            role,
            outbox: Some(outbox),
            last_seen: Instant::now(),
            token: token.clone(),
            media: MediaState::default(),
            link_up: true,
        };
        let was_visible = match self.members.insert(user_id.clone(), member) {
            Some(old) => {
                // The same user entered again: the earlier session ends, others see nothing
                // unless the user's visibility changed with the new role.
                info!(room = %self.key, user = %user_id, "earlier session replaced");
                self.registry.forget_token(&old.token);
                self.media.remove_user(&user_id);
                if old.media.any() {
                    self.broadcast_except(
                        &user_id,
                        ServerMessage::RemoteMediaState {
                            user_id: user_id.clone(),
                            state: MediaState::default(),
                        },
                    );
                }
                if let Some(out) = old.outbox {
                    let _ = out.tx.try_send(ServerMessage::ExitRoom {
                        reason: EXIT_REMOVED,
                    });
                }
                Some(self.visible(old.role))
            }
            None => None,
        };
        self.empty_since = None;
        let now_visible = self.visible(role);
        match (was_visible, now_visible) {
            (None | Some(false), true) => self.broadcast_except(
                &user_id,
                ServerMessage::RemoteUserEnterRoom {
                    user_id: user_id.clone(),
                },
            ),
            (Some(true), false) => self.broadcast_except(
                &user_id,
                ServerMessage::RemoteUserLeaveRoom {
                    user_id: user_id.clone(),
                    reason: LEAVE_TO_AUDIENCE,
                },
            ),
            _ => {}
        }
        info!(room = %self.key, user = %user_id, role = role.name(), members = self.members.len(), "entered");
        self.send_media_states_to(&user_id);
        Ok(Admitted {
            token,
            members: self.visible_members_except(&user_id),
            media: Arc::clone(&self.media),
        })
    }

    fn resume(&mut self, user_id: &str, token: &str, outbox: Outbox) -> Result<Admitted, Refusal> {
        let members = self.visible_members_except(user_id);
        let m = self
            .members
            .get_mut(user_id)
            .filter(|m| m.token == token)
            .ok_or((ERR_TRTC_ENTER_ROOM_FAILED, "session not found".to_string()))?;
        // A half-open earlier connection loses its outbox, which closes it.
        m.outbox = Some(outbox);
        m.last_seen = Instant::now();
        info!(room = %self.key, user = %user_id, "session resumed");
        self.send_media_states_to(user_id);
        Ok(Admitted {
            token: token.into(),
            members,
            media: Arc::clone(&self.media),
        })
    }

    fn switch_role(&mut self, user_id: &str, conn_id: u64, role: TrtcRole) -> Refusal {
        if !self.is_current(user_id, conn_id) {
            return (ERR_REFUSED, "not in this room".into());
        }
        if !self.scene.is_live() {
            return (
                ERR_INVALID_PARAMETER,
                "switchRole is only for live scenes".into(),
            );
        }
        let old = self.members.get(user_id).map_or(role, |m| m.role);
        if old == role {
            return (ERR_NULL, "ok".into());
        }
        if !self.has_room_for(user_id, role) {
            return (
                ERR_SERVER_CENTER_ROOM_FULL,
                format!("room {} already has {MAX_ANCHORS} anchors", self.key.room),
            );
        }
        let mut unpublished = false;
        if let Some(m) = self.members.get_mut(user_id) {
            m.role = role;
            if role == TrtcRole::Audience && m.media.any() {
                // An anchor turning audience stops publishing at once.
                m.media = MediaState::default();
                unpublished = true;
            }
        }
        if unpublished {
            self.media.set_allowed(user_id, MediaState::default());
            self.broadcast_except(
                user_id,
                ServerMessage::RemoteMediaState {
                    user_id: user_id.into(),
                    state: MediaState::default(),
                },
            );
        }
        let event = match role {
            TrtcRole::Anchor => ServerMessage::RemoteUserEnterRoom {
                user_id: user_id.into(),
            },
            TrtcRole::Audience => ServerMessage::RemoteUserLeaveRoom {
                user_id: user_id.into(),
                reason: LEAVE_TO_AUDIENCE,
            },
        };
        self.broadcast_except(user_id, event);
        (ERR_NULL, "ok".into())
    }

    fn remove(&mut self, user_id: &str, reason: u8) -> Option<Member> {
        let m = self.members.remove(user_id)?;
        self.registry.forget_token(&m.token);
        self.media.remove_user(user_id);
        if self.visible(m.role) {
            self.broadcast_except(
                user_id,
                ServerMessage::RemoteUserLeaveRoom {
                    user_id: user_id.into(),
                    reason,
                },
            );
        }
        info!(room = %self.key, user = %user_id, reason, members = self.members.len(), "left");
        if self.members.is_empty() {
            self.empty_since = Some(Instant::now());
            // Call rooms dissolve at once; a live room whose last leaver was audience lingers.
            if self.scene.is_live() && m.role == TrtcRole::Audience {
                self.linger = self.live_linger;
            } else {
                self.dissolve();
            }
        }
        Some(m)
    }

    fn drop_silent(&mut self, now: Instant) {
        let silent: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| now.duration_since(m.last_seen) >= self.drop_timeout)
            .map(|(u, _)| u.clone())
            .collect();
        for user in silent {
            info!(room = %self.key, user = %user, "dropped after the drop timeout");
            // Dropping the member drops its outbox, which closes a still-open connection.
            self.remove(&user, LEAVE_TIMEOUT);
        }
    }

    fn visible_members_except(&self, user_id: &str) -> Vec<String> {
        self.members
            .iter()
            .filter(|(u, m)| u.as_str() != user_id && self.visible(m.role))
            .map(|(u, _)| u.clone())
            .collect()
    }

    fn broadcast_except(&mut self, user_id: &str, msg: ServerMessage) {
        for (u, m) in self
            .members
            .iter_mut()
            .filter(|(u, _)| u.as_str() != user_id)
        {
            if let Some(out) = &m.outbox {
                if out.tx.try_send(msg.clone()).is_err() {
                    // Full or closed: detach; the client resumes and resyncs from the member list.
                    debug!(room = %self.key, user = %u, "outbox full; detaching");
                    m.outbox = None;
                }
            }
        }
    }
}
