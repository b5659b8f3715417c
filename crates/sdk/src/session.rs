//! The client's room session as a state machine with no I/O and no clock (str0m's shape):
//! feed it [`Input`]s with the time they happened, take [`Output`]s (connect, send, events), ask
//! it when it next needs waking. The driver does the sockets; tests drive it directly and can
//! run minutes of reconnects in microseconds.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};
use trtc_protocol::codes::*;
use trtc_protocol::{
    ClientMessage, EntryParams, ServerMessage, TrtcAppScene, TrtcEvent, TrtcRole, PROTOCOL_VERSION,
};

/// Timing of the session; [`crate::TrtcCloudConfig`] exposes it.
#[derive(Debug, Clone)]
pub struct SessionTiming {
    /// How long entering may take, connection attempts included, before −3308.
    pub enter_timeout: Duration,
    /// How long exitRoom waits for the server's answer before finishing anyway.
    pub exit_timeout: Duration,
    /// How long to keep reconnecting before giving up with onError(−8).
    pub reconnect_timeout: Duration,
    /// First reconnection delay; doubles up to `backoff_max`.
    pub backoff_initial: Duration,
    /// Longest delay between reconnection attempts.
    pub backoff_max: Duration,
}

impl Default for SessionTiming {
    fn default() -> Self {
        SessionTiming {
            enter_timeout: Duration::from_secs(10),
            exit_timeout: Duration::from_secs(2),
            reconnect_timeout: Duration::from_secs(120),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(4),
        }
    }
}

/// Something that happened.
#[derive(Debug)]
pub enum Input {
    /// The app called enterRoom.
    EnterRoom(EntryParams, TrtcAppScene),
    /// The app called exitRoom.
    ExitRoom,
    /// The app called switchRole.
    SwitchRole(TrtcRole),
    /// The connection requested by [`Output::Connect`] is up.
    Connected,
    /// The connection requested by [`Output::Connect`] could not be made.
    ConnectFailed,
    /// The open connection closed or failed.
    Disconnected,
    /// The server closed the connection with this WebSocket close code
    /// (`trtc_protocol::close`).
    ClosedByServer(u16),
    /// A message from the server.
    Message(ServerMessage),
}

/// Something the driver must do.
#[derive(Debug, PartialEq)]
pub enum Output {
    /// Open a connection; answer with Connected or ConnectFailed.
    Connect,
    /// Close the connection (or abandon the attempt) without further inputs about it.
    Disconnect,
    /// Send a message on the open connection.
    Send(ClientMessage),
    /// Deliver an event to the app.
    Event(TrtcEvent),
    /// The session moved in a way media must follow; comes before the event that tells the
    /// app (media is released before onExitRoom, rebuilt before onConnectionRecovery).
    Room(RoomChange),
}

/// What happened to the session, as media needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomChange {
    /// The room was entered.
    Entered,
    /// The session resumed on a new connection: the server kept it, media sessions included.
    Resumed,
    /// The session was entered afresh after a reconnection: the server had lost it (it
    /// restarted, or dropped us), and with it everything media had there.
    Reentered,
    /// switchRole succeeded.
    RoleChanged,
    /// The session is over.
    Left,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Link {
    /// No connection and none requested.
    Down,
    /// Waiting to try at this time.
    RetryAt(Instant),
    /// Connect requested, no answer yet.
    Connecting,
    /// Open.
    Up,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Idle,
    Entering { started: Instant },
    InRoom,
    Reconnecting { since: Instant, attempt: u32 },
    Exiting { deadline: Instant },
}

/// The room session of one TrtcCloud.
#[derive(Debug)]
pub struct Session {
    timing: SessionTiming,
    phase: Phase,
    link: Link,
    params: EntryParams,
    scene: TrtcAppScene,
    token: Option<String>,
    members: BTreeSet<String>,
    heartbeat: Duration,
    last_heard: Instant,
    next_heartbeat: Instant,
    /// The server closed with "going away": said (onWarning 5101) with the first reconnection
    /// attempt, so the events a network loss brings keep their order.
    server_went_away: bool,
    out: VecDeque<Output>,
}

