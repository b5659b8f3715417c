//! The media core: everything the SDK decides about media, as a state machine with no I/O and
//! no clock (the shape of `crate::session`). Feed it [`Input`]s with the time they happened,
//! take [`Output`]s — signalling to send, TRTC events, and [`Effect`]s for the shell to carry
//! out — and wake it at [`MediaCore::poll_timeout`].
//!
//! Media follows the session. Whenever the session is (back) in a room — entered, resumed, or
//! entered afresh on a restarted server — the core rebuilds what the server no longer has and
//! republishes what the user has on, with nothing asked of the app. Each remote participant is
//! one [`remote::Participant`]; dropping it on leave releases everything about them.
//!
//! | module | what lives there |
//! |---|---|
//! | `messages` | the inputs, outputs and effects, and what each carries |
//! | `local` | camera, microphone and screen: wanted, starting, running; what we publish |
//! | `links` | the publisher and subscriber connections: create, negotiate, rebuild |
//! | `remote` | remote participants: published streams, liveness, views, audio |
//! | `stats` | onStatistics from counter snapshots; sharing the bandwidth estimate |

mod links;
mod local;
mod messages;
mod quality;
mod remote;
mod stats;
#[cfg(test)]
mod tests;

pub(crate) use messages::{Effect, Input, MediaCommand, Output, RoomChange, SourceSpec};
pub(crate) use stats::{DecodeCounters, LocalCounters, Snapshot};

use links::Links;
use local::Locals;
use remote::Participant;
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use trtc_media::devices::DeviceType;
use trtc_protocol::{ClientMessage, MediaState, ServerMessage, StreamKind, TrtcEvent};
use trtc_rtc::client::PeerEvent;

/// How often onStatistics fires.
pub(crate) const STATS_INTERVAL: Duration = Duration::from_secs(2);
/// A remote stream that was arriving and has sent nothing for this long is reported
/// unavailable (the contract's bound is 3 s; snapshots come every [`SNAPSHOT_INTERVAL`]).
pub(crate) const STALL_AFTER: Duration = Duration::from_millis(2000);
/// How often the shell reads the counters (liveness and statistics).
pub(crate) const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(500);

/// Outputs waiting to be polled, with the helpers every part uses.
#[derive(Debug, Default)]
pub(crate) struct Outbox(VecDeque<Output>);

impl Outbox {
    fn send(&mut self, m: ClientMessage) {
        self.0.push_back(Output::Send(m));
    }
    fn emit(&mut self, e: TrtcEvent) {
        self.0.push_back(Output::Event(e));
    }
    fn effect(&mut self, e: Effect) {
        self.0.push_back(Output::Effect(e));
    }
    fn error(&mut self, code: i32, msg: impl Into<String>) {
        self.emit(TrtcEvent::Error {
            err_code: code,
            err_msg: msg.into(),
        });
    }
    fn warning(&mut self, code: i32, msg: impl Into<String>) {
        self.emit(TrtcEvent::Warning {
            warning_code: code,
            warning_msg: msg.into(),
        });
    }
}

/// Where the session is, for media.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Presence {
    Out,
    In { bind_ip: IpAddr },
}

/// The media state of one TrtcCloud.
#[derive(Debug)]
pub(crate) struct MediaCore {
    presence: Presence,
    locals: Locals,
    links: Links,
    remotes: BTreeMap<String, Participant>,
    mute_all_audio: bool,
    /// Whether remote audio is played on a device (the speaker starts with the room).
    plays_audio: bool,
    speaker_on: bool,
    stats: stats::Statistics,
    uplink_loss: stats::UplinkLoss,
    out: Outbox,
}

impl MediaCore {
    /// A core in no room; `plays_audio` says whether remote audio goes to a speaker.
    pub(crate) fn new(plays_audio: bool) -> Self {
        MediaCore {
            presence: Presence::Out,
            locals: Locals::default(),
            links: Links::default(),
            remotes: BTreeMap::new(),
            mute_all_audio: false,
            plays_audio,
            speaker_on: false,
            stats: stats::Statistics::default(),
            uplink_loss: stats::UplinkLoss::default(),
            out: Outbox::default(),
        }
    }

