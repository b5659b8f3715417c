//! One remote participant: what the server says they publish, whether each stream is really
//! arriving, what the app asked for (views, mutes, a custom audio sink), and what the app was
//! told. Availability is "published and arriving": a stream that was arriving and has sent
//! nothing for [`STALL_AFTER`] (the sender was killed, its network went away) is reported
//! unavailable, and available again when it returns, so the app shows the placeholder instead
//! of a frozen picture.

use super::{Effect, Outbox, Snapshot, STALL_AFTER};
use crate::media::{AudioSink, VideoView};
use std::time::Instant;
use trtc_protocol::{MediaState, StreamKind, TrtcEvent};

#[derive(Debug)]
struct Stream {
    /// The server says it is published.
    published: bool,
    /// Packets arrived since it was last published: only then can it stall.
    seen: bool,
    /// Packets arrived within [`STALL_AFTER`].
    live: bool,
    /// The receive counter at its last change, and when that was.
    packets: Option<u64>,
    changed: Instant,
    /// What the app was last told.
    reported: bool,
    decoding: bool,
    /// Video: startRemoteView was called (and not stopped), and where pictures go.
    view_open: bool,
    view: Option<VideoView>,
    /// onFirstVideoFrame / onFirstAudioFrame was raised.
    first: bool,
}

impl Stream {
    fn new(now: Instant) -> Self {
        Stream {
            published: false,
            seen: false,
            live: false,
            packets: None,
            changed: now,
            reported: false,
            decoding: false,
            view_open: false,
            view: None,
            first: false,
        }
    }

    fn available(&self) -> bool {
        self.published && (self.live || !self.seen)
    }
}

/// Everything the core knows about one remote user.
#[derive(Debug)]
pub(super) struct Participant {
    user_id: String,
    /// Audio, big, sub.
    streams: [Stream; 3],
    /// muteRemoteAudio for this user (muteAllRemoteAudio is the core's, passed in).
    audio_muted: bool,
    sink: Option<AudioSink>,
}

fn index(kind: StreamKind) -> usize {
    match kind {
        StreamKind::Audio => 0,
        StreamKind::Big => 1,
        StreamKind::Sub => 2,
    }
}

impl Participant {
    pub(super) fn new(user_id: &str, now: Instant) -> Self {
        Participant {
            user_id: user_id.to_owned(),
            streams: [Stream::new(now), Stream::new(now), Stream::new(now)],
            audio_muted: false,
            sink: None,
        }
    }

    /// The streams the server says this user publishes now.
    pub(super) fn published(&self) -> Vec<StreamKind> {
        StreamKind::ALL
            .into_iter()
            .filter(|k| self.streams[index(*k)].published)
            .collect()
    }

    fn stream(&mut self, kind: StreamKind) -> &mut Stream {
        &mut self.streams[index(kind)]
    }

    fn playing(&self, mute_all: bool) -> bool {
        !(self.audio_muted || mute_all)
    }

    /// The decoder of `kind`, started the first time the stream is published and kept while
    /// the participant is here (a stream muted and unmuted goes on with it).
    fn ensure_decoder(&mut self, kind: StreamKind, mute_all: bool, out: &mut Outbox) {
        let user_id = self.user_id.clone();
        let playing = self.playing(mute_all);
        let sink = self.sink.clone();
        let s = self.stream(kind);
        if s.decoding {
            return;
        }
        s.decoding = true;
        out.effect(Effect::StartDecoder {
            user_id: user_id.clone(),
            kind,
        });
        if kind.is_video() {
            if s.view_open {
                out.effect(Effect::SetView {
                    user_id,
                    kind,
                    open: true,
                    view: s.view.clone(),
                });
            }
        } else {
            out.effect(Effect::SetAudioPlaying {
                user_id: user_id.clone(),
                playing,
            });
            if sink.is_some() {
                out.effect(Effect::SetAudioSink { user_id, sink });
            }
        }
    }

