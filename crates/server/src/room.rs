//! One actor per room. It owns the room's members and is the only code that changes them, so
//! rules that span members (limits, replacement, who sees whom) need no locks.
//!
//! Connections talk to it with [`RoomCommand`]s; it talks back through each member's bounded
//! outbox. A member whose outbox is full (a client not reading) is detached rather than let
//! memory grow; its client resumes and catches up from the member list.
//!
//! Time is an input: [`Room::handle`] and [`Room::tick`] take `now`, and only the actor loop
//! reads the clock, so the drop timeout, linger and claim deadlines are tested in virtual time
//! (`tests.rs`).

#[cfg(feature = "fuzzing")]
pub(crate) mod fuzz;
mod media;
mod members;
#[cfg(test)]
mod tests;

use crate::auth::Refusal;
use crate::registry::{Registry, RoomKey};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, info};
use trtc_protocol::{close, MediaState, ServerMessage, TrtcAppScene, TrtcRole};
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
    /// Why the room let go of this connection, read by the connection once its inbox closes
    /// and sent as the close frame's code.
    pub closing: Arc<OnceLock<u16>>,
}

impl Outbox {
    /// A new outbox for connection `conn_id`.
    pub fn new(conn_id: u64, tx: mpsc::Sender<ServerMessage>) -> Outbox {
        Outbox {
            conn_id,
            tx,
            closing: Arc::default(),
        }
    }

    /// The room lets go of this connection for `code` (one of [`close`]'s codes).
    fn close(self, code: u16) {
        let _ = self.closing.set(code);
    }
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

/// A room's timing rules.
#[derive(Debug, Clone, Copy)]
pub struct RoomTimes {
    /// A member silent this long is removed (reason 1).
    pub drop_timeout: Duration,
    /// How long an empty live room whose last member was audience lingers.
    pub live_linger: Duration,
    /// A media claim no stream backs within this is withdrawn.
    pub claim_grace: Duration,
}

#[derive(Debug)]
struct Member {
    role: TrtcRole,
    outbox: Option<Outbox>,
    last_seen: Instant,
    token: String,
    /// What the rules let this member publish.
    media: MediaState,
    /// Which of its streams the SFU receives now.
    backed: MediaState,
    /// Set while a kind in `media` has never been backed by a stream since it was claimed:
    /// when the grace passes, the claim is withdrawn (nobody holds the screen-share slot, or
    /// shows a camera tile, with nothing behind it).
    unbacked_since: Option<Instant>,
    /// Whether its publishing connection carries media. While it does not, the others see
    /// nothing published (a frozen picture is worse than the placeholder); the membership
    /// itself waits for the drop timeout.
    link_up: bool,
    /// The connection it last had: one detached while its `exitRoom` was on the way (everyone
    /// leaving at once fills outboxes) still leaves, instead of lingering until the drop
    /// timeout.
    last_conn: u64,
}

impl Member {
    fn new(role: TrtcRole, outbox: Outbox, token: String, now: Instant) -> Member {
        Member {
            role,
            last_conn: outbox.conn_id,
            outbox: Some(outbox),
            last_seen: now,
            token,
            media: MediaState::default(),
            backed: MediaState::default(),
            unbacked_since: None,
            link_up: true,
        }
    }

    /// What the others are told this member publishes: the one answer to "what may this
    /// member be seen publishing", used for every message that tells it.
    fn published(&self) -> MediaState {
        if self.link_up {
            self.media
        } else {
            MediaState::default()
        }
    }

    /// Lets go of the member's connection, telling it why.
    fn detach(&mut self, code: u16) {
        if let Some(out) = self.outbox.take() {
            out.close(code);
        }
    }
}

struct Room {
    key: RoomKey,
    scene: TrtcAppScene,
    members: BTreeMap<String, Member>,
    registry: Arc<Registry>,
    times: RoomTimes,
    /// Set when the room became empty and should end at this time.
    empty_since: Option<Instant>,
    linger: Duration,
    /// Out of the registry; the actor stops.
    dissolved: bool,
    media: Arc<RoomMedia>,
}

/// Starts a room's actor; it ends itself (and leaves the registry) when the room dissolves or
/// the server shuts down.
pub fn spawn(
    key: RoomKey,
    scene: TrtcAppScene,
    registry: Arc<Registry>,
    times: RoomTimes,
    media: MediaConfig,
    shutdown: watch::Receiver<bool>,
) -> mpsc::Sender<RoomCommand> {
    let (tx, rx) = mpsc::channel(256);
    let (media, notices) = RoomMedia::new(media);
    let room = Room::new(key, scene, registry, times, media, Instant::now());
    tokio::spawn(room.run(rx, notices, shutdown));
    tx
}

impl Room {
    fn new(
        key: RoomKey,
        scene: TrtcAppScene,
        registry: Arc<Registry>,
        times: RoomTimes,
        media: Arc<RoomMedia>,
        now: Instant,
    ) -> Room {
        Room {
            key,
            scene,
            members: BTreeMap::new(),
            registry,
            times,
            empty_since: Some(now),
            // A room whose first entry never completes goes away on its own.
            linger: Duration::from_secs(5),
            dissolved: false,
            media,
        }
    }

