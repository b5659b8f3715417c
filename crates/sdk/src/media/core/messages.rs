//! What goes into the media core and what comes out: the API's commands, the session's
//! changes, every other input with what it carries, and the effects the shell carries out.

use crate::media::{AudioSink, VideoView};
use std::net::IpAddr;
use tokio::sync::oneshot;
use trtc_media::devices::DeviceType;
use trtc_media::params::{TrtcAudioQuality, TrtcVideoEncParam};
use trtc_media::CaptureError;
use trtc_protocol::{ClientMessage, MediaState, ServerMessage, StreamKind, TrtcEvent};
use trtc_rtc::client::PeerEvent;

use super::Snapshot;

/// TRTC's media API, as the facade sends it.
#[derive(Debug)]
pub(crate) enum MediaCommand {
    StartLocalPreview(Option<VideoView>),
    StopLocalPreview,
    MuteLocalVideo(bool),
    StartLocalAudio(TrtcAudioQuality),
    StopLocalAudio,
    MuteLocalAudio(bool),
    StartRemoteView(String, StreamKind, Option<VideoView>),
    StopRemoteView(String, StreamKind),
    MuteRemoteAudio(String, bool),
    MuteAllRemoteAudio(bool),
    SetRemoteAudioSink(String, Option<AudioSink>),
    SelectScreenTarget(usize),
    StartScreenCapture(Option<VideoView>),
    StopScreenCapture,
    PauseScreenCapture,
    ResumeScreenCapture,
    SetVideoEncoderParam(TrtcVideoEncParam),
    SetSubStreamEncoderParam(TrtcVideoEncParam),
    /// The device manager chose another device of this type: reopen it if it is running.
    DeviceChanged(DeviceType),
}

/// What happened to the session, as media needs to know it.
#[derive(Debug)]
pub(crate) enum RoomChange {
    /// The room was entered; media binds towards this address.
    Entered { bind_ip: IpAddr },
    /// The session resumed on a new signalling connection: the server kept our media session.
    Resumed,
    /// The session was entered afresh after a reconnection (the server restarted, or had
    /// dropped us): the server has none of our media any more.
    Reentered { bind_ip: IpAddr },
    /// switchRole succeeded: what we may publish changed.
    RoleChanged,
    /// The session is over; `done` hears once media is released.
    Left { done: Option<oneshot::Sender<()>> },
}

/// What a local source is opened with.
#[derive(Debug, Clone)]
pub(crate) enum SourceSpec {
    Camera {
        param: TrtcVideoEncParam,
        view: Option<VideoView>,
    },
    Mic {
        quality: TrtcAudioQuality,
    },
    Screen {
        target: usize,
        param: TrtcVideoEncParam,
        view: Option<VideoView>,
    },
}

/// Something that happened.
#[derive(Debug)]
pub(crate) enum Input {
    /// The app called the API.
    Command(MediaCommand),
    /// The session moved.
    Room(RoomChange),
    /// A media message from the server.
    Server(ServerMessage),
    /// A member left the room (or the session learned they are gone).
    MemberLeft(String),
    /// A source opened for [`Effect::OpenSource`] `token` started, or could not.
    SourceStarted {
        kind: StreamKind,
        token: u64,
        result: Result<(), CaptureError>,
    },
    /// [`Effect::CreatePublisher`] `token` made connection `conn` and its offer, or failed.
    PublisherCreated {
        token: u64,
        result: Result<(u64, String), String>,
    },
    /// The answer for publisher `conn` was applied, or was refused.
    PublisherAnswered {
        conn: u64,
        result: Result<(), String>,
    },
    /// [`Effect::AnswerSubscribe`]'s answer, or why there is none.
    SubscriberAnswered(Result<String, String>),
    /// A connection's state changed, or the server asked for a keyframe over RTCP.
    Peer(PeerEvent),
    /// The first picture of the local video stream opened as `token` was captured.
    FirstCaptured {
        kind: StreamKind,
        token: u64,
        width: u32,
        height: u32,
    },
    /// The first encoded frame of the local stream opened as `token` went out.
    FirstSent { kind: StreamKind, token: u64 },
    /// A remote video stream's first picture was decoded.
    FirstPicture {
        user_id: String,
        kind: StreamKind,
        width: u32,
        height: u32,
    },
    /// A remote user's first audio was decoded.
    FirstAudio { user_id: String },
    /// A remote video decoder cannot go on without a keyframe.
    WantKeyframe { user_id: String, kind: StreamKind },
    /// The shell's periodic reading of every counter.
    Counters(Snapshot),
    /// The speaker could not start.
    SpeakerFailed(String),
    /// Signalling round trip, ms.
    Rtt(u32),
}

/// Something the shell must do.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Open a source and its encoder; answer with [`Input::SourceStarted`].
    OpenSource {
        kind: StreamKind,
        token: u64,
        spec: SourceSpec,
    },
    /// Close the source opened as `token` (if it is still open).
    CloseSource { kind: StreamKind, token: u64 },
    /// Stop or resume encoding a running local stream (its preview goes on).
    Mute { kind: StreamKind, muted: bool },
    /// The next encoded picture of a local stream is a keyframe.
    Keyframe(StreamKind),
    /// A local encoder's share of the bandwidth estimate, bps.
    SetRate { kind: StreamKind, bps: u64 },
    /// The share of packets the way up loses now, %: the audio encoder adds that much FEC.
    ExpectLoss { percent: u8 },
    /// What the server lets out; frames of other kinds are not sent.
    Accept(MediaState),
    /// Make a publisher connection; answer with [`Input::PublisherCreated`].
    CreatePublisher { token: u64, bind_ip: IpAddr },
    /// Apply the server's answer to publisher `conn`.
    ApplyAnswer { conn: u64, sdp: String },
    /// Close the publisher connection.
    ClosePublisher,
    /// Answer a subscriber offer (creating the connection if there is none).
    AnswerSubscribe { bind_ip: IpAddr, sdp: String },
    /// Close the subscriber connection.
    CloseSubscriber,
    /// Ask a remote stream's sender for a keyframe (RTCP PLI).
    RequestKeyframe { user_id: String, kind: StreamKind },
    /// Start a decoder for a remote stream (idle until its view opens, for video).
    StartDecoder { user_id: String, kind: StreamKind },
    /// Where a remote video's pictures go; `open` false stops decoding it.
    SetView {
        user_id: String,
        kind: StreamKind,
        open: bool,
        view: Option<VideoView>,
    },
    /// Whether a remote user's audio is played.
    SetAudioPlaying { user_id: String, playing: bool },
    /// Where a remote user's decoded audio also goes.
    SetAudioSink {
        user_id: String,
        sink: Option<AudioSink>,
    },
    /// Release everything of a participant.
    DropRemote { user_id: String },
    /// Open the speaker; [`Input::SpeakerFailed`] if it cannot.
    StartSpeaker,
    /// Close the speaker.
    StopSpeaker,
    /// Everything above is released once the shell gets here; tell `done`.
    Released(Option<oneshot::Sender<()>>),
}

/// Something the driver or the app must hear.
#[derive(Debug)]
pub(crate) enum Output {
    Send(ClientMessage),
    Event(TrtcEvent),
    Effect(Effect),
}