    /// Tells the app every availability that changed.
    fn report(&mut self, out: &mut Outbox) {
        for kind in StreamKind::ALL {
            let user_id = self.user_id.clone();
            let s = self.stream(kind);
            let available = s.available();
            if available == s.reported {
                continue;
            }
            s.reported = available;
            out.emit(match kind {
                StreamKind::Audio => TrtcEvent::UserAudioAvailable { user_id, available },
                StreamKind::Big => TrtcEvent::UserVideoAvailable { user_id, available },
                StreamKind::Sub => TrtcEvent::UserSubStreamAvailable { user_id, available },
            });
        }
    }

    /// What the server says this user publishes.
    pub(super) fn server_state(
        &mut self,
        state: MediaState,
        now: Instant,
        mute_all: bool,
        out: &mut Outbox,
    ) {
        for kind in StreamKind::ALL {
            let published = kind.in_state(&state);
            let s = self.stream(kind);
            if published && !s.published {
                s.seen = false;
                s.changed = now;
            }
            s.published = published;
            if published {
                self.ensure_decoder(kind, mute_all, out);
            }
        }
        self.report(out);
    }

    /// The server the others' streams came through restarted: nothing is published until the
    /// new one says so.
    pub(super) fn server_restarted(&mut self, now: Instant, out: &mut Outbox) {
        for s in &mut self.streams {
            s.published = false;
            s.seen = false;
            s.changed = now;
        }
        self.report(out);
    }

    /// Liveness from the receive counters.
    pub(super) fn liveness(
        &mut self,
        user_id: &str,
        snapshot: &Snapshot,
        now: Instant,
        out: &mut Outbox,
    ) {
        for kind in StreamKind::ALL {
            let packets = snapshot
                .subscriber
                .get(&(user_id.to_owned(), kind))
                .map(|c| c.packets);
            let s = self.stream(kind);
            if packets.is_some() && packets != s.packets {
                s.packets = packets;
                s.changed = now;
                s.live = true;
                s.seen |= s.published;
            } else if s.seen && now.duration_since(s.changed) >= STALL_AFTER {
                s.live = false;
            }
        }
        self.report(out);
    }

    pub(super) fn set_view(
        &mut self,
        kind: StreamKind,
        open: bool,
        view: Option<VideoView>,
        out: &mut Outbox,
    ) {
        let user_id = self.user_id.clone();
        let s = self.stream(kind);
        s.view_open = open;
        s.view = view.clone();
        if s.decoding {
            out.effect(Effect::SetView {
                user_id,
                kind,
                open,
                view,
            });
        }
    }

    /// Tells the decoder whether to play, after a mute changed.
    pub(super) fn apply_audio(&mut self, mute_all: bool, out: &mut Outbox) {
        let playing = self.playing(mute_all);
        if self.stream(StreamKind::Audio).decoding {
            out.effect(Effect::SetAudioPlaying {
                user_id: self.user_id.clone(),
                playing,
            });
        }
    }

    pub(super) fn mute_audio(&mut self, mute: bool, mute_all: bool, out: &mut Outbox) {
        self.audio_muted = mute;
        self.apply_audio(mute_all, out);
    }

    pub(super) fn set_sink(&mut self, sink: Option<AudioSink>, out: &mut Outbox) {
        self.sink = sink.clone();
        if self.stream(StreamKind::Audio).decoding {
            out.effect(Effect::SetAudioSink {
                user_id: self.user_id.clone(),
                sink,
            });
        }
    }

    pub(super) fn first_picture(
        &mut self,
        kind: StreamKind,
        width: u32,
        height: u32,
        out: &mut Outbox,
    ) {
        let user_id = self.user_id.clone();
        let s = self.stream(kind);
        if !s.first {
            s.first = true;
            out.emit(TrtcEvent::FirstVideoFrame {
                user_id,
                stream_type: kind.stream_type(),
                width,
                height,
            });
        }
    }

    pub(super) fn first_audio(&mut self, out: &mut Outbox) {
        let user_id = self.user_id.clone();
        let s = self.stream(StreamKind::Audio);
        if !s.first {
            s.first = true;
            out.emit(TrtcEvent::FirstAudioFrame { user_id });
        }
    }
}