    /// The next thing to do, if any.
    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.out.0.pop_front()
    }

    /// When [`MediaCore::handle_timeout`] must next be called.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self.presence {
            Presence::In { .. } => self.links.poll_timeout(),
            Presence::Out => None,
        }
    }

    /// Call when [`MediaCore::poll_timeout`]'s time has come.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if let Presence::In { bind_ip } = self.presence {
            self.links
                .handle_timeout(now, bind_ip, self.locals.accepted(), &mut self.out);
        }
    }

    /// Feeds one input that happened at `now`.
    pub(crate) fn handle_input(&mut self, input: Input, now: Instant) {
        match input {
            Input::Command(c) => self.command(c, now),
            Input::Room(change) => self.room(change, now),
            Input::Server(msg) => self.server(msg, now),
            Input::MemberLeft(user_id) => self.drop_participant(&user_id),
            Input::SourceStarted {
                kind,
                token,
                result,
            } => self.locals.started(kind, token, result, &mut self.out),
            Input::PublisherCreated { token, result } => {
                self.links
                    .publisher_created(token, result, now, &mut self.out)
            }
            Input::PublisherAnswered { conn, result } => {
                self.links
                    .publisher_answered(conn, result, now, &mut self.out)
            }
            Input::SubscriberAnswered(result) => {
                self.links.subscriber_answered(result, &mut self.out)
            }
            Input::Peer(event) => self.peer(event, now),
            Input::FirstCaptured {
                kind,
                token,
                width,
                height,
            } => self
                .locals
                .first_captured(kind, token, width, height, &mut self.out),
            Input::FirstSent { kind, token } => self.locals.first_sent(kind, token, &mut self.out),
            Input::FirstPicture {
                user_id,
                kind,
                width,
                height,
            } => {
                if let Some(p) = self.remotes.get_mut(&user_id) {
                    p.first_picture(kind, width, height, &mut self.out);
                }
            }
            Input::FirstAudio { user_id } => {
                if let Some(p) = self.remotes.get_mut(&user_id) {
                    p.first_audio(&mut self.out);
                }
            }
            Input::WantKeyframe { user_id, kind } => self.want_keyframe(user_id, kind),
            Input::Counters(snapshot) => self.counters(snapshot, now),
            Input::SpeakerFailed(reason) => {
                self.speaker_on = false;
                self.out.warning(
                    trtc_protocol::codes::WARNING_SPEAKER_DEVICE_EMPTY,
                    format!("remote audio cannot be played: {reason}"),
                );
            }
            Input::Rtt(ms) => self.stats.rtt_ms = Some(ms),
        }
        self.sync_state();
    }

    /// Tells the server what we publish, when that changed since we last said.
    fn sync_state(&mut self) {
        if self.presence == Presence::Out {
            return;
        }
        if let Some(state) = self.locals.state_to_send() {
            self.out.send(ClientMessage::MediaState(state));
        }
    }

    fn command(&mut self, c: MediaCommand, now: Instant) {
        match c {
            MediaCommand::StartRemoteView(user, kind, view) => {
                if kind.is_video() {
                    let p = participant(&mut self.remotes, &user, now);
                    p.set_view(kind, true, view, &mut self.out);
                    self.want_keyframe(user, kind);
                }
            }
            MediaCommand::StopRemoteView(user, kind) => {
                if let Some(p) = self.remotes.get_mut(&user) {
                    p.set_view(kind, false, None, &mut self.out);
                }
            }
            MediaCommand::MuteRemoteAudio(user, mute) => {
                let all = self.mute_all_audio;
                participant(&mut self.remotes, &user, now).mute_audio(mute, all, &mut self.out);
            }
            MediaCommand::MuteAllRemoteAudio(mute) => {
                self.mute_all_audio = mute;
                for p in self.remotes.values_mut() {
                    p.apply_audio(mute, &mut self.out);
                }
            }
            MediaCommand::SetRemoteAudioSink(user, sink) => {
                participant(&mut self.remotes, &user, now).set_sink(sink, &mut self.out);
            }
            MediaCommand::DeviceChanged(DeviceType::Speaker) => {
                if self.speaker_on {
                    self.out.effect(Effect::StopSpeaker);
                    self.out.effect(Effect::StartSpeaker);
                }
            }
            other => self.locals.command(other, &mut self.out),
        }
    }

    fn drop_participant(&mut self, user_id: &str) {
        if self.remotes.remove(user_id).is_some() {
            self.out.effect(Effect::DropRemote {
                user_id: user_id.to_owned(),
            });
        }
    }

    fn room(&mut self, change: RoomChange, now: Instant) {
        match change {
            RoomChange::Entered { bind_ip } => {
                self.presence = Presence::In { bind_ip };
                self.locals.forget_sent();
                if self.plays_audio && !self.speaker_on {
                    self.speaker_on = true;
                    self.out.effect(Effect::StartSpeaker);
                }
            }
            RoomChange::Reentered { bind_ip } => {
                // The server restarted or dropped us: nothing of our media is left there.
                // Close ours, forget what the others published (the new server tells us
                // again), and publish what the user has on.
                self.presence = Presence::In { bind_ip };
                self.links.reset(&mut self.out);
                self.locals.forget_sent();
                self.locals
                    .set_accepted(MediaState::default(), &mut self.out);
                for p in self.remotes.values_mut() {
                    p.server_restarted(now, &mut self.out);
                }
            }
            RoomChange::Resumed => {
                // The server kept our media session; tell it our state again, and rebuild a
                // connection that failed while the signalling was away.
                self.locals.forget_sent();
                if let Presence::In { bind_ip } = self.presence {
                    self.links
                        .resumed(now, bind_ip, self.locals.accepted(), &mut self.out);
                }
            }
            RoomChange::RoleChanged => self.locals.forget_sent(),
            RoomChange::Left { done } => self.leave(done),
        }
    }

    fn leave(&mut self, done: Option<oneshot::Sender<()>>) {
        self.presence = Presence::Out;
        self.locals.close_all(&mut self.out);
        self.links.reset(&mut self.out);
        for user_id in std::mem::take(&mut self.remotes).into_keys() {
            self.out.effect(Effect::DropRemote { user_id });
        }
        if self.speaker_on {
            self.speaker_on = false;
            self.out.effect(Effect::StopSpeaker);
        }
        self.stats.reset();
        self.out.effect(Effect::Released(done));
    }

    fn server(&mut self, msg: ServerMessage, now: Instant) {
        let Presence::In { bind_ip } = self.presence else {
            return;
        };
        match msg {
            ServerMessage::MediaStateResult {
                code,
                message,
                accepted,
            } => {
                self.locals.result(code, message, accepted, &mut self.out);
                if accepted.any() {
                    self.links.want_publisher(now, bind_ip, &mut self.out);
                }
            }
            ServerMessage::PublishAnswer { sdp } => self.links.publish_answer(sdp, &mut self.out),
            ServerMessage::SubscribeOffer { sdp } => {
                self.links.subscribe_offer(bind_ip, sdp, &mut self.out)
            }
            ServerMessage::KeyframeRequest { stream_type } => self
                .out
                .effect(Effect::Keyframe(StreamKind::from_stream_type(stream_type))),
            ServerMessage::RemoteMediaState { user_id, state } => {
                let mute_all = self.mute_all_audio;
                participant(&mut self.remotes, &user_id, now).server_state(
                    state,
                    now,
                    mute_all,
                    &mut self.out,
                );
            }
            _ => {}
        }
    }

    fn peer(&mut self, event: PeerEvent, now: Instant) {
        match event {
            PeerEvent::KeyframeRequested(kind) => self.out.effect(Effect::Keyframe(kind)),
            PeerEvent::TargetFell { conn, bps } => {
                // The snapshot that would carry it is up to SNAPSHOT_INTERVAL away.
                if self.links.conn() == Some(conn) {
                    self.follow_target(bps);
                }
            }
            PeerEvent::Link { conn, role, state } => {
                if self.links.link(now, conn, role, state, &mut self.out) {
                    // A new connection: the server needs a picture it can start from.
                    self.locals.keyframes(&mut self.out);
                }
            }
        }
    }

    /// The congestion controller's target, shared out among the video encoders.
    fn follow_target(&mut self, target_bps: u64) {
        for (kind, bps) in stats::share_bandwidth(target_bps, &self.locals.encoders()) {
            self.out.effect(Effect::SetRate { kind, bps });
        }
    }

    fn want_keyframe(&mut self, user_id: String, kind: StreamKind) {
        if self.presence == Presence::Out || !kind.is_video() {
            return;
        }
        self.out.send(ClientMessage::RequestKeyframe {
            user_id: user_id.clone(),
            stream_type: kind.stream_type(),
        });
        self.out.effect(Effect::RequestKeyframe { user_id, kind });
    }

    fn counters(&mut self, snapshot: Snapshot, now: Instant) {
        if self.presence == Presence::Out {
            return;
        }
        for (user_id, p) in &mut self.remotes {
            p.liveness(user_id, &snapshot, now, &mut self.out);
        }
        if let Some(p) = &snapshot.publisher {
            self.follow_target(p.target_bps);
            if let Some(percent) = self
                .uplink_loss
                .update(p.feedback_received, p.feedback_lost)
            {
                self.out.effect(Effect::ExpectLoss { percent });
            }
        }
        let encoders = self.locals.encoders();
        let quality = quality::Context {
            rtt_ms: stats::round_trip(&snapshot, self.stats.rtt_ms),
            configured_bps: encoders.iter().map(|(_, bps)| bps).sum(),
            published: self
                .remotes
                .iter()
                .map(|(user, p)| (user.clone(), p.published()))
                .filter(|(_, kinds)| !kinds.is_empty())
                .collect(),
            uplink_lost: self.links.publisher_lost(),
            downlink_lost: self.links.subscriber_lost(),
        };
        if let Some(events) = self.stats.report(now, &snapshot, self.speaker_on, &quality) {
            for e in events {
                self.out.emit(e);
            }
        }
    }
}

/// The participant object for `user_id`, created on first mention.
fn participant<'a>(
    remotes: &'a mut BTreeMap<String, Participant>,
    user_id: &str,
    now: Instant,
) -> &'a mut Participant {
    remotes
        .entry(user_id.to_owned())
        .or_insert_with(|| Participant::new(user_id, now))
}
