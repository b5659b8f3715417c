//! The I/O shell around [`MediaCore`]: one task per TrtcCloud that feeds the core its inputs
//! (API calls, the session's changes, server messages, connection events, counter snapshots)
//! and carries out its effects. Nothing here waits on the runtime: devices open and threads
//! join on blocking threads, negotiations run in tasks of their own, and their results come
//! back as inputs. The core's inbox never queues behind any of them.

mod adjust_res;
mod keyframe_gate;
mod links;
mod local;
mod open;
mod remote;

use super::core::{
    Effect, Input, LocalCounters, MediaCore, Output, Snapshot, SourceSpec, SNAPSHOT_INTERVAL,
};
use super::{DeviceSelection, SourceChoice};
use links::SubscriberOp;
use local::{EncodedSink, LocalStream};
use remote::{DecoderInput, RemoteMedia, RemoteStream, Unit};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use trtc_media::devices::DeviceType;
use trtc_media::playout::{Mixer, Speaker};
use trtc_media::processing::{AudioProcessor, ProcessingSettings};
use trtc_protocol::{ClientMessage, MediaState, StreamKind, TrtcEvent};
use trtc_rtc::client::{CountersReader, PeerEvent, Publisher, RemoteFrame, Subscriber};

/// Encoded frames waiting for the sender: about half a second of camera and audio. More means
/// the publisher cannot keep up, and old frames are worth less than the next keyframe.
const ENCODED_QUEUE: usize = 48;

/// Sources chosen for this instance.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    pub camera: SourceChoice,
    pub mic: SourceChoice,
    /// `Device` plays remote audio on the selected output; anything else plays nothing.
    pub speaker: SourceChoice,
    /// Which devices `Device` means (the device manager's choice; default when unset).
    pub devices: DeviceSelection,
}

/// What reaches the shell: inputs for the core, and the results of its own work.
pub(crate) enum ShellInput {
    Core(Input),
    Opened {
        kind: StreamKind,
        token: u64,
        stream: LocalStream,
    },
    PublisherReady {
        token: u64,
        result: Result<(Arc<Publisher>, String), String>,
    },
    SpeakerReady(Speaker),
}

/// The media task's inbox.
#[derive(Debug, Clone)]
pub(crate) struct MediaHandle(mpsc::UnboundedSender<ShellInput>);

impl MediaHandle {
    pub(crate) fn send(&self, input: Input) {
        let _ = self.0.send(ShellInput::Core(input));
    }

    pub(crate) fn command(&self, c: super::core::MediaCommand) {
        self.send(Input::Command(c));
    }
}

/// Starts the media task on the current runtime.
pub(crate) fn spawn(
    sources: Sources,
    events: mpsc::UnboundedSender<TrtcEvent>,
    outbox: mpsc::UnboundedSender<ClientMessage>,
) -> MediaHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let shell = Shell::new(sources, events, outbox, tx.clone());
    tokio::spawn(shell.run(rx));
    MediaHandle(tx)
}

struct Running {
    token: u64,
    stream: LocalStream,
}

/// Access units' way from the subscriber's tasks to each stream's decoder, by user then kind
/// (looked up with the frame's own `&str`: no allocation per frame).
type Routes = Arc<parking_lot::RwLock<HashMap<String, HashMap<StreamKind, DecoderInput>>>>;

