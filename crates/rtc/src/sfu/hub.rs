//! One room's forwarding state: who publishes which track, what the room's rules let through,
//! and every member's media session. The room actor decides the rules ([`RoomMedia::set_allowed`]);
//! sessions add and remove publications as tracks arrive and end.

use super::metrics::{Counted, Held, SfuMetrics};
use super::session::MediaSession;
use super::MediaConfig;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};
use trtc_protocol::rtp::StreamKind;
use trtc_protocol::{MediaState, ServerMessage};
use webrtc::media_stream::track_remote::TrackRemote;

/// Packets a slow subscriber may fall behind before it skips ahead (and asks for a keyframe).
const FORWARD_QUEUE: usize = 512;
/// Keyframe requests to one publisher are merged within this window.
const PLI_INTERVAL: Duration = Duration::from_millis(100);

/// What the forwarding tells the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaNotice {
    /// `user_id`'s publishing connection went down (`up: false`: nothing heard for
    /// `setup::ICE_DISCONNECTED_AFTER`, or failed) or came back. The room unpublishes a member
    /// whose media is gone, while its membership waits for the drop timeout.
    PublisherLink {
        /// Whose.
        user_id: String,
        /// Whether media can flow.
        up: bool,
    },
    /// The SFU started (`present`) or stopped receiving one of `user_id`'s streams: what
    /// backs its claims.
    Stream {
        /// Whose.
        user_id: String,
        /// Which.
        kind: StreamKind,
        /// Whether the stream now arrives.
        present: bool,
    },
}

/// A track someone publishes.
pub(crate) struct Publication {
    pub user_id: String,
    pub kind: StreamKind,
    pub packets: broadcast::Sender<rtc::rtp::Packet>,
    /// The room's rules let this stream through (not audience, not refused).
    pub allowed: AtomicBool,
    track: Arc<dyn TrackRemote>,
    ssrc: u32,
    last_pli_ms: AtomicU64,
    born: Instant,
    /// The publisher's session: keyframe requests also go there through signalling.
    publisher: std::sync::Weak<MediaSession>,
    pub metrics: Arc<SfuMetrics>,
    _counted: Held,
}

impl Publication {
    /// Asks the publisher for a keyframe, at most once per [`PLI_INTERVAL`].
    pub async fn request_keyframe(&self) {
        if !self.kind.is_video() {
            return;
        }
        let now = self.born.elapsed().as_millis() as u64 + PLI_INTERVAL.as_millis() as u64;
        let last = self.last_pli_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < PLI_INTERVAL.as_millis() as u64
            || self
                .last_pli_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let pli = rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: self.ssrc,
        };
        tracing::debug!(user = %self.user_id, kind = ?self.kind, "keyframe request to the publisher");
        SfuMetrics::count(&self.metrics.keyframe_requests, 1);
        if let Some(publisher) = self.publisher.upgrade() {
            publisher.send(ServerMessage::KeyframeRequest {
                stream_type: self.kind.stream_type(),
            });
        }
        let _ = self.track.write_rtcp(vec![Box::new(pli)]).await;
    }
}

#[derive(Default)]
struct Inner {
    publications: HashMap<(String, StreamKind), Arc<Publication>>,
    sessions: HashMap<String, Arc<MediaSession>>,
    allowed: HashMap<String, MediaState>,
}

/// A room's SFU.
pub struct RoomMedia {
    config: MediaConfig,
    inner: parking_lot::Mutex<Inner>,
    notices: mpsc::UnboundedSender<MediaNotice>,
}

impl std::fmt::Debug for RoomMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomMedia").finish_non_exhaustive()
    }
}