impl Session {
    /// A session that is in no room.
    pub fn new(timing: SessionTiming, now: Instant) -> Self {
        Session {
            timing,
            phase: Phase::Idle,
            link: Link::Down,
            params: EntryParams::default(),
            scene: TrtcAppScene::VideoCall,
            token: None,
            members: BTreeSet::new(),
            heartbeat: Duration::from_secs(2),
            last_heard: now,
            next_heartbeat: now,
            server_went_away: false,
            out: VecDeque::new(),
        }
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Session::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut at = |x: Instant| t = Some(t.map_or(x, |t| t.min(x)));
        if let Link::RetryAt(x) = self.link {
            at(x);
        }
        if self.link == Link::Up
            && matches!(
                self.phase,
                Phase::InRoom | Phase::Reconnecting { .. } | Phase::Entering { .. }
            )
        {
            at(self.next_heartbeat);
            at(self.last_heard + self.silence_limit());
        }
        match self.phase {
            Phase::Entering { started } => at(started + self.timing.enter_timeout),
            Phase::Reconnecting { since, .. } => at(since + self.timing.reconnect_timeout),
            Phase::Exiting { deadline } => at(deadline),
            Phase::Idle | Phase::InRoom => {}
        }
        t
    }

    /// Whether the session is in a room (entered and not yet exited), reconnecting included.
    pub fn in_room(&self) -> bool {
        matches!(self.phase, Phase::InRoom | Phase::Reconnecting { .. })
    }

    /// Three heartbeats without a word from the server means the link is dead.
    fn silence_limit(&self) -> Duration {
        (self.heartbeat * 3).max(Duration::from_millis(300))
    }

    fn emit(&mut self, e: TrtcEvent) {
        self.out.push_back(Output::Event(e));
    }

    fn send(&mut self, m: ClientMessage) {
        self.out.push_back(Output::Send(m));
    }

    fn connect(&mut self) {
        self.link = Link::Connecting;
        self.out.push_back(Output::Connect);
    }

    fn disconnect(&mut self) {
        if self.link != Link::Down {
            self.out.push_back(Output::Disconnect);
        }
        self.link = Link::Down;
    }

    fn become_idle(&mut self) {
        if matches!(
            self.phase,
            Phase::InRoom | Phase::Reconnecting { .. } | Phase::Exiting { .. }
        ) {
            self.out.push_back(Output::Room(RoomChange::Left));
        }
        self.disconnect();
        self.phase = Phase::Idle;
        self.token = None;
        self.members.clear();
    }

    fn fail_enter(&mut self, code: i32, msg: String) {
        // onError first, so a UI has the message when the result arrives.
        self.emit(TrtcEvent::Error {
            err_code: code,
            err_msg: msg,
        });
        self.emit(TrtcEvent::EnterRoom {
            result: code.into(),
        });
    }