    /// A room outside any server, for the unit tests and the fuzz target: nothing watches its
    /// registry's shutdown or liveness.
    #[cfg(any(test, feature = "fuzzing"))]
    fn detached(scene: TrtcAppScene, times: RoomTimes, now: Instant) -> Room {
        let (_, shutdown) = watch::channel(false);
        let (alive, _) = mpsc::channel(1);
        let (media, _) = RoomMedia::new(MediaConfig::default());
        let key = RoomKey {
            app: 1,
            room: trtc_protocol::RoomId::Num(7),
        };
        Room::new(
            key,
            scene,
            Registry::new(shutdown, alive),
            times,
            media,
            now,
        )
    }

    async fn run(
        mut self,
        mut rx: mpsc::Receiver<RoomCommand>,
        mut notices: mpsc::UnboundedReceiver<MediaNotice>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        info!(room = %self.key, scene = self.scene.name(), "room created");
        let tick =
            (self.times.drop_timeout / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
        let mut ticker = tokio::time::interval(tick);
        let mut shutting_down = *shutdown.borrow();
        while !self.dissolved && !shutting_down {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.handle(cmd, Instant::now()),
                    None => break,
                },
                Some(notice) = notices.recv() => self.media_notice(notice),
                _ = ticker.tick() => self.tick(Instant::now()),
                changed = shutdown.changed() => shutting_down = changed.is_err() || *shutdown.borrow(),
            }
        }
        // Commands that raced with dissolution are dropped unanswered; their senders retry
        // with a fresh room (see `connection::ask_room`).
        rx.close();
        while rx.try_recv().is_ok() {}
        if shutting_down {
            // Connections send their own 1001; the room closes every peer connection before
            // the server reports that it stopped.
            let closed = self.media.close_all().await;
            self.registry.remove_room(&self.key);
            info!(room = %self.key, peer_connections = closed, "room closed for shutdown");
        } else {
            info!(room = %self.key, "room dissolved");
        }
    }

    /// What the passage of time does: silent members go, unbacked claims are withdrawn, an
    /// empty room ends after its linger.
    fn tick(&mut self, now: Instant) {
        self.drop_silent(now);
        self.withdraw_unbacked(now);
        if self
            .empty_since
            .is_some_and(|t| now.duration_since(t) >= self.linger)
        {
            self.dissolve();
        }
    }

    /// Leaves the registry; the run loop ends after the current command.
    fn dissolve(&mut self) {
        self.registry.remove_room(&self.key);
        self.dissolved = true;
    }

    fn visible(&self, role: TrtcRole) -> bool {
        !self.scene.is_live() || role == TrtcRole::Anchor
    }

    fn handle(&mut self, cmd: RoomCommand, now: Instant) {
        match cmd {
            RoomCommand::Enter {
                user_id,
                role,
                scene,
                repeat,
                outbox,
                reply,
            } => {
                let _ = reply.send(self.enter(user_id, role, scene, repeat, outbox, now));
            }
            RoomCommand::Resume {
                user_id,
                token,
                outbox,
                reply,
            } => {
                let _ = reply.send(self.resume(&user_id, &token, outbox, now));
            }
            RoomCommand::Exit { user_id, conn_id } => {
                let detached_from_it = self
                    .members
                    .get(&user_id)
                    .is_some_and(|m| m.outbox.is_none() && m.last_conn == conn_id);
                if self.is_current(&user_id, conn_id) || detached_from_it {
                    if let Some(m) = self.remove(&user_id, LEAVE_EXIT, now) {
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
                        m.last_seen = now;
                    }
                }
            }
            RoomCommand::SetMedia {
                user_id,
                conn_id,
                state,
                reply,
            } => {
                let _ = reply.send(self.set_media(&user_id, conn_id, state, now));
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
                    m.detach(close::NOT_READING);
                }
            }
        }
    }
}