struct Shell {
    core: MediaCore,
    sources: Sources,
    events: mpsc::UnboundedSender<TrtcEvent>,
    outbox: mpsc::UnboundedSender<ClientMessage>,
    inbox: mpsc::UnboundedSender<ShellInput>,
    locals: HashMap<StreamKind, Running>,
    encoded: EncodedSink,
    /// The creation the core waits for; a publisher from an older one is closed on arrival.
    publisher_wanted: u64,
    /// The publisher of the moment, read by the sender task and by snapshots.
    publisher: watch::Sender<Option<Arc<Publisher>>>,
    accepted_tx: watch::Sender<MediaState>,
    peer_events: mpsc::UnboundedSender<PeerEvent>,
    subscriber: mpsc::UnboundedSender<SubscriberOp>,
    received: CountersReader,
    routes: Routes,
    remotes: HashMap<String, RemoteMedia>,
    mixer: Mixer,
    /// A speaker plays the mixer (decoders feed it only then).
    playout: Arc<AtomicBool>,
    speaker: Option<Speaker>,
    speaker_wanted: bool,
    /// Echo cancellation and friends, shared by the speaker (reference) and the microphone.
    processor: Option<AudioProcessor>,
    /// Blocking teardowns still running; leaving waits for them before saying "released".
    teardown: Vec<JoinHandle<()>>,
    /// Encoded frames the full queue dropped, as last logged.
    dropped_logged: u64,
    /// The uplink loss the audio encoder is told to expect (a new one learns it on opening).
    expected_loss: u8,
}

impl Shell {
    fn new(
        sources: Sources,
        events: mpsc::UnboundedSender<TrtcEvent>,
        outbox: mpsc::UnboundedSender<ClientMessage>,
        inbox: mpsc::UnboundedSender<ShellInput>,
    ) -> Self {
        let (encoded, frames) = EncodedSink::new(ENCODED_QUEUE);
        let (publisher, publisher_rx) = watch::channel(None);
        let (accepted_tx, accepted_rx) = watch::channel(MediaState::default());
        tokio::spawn(links::send_loop(
            frames,
            publisher_rx,
            accepted_rx,
            inbox.clone(),
        ));
        let (peer_events, mut peer_rx) = mpsc::unbounded_channel();
        let to_core = inbox.clone();
        tokio::spawn(async move {
            while let Some(e) = peer_rx.recv().await {
                if to_core.send(ShellInput::Core(Input::Peer(e))).is_err() {
                    break;
                }
            }
        });
        let routes: Routes = Arc::default();
        let deliver = {
            let routes = Arc::clone(&routes);
            Arc::new(move |f: RemoteFrame| {
                let routes = routes.read();
                if let Some(input) = routes.get(&*f.user_id).and_then(|r| r.get(&f.kind)) {
                    input.push(Unit {
                        data: f.data,
                        rtp_timestamp: f.rtp_timestamp,
                        keyframe: f.keyframe,
                        after_loss: f.after_loss,
                    });
                }
            })
        };
        let subscriber = Subscriber::new(deliver, peer_events.clone());
        let received = subscriber.counters_reader();
        let (sub_tx, sub_rx) = mpsc::unbounded_channel();
        tokio::spawn(links::subscriber_loop(subscriber, sub_rx, inbox.clone()));
        Shell {
            core: MediaCore::new(sources.speaker == SourceChoice::Device),
            sources,
            events,
            outbox,
            inbox,
            locals: HashMap::new(),
            expected_loss: 0,
            encoded,
            publisher_wanted: 0,
            publisher,
            accepted_tx,
            peer_events,
            subscriber: sub_tx,
            received,
            routes,
            remotes: HashMap::new(),
            mixer: Mixer::new(),
            playout: Arc::default(),
            speaker: None,
            speaker_wanted: false,
            processor: AudioProcessor::new(1, ProcessingSettings::default())
                .map_err(|e| tracing::warn!(error = %e, "voice processing unavailable"))
                .ok(),
            teardown: vec![],
            dropped_logged: 0,
        }
    }