impl RoomMedia {
    /// An empty room, and where it tells the room actor about members' media connections.
    pub fn new(config: MediaConfig) -> (Arc<RoomMedia>, mpsc::UnboundedReceiver<MediaNotice>) {
        let (notices, rx) = mpsc::unbounded_channel();
        let media = Arc::new(RoomMedia {
            config,
            inner: parking_lot::Mutex::new(Inner::default()),
            notices,
        });
        (media, rx)
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, Inner> {
        self.inner.lock()
    }

    pub(crate) fn notify(&self, notice: MediaNotice) {
        let _ = self.notices.send(notice);
    }

    /// The member's session was resumed from a new signalling connection: what it missed in
    /// between (an offer, a connection that failed meanwhile) is repaired.
    pub fn resumed(self: &Arc<Self>, user_id: &str) {
        let session = self.lock().sessions.get(user_id).cloned();
        if let Some(session) = session {
            tokio::spawn(async move { session.resumed().await });
        }
    }

    pub(crate) fn config(&self) -> &MediaConfig {
        &self.config
    }

    /// The member's media session, created on first use; `outbox` is where its signalling goes
    /// (replaced after a resumption).
    pub fn session(
        self: &Arc<Self>,
        user_id: &str,
        outbox: mpsc::Sender<ServerMessage>,
    ) -> Arc<MediaSession> {
        let session = {
            let mut inner = self.lock();
            Arc::clone(
                inner
                    .sessions
                    .entry(user_id.to_owned())
                    .or_insert_with(|| MediaSession::new(user_id, Arc::downgrade(self))),
            )
        };
        session.set_outbox(outbox);
        session
    }

    /// What the room's rules let `user_id` publish; streams outside it are not forwarded.
    pub fn set_allowed(&self, user_id: &str, state: MediaState) {
        let mut inner = self.lock();
        inner.allowed.insert(user_id.to_owned(), state);
        for kind in StreamKind::ALL {
            if let Some(p) = inner.publications.get(&(user_id.to_owned(), kind)) {
                p.allowed.store(kind.in_state(&state), Ordering::Relaxed);
            }
        }
    }

    /// The member left: close its connections, withdraw its tracks from everyone.
    pub fn remove_user(self: &Arc<Self>, user_id: &str) {
        let session = {
            let mut inner = self.lock();
            inner.allowed.remove(user_id);
            inner.publications.retain(|(u, _), _| u != user_id);
            inner.sessions.remove(user_id)
        };
        if let Some(session) = session {
            tokio::spawn(async move {
                session.close().await;
            });
        }
        self.refresh_others(user_id);
    }

    /// The server is stopping: every member's connections close before this returns. Returns
    /// how many peer connections were closed.
    pub async fn close_all(&self) -> usize {
        let sessions: Vec<Arc<MediaSession>> = {
            let mut inner = self.lock();
            inner.publications.clear();
            inner.allowed.clear();
            inner.sessions.drain().map(|(_, s)| s).collect()
        };
        let mut closed = 0;
        for s in sessions {
            closed += s.close().await;
        }
        closed
    }

    /// A publisher's track arrived.
    pub(crate) fn add_publication(
        self: &Arc<Self>,
        user_id: &str,
        kind: StreamKind,
        track: Arc<dyn TrackRemote>,
        ssrc: u32,
    ) -> Arc<Publication> {
        let (packets, _) = broadcast::channel(FORWARD_QUEUE);
        let publication = {
            let mut inner = self.lock();
            let allowed = inner.allowed.get(user_id).is_some_and(|s| kind.in_state(s));
            let publisher = inner
                .sessions
                .get(user_id)
                .map(Arc::downgrade)
                .unwrap_or_default();
            let publication = Arc::new(Publication {
                publisher,
                user_id: user_id.to_owned(),
                kind,
                packets,
                allowed: AtomicBool::new(allowed),
                track,
                ssrc,
                last_pli_ms: AtomicU64::new(0),
                born: Instant::now(),
                metrics: Arc::clone(&self.config.metrics),
                _counted: self.config.metrics.hold(Counted::Publication),
            });
            inner
                .publications
                .insert((user_id.to_owned(), kind), Arc::clone(&publication));
            publication
        };
        self.notify(MediaNotice::Stream {
            user_id: user_id.to_owned(),
            kind,
            present: true,
        });
        self.refresh_others(user_id);
        publication
    }

    /// A publisher's track ended.
    pub(crate) fn remove_publication(self: &Arc<Self>, publication: &Arc<Publication>) {
        let removed = {
            let mut inner = self.lock();
            let key = (publication.user_id.clone(), publication.kind);
            match inner.publications.get(&key) {
                Some(p) if Arc::ptr_eq(p, publication) => inner.publications.remove(&key).is_some(),
                _ => false,
            }
        };
        if removed {
            self.notify(MediaNotice::Stream {
                user_id: publication.user_id.clone(),
                kind: publication.kind,
                present: false,
            });
            self.refresh_others(&publication.user_id);
        }
    }

    /// A subscriber asked (through signalling) for a keyframe of `user_id`'s stream.
    pub async fn request_keyframe(&self, user_id: &str, kind: StreamKind) {
        let publication = self
            .lock()
            .publications
            .get(&(user_id.to_owned(), kind))
            .cloned();
        if let Some(p) = publication {
            p.request_keyframe().await;
        }
    }

    /// Everything `user_id` should receive: all publications but its own.
    pub(crate) fn publications_for(&self, user_id: &str) -> Vec<Arc<Publication>> {
        self.lock()
            .publications
            .values()
            .filter(|p| p.user_id != user_id)
            .cloned()
            .collect()
    }

    /// Every session except `user_id`'s renegotiates its subscriptions.
    fn refresh_others(&self, user_id: &str) {
        let sessions: Vec<Arc<MediaSession>> = self
            .lock()
            .sessions
            .iter()
            .filter(|(u, _)| u.as_str() != user_id)
            .map(|(_, s)| Arc::clone(s))
            .collect();
        for s in sessions {
            tokio::spawn(async move { s.refresh_subscriptions().await });
        }
    }
}