    fn enter_message(&self) -> ClientMessage {
        ClientMessage::EnterRoom {
            protocol: PROTOCOL_VERSION,
            scene: self.scene,
            params: Some(self.params.clone()),
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
        self.timing
            .backoff_initial
            .saturating_mul(factor)
            .min(self.timing.backoff_max)
    }

    /// Feeds one input that happened at `now`.
    pub fn handle_input(&mut self, input: Input, now: Instant) {
        match input {
            Input::EnterRoom(params, scene) => self.on_enter_room(params, scene, now),
            Input::ExitRoom => self.on_exit_room(now),
            Input::SwitchRole(role) => self.on_switch_role(role),
            Input::Connected => self.on_connected(now),
            Input::ConnectFailed | Input::Disconnected => self.on_link_down(now),
            Input::ClosedByServer(code) => {
                // A server going away on purpose is not the network failing: it is said with
                // the first attempt to reconnect (a restarted server takes the session back).
                self.server_went_away =
                    trtc_protocol::close::is_shutdown(code) && self.phase == Phase::InRoom;
                self.on_link_down(now)
            }
            Input::Message(m) => {
                self.last_heard = now;
                self.on_message(m, now);
            }
        }
    }

    fn on_enter_room(&mut self, params: EntryParams, scene: TrtcAppScene, now: Instant) {
        if self.phase != Phase::Idle {
            let msg = "enterRoom while entering or in a room: call exitRoom first".to_string();
            return self.fail_enter(ERR_TRTC_ENTER_ROOM_REFUSED, msg);
        }
        if let Err(e) = trtc_protocol::validate(Some(&params)) {
            return self.fail_enter(e.code, e.message);
        }
        self.params = params;
        self.scene = scene;
        self.phase = Phase::Entering { started: now };
        self.connect();
    }

    fn on_exit_room(&mut self, now: Instant) {
        match self.phase {
            Phase::Idle | Phase::Exiting { .. } => {}
            Phase::InRoom if self.link == Link::Up => {
                self.send(ClientMessage::ExitRoom);
                self.phase = Phase::Exiting {
                    deadline: now + self.timing.exit_timeout,
                };
            }
            Phase::Entering { .. } | Phase::InRoom | Phase::Reconnecting { .. } => {
                self.become_idle();
                self.emit(TrtcEvent::ExitRoom { reason: 0 });
            }
        }
    }

    fn on_switch_role(&mut self, role: TrtcRole) {
        if !self.scene.is_live() || !self.in_room() || self.link != Link::Up {
            let (code, msg) = if self.in_room() && !self.scene.is_live() {
                (ERR_INVALID_PARAMETER, "switchRole is only for live scenes")
            } else {
                (
                    ERR_REFUSED,
                    "switchRole needs an entered room with a live connection",
                )
            };
            return self.emit(TrtcEvent::SwitchRole {
                err_code: code,
                err_msg: msg.into(),
            });
        }
        self.params.role = role;
        let pmk = self.params.private_map_key.clone();
        self.send(ClientMessage::SwitchRole {
            role,
            private_map_key: pmk,
        });
    }

    fn on_connected(&mut self, now: Instant) {
        if self.link != Link::Connecting {
            return;
        }
        self.link = Link::Up;
        self.last_heard = now;
        self.next_heartbeat = now + self.heartbeat;
        match self.phase {
            Phase::Entering { .. } => self.out.push_back(Output::Send(self.enter_message())),
            Phase::Reconnecting { .. } => match self.token.clone() {
                Some(session_token) => self.send(ClientMessage::ResumeSession {
                    protocol: PROTOCOL_VERSION,
                    session_token,
                }),
                None => self.out.push_back(Output::Send(self.enter_message())),
            },
            Phase::Idle | Phase::InRoom | Phase::Exiting { .. } => self.disconnect(),
        }
    }

    fn on_link_down(&mut self, now: Instant) {
        if self.link == Link::Down {
            return;
        }
        self.link = Link::Down;
        self.after_link_down(now);
    }

    /// The phase change once the link is down (reported by the driver or detected by silence).
    fn after_link_down(&mut self, now: Instant) {
        match self.phase {
            Phase::Idle => {}
            Phase::Entering { .. } => self.link = Link::RetryAt(now + self.timing.backoff_initial),
            Phase::InRoom => {
                self.emit(TrtcEvent::ConnectionLost);
                self.phase = Phase::Reconnecting {
                    since: now,
                    attempt: 0,
                };
                self.link = Link::RetryAt(now);
            }
            Phase::Reconnecting { since, attempt } => {
                self.phase = Phase::Reconnecting {
                    since,
                    attempt: attempt + 1,
                };
                self.link = Link::RetryAt(now + self.backoff(attempt));
            }
            Phase::Exiting { .. } => {
                self.become_idle();
                self.emit(TrtcEvent::ExitRoom { reason: 0 });
            }
        }
    }

    /// Brings the known member list to `now_members`, raising enter/leave for the differences.
    fn sync_members(&mut self, now_members: Vec<String>) {
        let new: BTreeSet<String> = now_members
            .into_iter()
            .filter(|u| *u != self.params.user_id)
            .collect();
        let gone: Vec<String> = self.members.difference(&new).cloned().collect();
        let came: Vec<String> = new.difference(&self.members).cloned().collect();
        for user_id in gone {
            self.emit(TrtcEvent::RemoteUserLeaveRoom { user_id, reason: 0 });
        }
        for user_id in came {
            self.emit(TrtcEvent::RemoteUserEnterRoom { user_id });
        }
        self.members = new;
    }

    fn on_message(&mut self, m: ServerMessage, now: Instant) {
        match (m, self.phase) {
            (
                ServerMessage::EnterRoomResult {
                    code,
                    message,
                    session,
                },
                Phase::Entering { started },
            ) => match session.filter(|_| code == ERR_NULL) {
                Some(info) => {
                    self.token = Some(info.session_token);
                    self.heartbeat = Duration::from_millis(info.heartbeat_interval_ms.max(20));
                    self.next_heartbeat = now + self.heartbeat;
                    self.phase = Phase::InRoom;
                    self.out.push_back(Output::Room(RoomChange::Entered));
                    let ms = now.duration_since(started).as_millis().max(1);
                    self.emit(TrtcEvent::EnterRoom {
                        result: i64::try_from(ms).unwrap_or(i64::MAX),
                    });
                    self.sync_members(info.members);
                }
                None => {
                    self.become_idle();
                    self.fail_enter(
                        if code == ERR_NULL {
                            ERR_TRTC_ENTER_ROOM_FAILED
                        } else {
                            code
                        },
                        message,
                    );
                }
            },
            (
                ServerMessage::EnterRoomResult {
                    code,
                    message,
                    session,
                },
                Phase::Reconnecting { .. },
            ) => {
                match session.filter(|_| code == ERR_NULL) {
                    Some(info) => {
                        self.token = Some(info.session_token);
                        self.heartbeat = Duration::from_millis(info.heartbeat_interval_ms.max(20));
                        self.recovered(info.members, RoomChange::Reentered);
                    }
                    // The room would not take us back (for example, the userSig expired meanwhile).
                    None => {
                        self.become_idle();
                        self.emit(TrtcEvent::Error {
                            err_code: code,
                            err_msg: format!("reconnection refused: {message}"),
                        });
                    }
                }
            }
            (ServerMessage::ResumeResult { code, members, .. }, Phase::Reconnecting { .. }) => {
                if code == ERR_NULL {
                    self.recovered(members, RoomChange::Resumed);
                } else {
                    // The server no longer knows the session (dropped, or restarted): enter afresh.
                    self.token = None;
                    self.out.push_back(Output::Send(self.enter_message()));
                }
            }
            (ServerMessage::RemoteUserEnterRoom { user_id }, Phase::InRoom) => {
                self.member_entered(user_id)
            }
            (ServerMessage::RemoteUserLeaveRoom { user_id, reason }, Phase::InRoom) => {
                self.member_left(user_id, reason.into())
            }
            (
                ServerMessage::ExitRoom { reason },
                Phase::InRoom | Phase::Exiting { .. } | Phase::Reconnecting { .. },
            ) => {
                self.become_idle();
                self.emit(TrtcEvent::ExitRoom {
                    reason: reason.into(),
                });
            }
            (ServerMessage::SwitchRoleResult { code, message }, _) => {
                if code == ERR_NULL {
                    self.out.push_back(Output::Room(RoomChange::RoleChanged));
                }
                self.emit(TrtcEvent::SwitchRole {
                    err_code: code,
                    err_msg: message,
                });
            }
            (ServerMessage::Warning { code, message }, _) => {
                self.emit(TrtcEvent::Warning {
                    warning_code: code,
                    warning_msg: message,
                });
            }
            (ServerMessage::Error { code, message }, _) => {
                self.emit(TrtcEvent::Error {
                    err_code: code,
                    err_msg: message,
                });
            }
            // Acks, and answers that arrive after the phase they belonged to.
            _ => {}
        }
    }

    /// Raises onRemoteUserEnterRoom once per user: a repeat (or ourselves) is not news.
    fn member_entered(&mut self, user_id: String) {
        if user_id != self.params.user_id && self.members.insert(user_id.clone()) {
            self.emit(TrtcEvent::RemoteUserEnterRoom { user_id });
        }
    }

    /// Raises onRemoteUserLeaveRoom only for users the app was told about.
    fn member_left(&mut self, user_id: String, reason: i32) {
        if self.members.remove(&user_id) {
            self.emit(TrtcEvent::RemoteUserLeaveRoom { user_id, reason });
        }
    }

    fn recovered(&mut self, members: Vec<String>, how: RoomChange) {
        self.phase = Phase::InRoom;
        self.out.push_back(Output::Room(how));
        self.sync_members(members);
        self.emit(TrtcEvent::ConnectionRecovery);
    }

    /// Call when [`Session::poll_timeout`]'s time has come.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.link == Link::Up && now >= self.last_heard + self.silence_limit() {
            // Silence: the link is dead even if the socket does not know it yet.
            self.disconnect();
            self.after_link_down(now);
        }
        if self.link == Link::Up && now >= self.next_heartbeat {
            self.send(ClientMessage::Heartbeat);
            self.next_heartbeat = now + self.heartbeat;
        }
        match self.phase {
            Phase::Entering { started } if now >= started + self.timing.enter_timeout => {
                self.become_idle();
                let secs = self.timing.enter_timeout.as_secs_f32();
                self.fail_enter(
                    ERR_TRTC_CONNECT_SERVER_TIMEOUT,
                    format!("no answer from the server within {secs} s"),
                );
            }
            Phase::Reconnecting { since, .. } if now >= since + self.timing.reconnect_timeout => {
                self.become_idle();
                let secs = self.timing.reconnect_timeout.as_secs_f32();
                self.emit(TrtcEvent::Error {
                    err_code: ERR_DISCONNECTED,
                    err_msg: format!("connection lost and not recovered within {secs} s"),
                });
            }
            Phase::Exiting { deadline } if now >= deadline => {
                self.become_idle();
                self.emit(TrtcEvent::ExitRoom { reason: 0 });
            }
            _ => {}
        }
        if let Link::RetryAt(t) = self.link {
            if now >= t {
                if matches!(self.phase, Phase::Reconnecting { .. }) {
                    self.emit(TrtcEvent::TryToReconnect);
                    if std::mem::take(&mut self.server_went_away) {
                        self.emit(TrtcEvent::Warning {
                            warning_code: trtc_protocol::codes::WARNING_ROOM_DISCONNECT,
                            warning_msg: "the room server shut down; reconnecting".into(),
                        });
                    }
                }
                self.connect();
            }
        }
    }
}

#[cfg(test)]
mod tests;