    async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<ShellInput>) {
        let mut snapshots = tokio::time::interval(SNAPSHOT_INTERVAL);
        snapshots.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            while let Some(out) = self.core.poll_output() {
                self.carry_out(out);
            }
            let deadline = self.core.poll_timeout().map(Instant::from_std);
            tokio::select! {
                input = inbox.recv() => match input {
                    Some(input) => self.receive(input),
                    None => break,
                },
                _ = snapshots.tick() => {
                    let snapshot = self.snapshot();
                    self.core.handle_input(Input::Counters(snapshot), std::time::Instant::now());
                }
                _ = sleep_until(deadline) => self.core.handle_timeout(std::time::Instant::now()),
            }
        }
        // Every handle is gone: release what is still open.
        let now = std::time::Instant::now();
        self.core.handle_input(
            Input::Room(super::core::RoomChange::Left { done: None }),
            now,
        );
        while let Some(out) = self.core.poll_output() {
            self.carry_out(out);
        }
    }

    fn receive(&mut self, input: ShellInput) {
        let now = std::time::Instant::now();
        match input {
            ShellInput::Core(input) => self.core.handle_input(input, now),
            ShellInput::Opened {
                kind,
                token,
                stream,
            } => {
                if kind == StreamKind::Audio {
                    let loss = u32::from(self.expected_loss);
                    stream.control.loss_percent.store(loss, Ordering::Relaxed);
                }
                if let Some(old) = self.locals.insert(kind, Running { token, stream }) {
                    self.stop_local(old);
                }
                let result = Ok(());
                self.core.handle_input(
                    Input::SourceStarted {
                        kind,
                        token,
                        result,
                    },
                    now,
                );
            }
            ShellInput::PublisherReady { token, result } => {
                let result = match result {
                    Ok((p, sdp)) if token == self.publisher_wanted => {
                        let id = p.id();
                        self.publisher.send_replace(Some(p));
                        Ok((id, sdp))
                    }
                    Ok((p, _)) => {
                        tokio::spawn(async move { p.close().await });
                        Err("superseded".into())
                    }
                    Err(e) => Err(e),
                };
                self.core
                    .handle_input(Input::PublisherCreated { token, result }, now);
            }
            ShellInput::SpeakerReady(mut speaker) => {
                if self.speaker_wanted && self.speaker.is_none() {
                    self.speaker = Some(speaker);
                    self.playout.store(true, Ordering::Relaxed);
                } else {
                    self.blocking(move || speaker.stop());
                }
            }
        }
    }

    /// Runs `work` on a blocking thread; leaving waits for it.
    fn blocking(&mut self, work: impl FnOnce() + Send + 'static) {
        self.teardown.retain(|h| !h.is_finished());
        self.teardown.push(tokio::task::spawn_blocking(work));
    }

    fn stop_local(&mut self, mut old: Running) {
        self.blocking(move || old.stream.stop());
    }

    fn carry_out(&mut self, out: Output) {
        match out {
            Output::Send(msg) => {
                let _ = self.outbox.send(msg);
            }
            Output::Event(e) => {
                let _ = self.events.send(e);
            }
            Output::Effect(e) => self.effect(e),
        }
    }

    fn effect(&mut self, e: Effect) {
        match e {
            Effect::OpenSource { kind, token, spec } => self.open(kind, token, spec),
            Effect::CloseSource { kind, token } => {
                if self.locals.get(&kind).is_some_and(|r| r.token == token) {
                    if let Some(old) = self.locals.remove(&kind) {
                        self.stop_local(old);
                    }
                }
            }
            Effect::Mute { kind, muted } => {
                if let Some(r) = self.locals.get(&kind) {
                    r.stream.control.muted.store(muted, Ordering::Relaxed);
                }
            }
            Effect::Keyframe(kind) => {
                if let Some(r) = self.locals.get(&kind) {
                    r.stream.control.keyframe.store(true, Ordering::Relaxed);
                }
            }
            Effect::SetRate { kind, bps } => {
                if let Some(r) = self.locals.get(&kind) {
                    r.stream.control.estimate_bps.store(bps, Ordering::Relaxed);
                }
            }
            Effect::ExpectLoss { percent } => {
                self.expected_loss = percent;
                if let Some(r) = self.locals.get(&StreamKind::Audio) {
                    let loss = u32::from(percent);
                    r.stream.control.loss_percent.store(loss, Ordering::Relaxed);
                }
            }
            Effect::Accept(state) => {
                let _ = self.accepted_tx.send(state);
            }
            Effect::CreatePublisher { token, bind_ip } => {
                self.publisher_wanted = token;
                let (inbox, events) = (self.inbox.clone(), self.peer_events.clone());
                let send_queue = self.encoded.send_queue();
                tokio::spawn(async move {
                    let result = Publisher::connect(bind_ip, events, send_queue)
                        .await
                        .map(|(p, sdp)| (Arc::new(p), sdp))
                        .map_err(|e| e.to_string());
                    let _ = inbox.send(ShellInput::PublisherReady { token, result });
                });
            }
            Effect::ApplyAnswer { conn, sdp } => {
                let current = self.publisher.borrow().clone();
                if let Some(p) = current.filter(|p| p.id() == conn) {
                    let inbox = self.inbox.clone();
                    tokio::spawn(async move {
                        let result = p.apply_answer(sdp).await.map_err(|e| e.to_string());
                        let _ =
                            inbox.send(ShellInput::Core(Input::PublisherAnswered { conn, result }));
                    });
                }
            }
            Effect::ClosePublisher => {
                self.publisher_wanted = 0;
                if let Some(p) = self.publisher.send_replace(None) {
                    tokio::spawn(async move { p.close().await });
                }
            }
            Effect::AnswerSubscribe { bind_ip, sdp } => {
                let _ = self.subscriber.send(SubscriberOp::Offer { bind_ip, sdp });
            }
            Effect::CloseSubscriber => {
                let _ = self.subscriber.send(SubscriberOp::Close);
            }
            Effect::RequestKeyframe { user_id, kind } => {
                let _ = self
                    .subscriber
                    .send(SubscriberOp::Keyframe { user_id, kind });
            }
            Effect::StartDecoder { user_id, kind } => self.start_decoder(user_id, kind),
            Effect::SetView {
                user_id,
                kind,
                open,
                view,
            } => {
                if let Some(d) = self.decoder(&user_id, kind) {
                    *d.view.lock().unwrap_or_else(|e| e.into_inner()) = view;
                    d.active.store(open, Ordering::Relaxed);
                }
            }
            Effect::SetAudioPlaying { user_id, playing } => {
                if let Some(d) = self.decoder(&user_id, StreamKind::Audio) {
                    d.active.store(playing, Ordering::Relaxed);
                }
                if !playing {
                    self.mixer.remove(&user_id);
                }
            }
            Effect::SetAudioSink { user_id, sink } => {
                if let Some(d) = self.decoder(&user_id, StreamKind::Audio) {
                    *d.sink.lock().unwrap_or_else(|e| e.into_inner()) = sink;
                }
            }
            Effect::DropRemote { user_id } => {
                self.routes.write().remove(&user_id);
                if let Some(r) = self.remotes.remove(&user_id) {
                    let mixer = self.mixer.clone();
                    self.blocking(move || {
                        drop(r);
                        mixer.remove(&user_id);
                    });
                }
            }
            Effect::StartSpeaker => {
                self.speaker_wanted = true;
                let device = self.sources.devices.get(DeviceType::Speaker);
                let (mixer, processor) = (self.mixer.clone(), self.processor.clone());
                let inbox = self.inbox.clone();
                tokio::task::spawn_blocking(move || {
                    let msg = match Speaker::start(device, mixer, processor) {
                        Ok(s) => ShellInput::SpeakerReady(s),
                        Err(e) => ShellInput::Core(Input::SpeakerFailed(e.to_string())),
                    };
                    let _ = inbox.send(msg);
                });
            }
            Effect::StopSpeaker => {
                self.speaker_wanted = false;
                self.playout.store(false, Ordering::Relaxed);
                if let Some(mut s) = self.speaker.take() {
                    self.blocking(move || s.stop());
                }
            }
            Effect::Released(done) => {
                let pending = std::mem::take(&mut self.teardown);
                tokio::spawn(async move {
                    let all = futures_util::future::join_all(pending);
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), all).await;
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                });
            }
        }
    }

    fn decoder(&self, user_id: &str, kind: StreamKind) -> Option<&RemoteStream> {
        self.remotes
            .get(user_id)
            .and_then(|r| r.decoders.get(&kind))
    }

    fn start_decoder(&mut self, user_id: String, kind: StreamKind) {
        if self.decoder(&user_id, kind).is_some() {
            return;
        }
        let inbox = self.inbox.clone();
        let stream = if kind.is_video() {
            let (first_inbox, user) = (inbox.clone(), user_id.clone());
            let want_user = user_id.clone();
            RemoteStream::video(
                Box::new(move || {
                    let _ = inbox.send(ShellInput::Core(Input::WantKeyframe {
                        user_id: want_user.clone(),
                        kind,
                    }));
                }),
                Box::new(move |width, height| {
                    let _ = first_inbox.send(ShellInput::Core(Input::FirstPicture {
                        user_id: user,
                        kind,
                        width,
                        height,
                    }));
                }),
            )
        } else {
            let user = user_id.clone();
            RemoteStream::audio(
                user_id.clone(),
                self.mixer.clone(),
                Arc::clone(&self.playout),
                Box::new(move || {
                    let _ = inbox.send(ShellInput::Core(Input::FirstAudio { user_id: user }));
                }),
            )
        };
        if let Some(input) = stream.input() {
            self.routes
                .write()
                .entry(user_id.clone())
                .or_default()
                .insert(kind, input);
        }
        self.remotes
            .entry(user_id)
            .or_default()
            .decoders
            .insert(kind, stream);
    }

    /// Opens a source and its encoder on a blocking thread (devices can take seconds); the
    /// result comes back as [`ShellInput::Opened`] or a failed [`Input::SourceStarted`].
    fn open(&mut self, kind: StreamKind, token: u64, spec: SourceSpec) {
        let job = open::OpenJob {
            sources: self.sources.clone(),
            encoded: self.encoded.clone(),
            inbox: self.inbox.clone(),
            processor: self.processor.clone(),
        };
        tokio::task::spawn_blocking(move || job.run(kind, token, spec));
    }

    fn snapshot(&mut self) -> Snapshot {
        let dropped = self.encoded.dropped();
        if dropped > self.dropped_logged {
            tracing::debug!(
                dropped = dropped - self.dropped_logged,
                "encoded frames dropped: the publisher is behind"
            );
            self.dropped_logged = dropped;
        }
        let local = self
            .locals
            .iter()
            .map(|(kind, r)| {
                let c = &r.stream.control;
                let counters = LocalCounters {
                    frames: c.frames.load(Ordering::Relaxed),
                    width: c.width.load(Ordering::Relaxed),
                    height: c.height.load(Ordering::Relaxed),
                    sample_rate: c.sample_rate.load(Ordering::Relaxed),
                };
                (*kind, counters)
            })
            .collect();
        let mut decoders = HashMap::new();
        let mut audio_queued_ms = HashMap::new();
        let playing = self.playout.load(Ordering::Relaxed);
        for (user, r) in &self.remotes {
            for (kind, d) in &r.decoders {
                decoders.insert((user.clone(), *kind), d.stats.read());
                if *kind == StreamKind::Audio && playing {
                    audio_queued_ms.insert(user.clone(), self.mixer.queued_ms(user) as u32);
                }
            }
        }
        let subscriber = self.received.read();
        if playing {
            // Each playout cushion follows its stream's jitter, measured on arrival.
            for ((user, kind), c) in &subscriber {
                if *kind == StreamKind::Audio {
                    self.mixer.fit_to_jitter(user, c.jitter_ms);
                }
            }
        }
        Snapshot {
            local,
            publisher: self.publisher.borrow().as_ref().map(|p| p.stats()),
            subscriber,
            decoders,
            audio_queued_ms,
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
