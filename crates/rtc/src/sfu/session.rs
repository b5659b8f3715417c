//! One member's media on the server: the publisher connection whose tracks become
//! publications, and the subscriber connection the server offers and renegotiates.
//!
//! Either connection can be replaced while the member stays: a publish offer from a new client
//! connection (its ICE ufrag differs) replaces the publisher; a subscriber that failed, or whose
//! offer the client never answered, is rebuilt and offered afresh (the client sees the new
//! ufrag and starts a new connection too).

use super::driver::SubscriberConn;
use super::forward::{forward, BySsrc, Forward};
use super::hub::{MediaNotice, Publication, RoomMedia};
use super::metrics::{Counted, Held};
use super::new_peer_connection;
use crate::setup::{
    answer_offer, ice_ufrag, next_conn_id, LinkState, TransportError, ICE_DISCONNECTED_AFTER,
    ICE_FAILED_AFTER,
};
use rtc::shared::marshal::MarshalSize;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};
use trtc_protocol::rtp::StreamKind;
use trtc_protocol::ServerMessage;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
};

/// A subscriber offer the client has not answered within this is taken as lost (a client
/// answers in milliseconds).
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);
/// A connection with both descriptions set that has not connected within this never will:
/// the time ICE takes to declare a pair dead.
const CONNECT_DEADLINE: Duration =
    Duration::from_secs(ICE_FAILED_AFTER.as_secs() + ICE_DISCONNECTED_AFTER.as_secs());
/// How often a subscriber connection's deadlines are checked.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// Subscriber connections in a row that never worked before the server stops offering until
/// something changes (a new publication, a resumption): a client that cannot answer gets a
/// few tries, not an offer every few seconds for ever.
const MAX_STRIKES: u32 = 3;

/// A member's media connections.
pub struct MediaSession {
    user_id: String,
    hub: Weak<RoomMedia>,
    /// Weak, like the connection's: the room's member entry owns the outbox.
    outbox: parking_lot::Mutex<Option<mpsc::WeakSender<ServerMessage>>>,
    publisher: tokio::sync::Mutex<Option<PublisherConn>>,
    subscriber: tokio::sync::Mutex<Subscriber>,
    /// Outgoing SSRC → the publication it forwards, for routing keyframe requests.
    by_ssrc: BySsrc,
    /// The subscriber connection can carry media (DTLS done). Nothing is forwarded before.
    /// A keyframe asked for before then is lost on the way and, through the publisher's
    /// request merging, delays the one asked for at connection.
    subscriber_connected: AtomicBool,
    /// Subscriber connections in a row that never connected or whose offer went unanswered.
    subscriber_strikes: AtomicU32,
    /// The publisher connection has connected at least once.
    publisher_connected: AtomicBool,
    /// Ids of the current connections: a replaced connection still reports its end, which
    /// must not be taken for the new one's.
    publisher_id: AtomicU64,
    subscriber_id: AtomicU64,
    /// Whether the room was last told the publisher is up (notices go out on changes only).
    publisher_up: AtomicBool,
}

impl std::fmt::Debug for MediaSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaSession")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// The connection a member publishes on (the WebRTC library's driver).
struct PublisherConn {
    id: u64,
    pc: Arc<dyn PeerConnection>,
    gathered: watch::Receiver<bool>,
    /// The client side's ICE ufrag: another one in an offer is a new connection.
    remote_ufrag: Option<String>,
    _counted: Held,
}

/// The connection a member receives on (a media lane's).
struct SubscriberLink {
    id: u64,
    conn: Arc<SubscriberConn>,
    _counted: Held,
}

#[derive(Default)]
struct Subscriber {
    conn: Option<SubscriberLink>,
    tracks: HashMap<(String, StreamKind), Forward>,
    /// An offer is out; changes wait for its answer.
    awaiting_answer: bool,
    /// Publications changed while an offer was out.
    dirty: bool,
    /// When the last offer went out, and when the last answer was applied.
    offered_at: Option<Instant>,
    answered_at: Option<Instant>,
}

/// Events of one publisher connection.
struct Handler {
    conn: u64,
    user_id: String,
    hub: Weak<RoomMedia>,
    gathered: watch::Sender<bool>,
    session: Weak<MediaSession>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        debug!(user = %self.user_id, conn = self.conn, ?state, "publisher connection");
        let Some(session) = self.session.upgrade() else {
            return;
        };
        let link = LinkState::from_rtc(state);
        if session.publisher_id.load(Ordering::Relaxed) == self.conn {
            if link == LinkState::Connected {
                session.publisher_connected.store(true, Ordering::Relaxed);
            }
            let up = match link {
                LinkState::Connected => true,
                LinkState::Disconnected | LinkState::Failed => false,
                LinkState::Connecting => return,
            };
            if session.publisher_up.swap(up, Ordering::Relaxed) != up {
                if let Some(hub) = self.hub.upgrade() {
                    hub.notify(MediaNotice::PublisherLink {
                        user_id: self.user_id.clone(),
                        up,
                    });
                }
            }
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        let Some(kind) = StreamKind::from_track_id(&track.track_id().await) else {
            warn!(user = %self.user_id, "ignoring a track with an unknown id");
            return;
        };
        let Some(ssrc) = track.ssrcs().await.first().copied() else {
            return;
        };
        let publication = hub.add_publication(&self.user_id, kind, Arc::clone(&track), ssrc);
        debug!(user = %self.user_id, ?kind, ssrc, allowed = publication.allowed.load(Ordering::Relaxed), "publication");
        let metrics = Arc::clone(&hub.config().metrics);
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(mut packet) => {
                        metrics.received.add(packet.marshal_size());
                        // Refused streams (audience, a second sharer) stop here. No subscriber
                        // yet is not an error.
                        if publication.allowed.load(Ordering::Relaxed) {
                            // Extension ids are per connection: the publisher's (its
                            // transport-wide sequence numbers, its mid) mean something else,
                            // or nothing, on a subscriber's. Dropped here, once, every
                            // subscriber's copy of the packet is allocation-free; our capture
                            // time rides in the RTP timestamp, so nothing is lost.
                            packet.header.extension = false;
                            packet.header.extensions = Vec::new();
                            packet.header.extension_profile = 0;
                            packet.header.extensions_padding = 0;
                            let _ = publication.packets.send(packet);
                        }
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
            hub.remove_publication(&publication);
        });
    }
}

impl MediaSession {
    pub(crate) fn new(user_id: &str, hub: Weak<RoomMedia>) -> Arc<MediaSession> {
        Arc::new(MediaSession {
            user_id: user_id.to_owned(),
            hub,
            outbox: parking_lot::Mutex::new(None),
            publisher: tokio::sync::Mutex::new(None),
            subscriber: tokio::sync::Mutex::new(Subscriber::default()),
            by_ssrc: Arc::default(),
            subscriber_connected: AtomicBool::new(false),
            subscriber_strikes: AtomicU32::new(0),
            publisher_connected: AtomicBool::new(false),
            publisher_id: AtomicU64::new(0),
            subscriber_id: AtomicU64::new(0),
            // Nothing is hidden before the first connection: a new publisher is announced at
            // once, as before there was link tracking; only a lost link hides it.
            publisher_up: AtomicBool::new(true),
        })
    }

    pub(crate) fn set_outbox(&self, outbox: mpsc::Sender<ServerMessage>) {
        *self.outbox.lock() = Some(outbox.downgrade());
    }

    pub(crate) fn send(&self, msg: ServerMessage) {
        let outbox = self
            .outbox
            .lock()
            .as_ref()
            .and_then(mpsc::WeakSender::upgrade);
        if let Some(outbox) = outbox {
            // A full outbox means the client is not reading; the room detaches it and the
            // client renegotiates after resuming.
            let _ = outbox.try_send(msg);
        }
    }

    async fn connect_publisher(self: &Arc<Self>) -> Result<PublisherConn, TransportError> {
        let hub = self.hub.upgrade().ok_or("the room has ended")?;
        let (gathered_tx, gathered) = watch::channel(false);
        let id = next_conn_id();
        // Registered before the connection exists, so none of its events is mistaken for a
        // replaced connection's.
        self.publisher_id.store(id, Ordering::Relaxed);
        self.publisher_connected.store(false, Ordering::Relaxed);
        let handler = Arc::new(Handler {
            conn: id,
            user_id: self.user_id.clone(),
            hub: self.hub.clone(),
            gathered: gathered_tx,
            session: Arc::downgrade(self),
        });
        let pc = new_peer_connection(hub.config(), handler).await?;
        tokio::spawn(watch_publisher(Arc::downgrade(self), id));
        Ok(PublisherConn {
            id,
            pc,
            gathered,
            remote_ufrag: None,
            _counted: hub.config().metrics.hold(Counted::PublisherConnection),
        })
    }

    async fn connect_subscriber(self: &Arc<Self>) -> Result<SubscriberLink, TransportError> {
        let hub = self.hub.upgrade().ok_or("the room has ended")?;
        let id = next_conn_id();
        self.subscriber_id.store(id, Ordering::Relaxed);
        let lanes = hub.config().lanes().await?;
        let (conn, mut links) = lanes.open(id, Arc::clone(&self.by_ssrc)).await?;
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(link) = links.recv().await {
                let Some(session) = me.upgrade() else { return };
                session.subscriber_link(id, link).await;
            }
        });
        tokio::spawn(watch_subscriber(Arc::downgrade(self), id));
        Ok(SubscriberLink {
            id,
            conn: Arc::new(conn),
            _counted: hub.config().metrics.hold(Counted::SubscriberConnection),
        })
    }

    /// Subscriber connection `id` changed state. Boxed for the same reason as
    /// [`Self::subscriber_stuck`]: a failed connection is rebuilt, which opens a new one whose
    /// state changes come here.
    fn subscriber_link(
        self: Arc<Self>,
        id: u64,
        link: LinkState,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move { self.on_subscriber_link(id, link).await })
    }

    async fn on_subscriber_link(self: &Arc<Self>, id: u64, link: LinkState) {
        if self.subscriber_id.load(Ordering::Relaxed) != id {
            return;
        }
        debug!(user = %self.user_id, conn = id, ?link, "subscriber connection");
        self.subscriber_connected
            .store(link == LinkState::Connected, Ordering::Relaxed);
        match link {
            LinkState::Connected => {
                self.subscriber_strikes.store(0, Ordering::Relaxed);
                self.request_keyframes().await
            }
            LinkState::Failed => {
                // The client cannot offer this connection again; only a new one helps.
                let me = Arc::clone(self);
                tokio::spawn(async move { me.rebuild_subscriber().await });
            }
            _ => {}
        }
    }

    /// The client's publisher offer: answer it, on a new connection the first time and
    /// whenever the offer comes from a new client connection.
    pub async fn publish_offer(self: &Arc<Self>, sdp: String) -> Result<String, TransportError> {
        let ufrag = ice_ufrag(&sdp).map(str::to_owned);
        let mut publisher = self.publisher.lock().await;
        if let Some(old) =
            publisher.take_if(|c| c.remote_ufrag.is_some() && c.remote_ufrag != ufrag)
        {
            debug!(user = %self.user_id, conn = old.id, "publisher connection replaced");
            // Its tracks end, and with them its publications.
            let _ = old.pc.close().await;
        }
        if publisher.is_none() {
            *publisher = Some(self.connect_publisher().await?);
        }
        let conn = publisher.as_mut().ok_or("no publisher connection")?;
        let answer = answer_offer(&conn.pc, &mut conn.gathered, sdp).await?;
        conn.remote_ufrag = ufrag;
        Ok(self.advertised(&answer))
    }

    /// The client's answer to our last subscriber offer. An answer that cannot be applied
    /// leaves the connection with no usable description: it is rebuilt and offered afresh, so
    /// the member still receives whoever publishes.
    pub async fn subscribe_answer(self: &Arc<Self>, sdp: String) -> Result<(), TransportError> {
        let again = {
            let mut sub = self.subscriber.lock().await;
            let conn = sub.conn.as_ref().ok_or("no subscriber offer is out")?;
            if !sub.awaiting_answer {
                return Err("no subscriber offer is out".into());
            }
            if let Err(e) = conn.conn.answer(sdp).await {
                drop(sub);
                let me = Arc::clone(self);
                tokio::spawn(async move { me.rebuild_subscriber().await });
                return Err(e);
            }
            sub.awaiting_answer = false;
            sub.answered_at = Some(Instant::now());
            for f in sub.tracks.values() {
                f.negotiated.store(true, Ordering::Relaxed);
            }
            std::mem::take(&mut sub.dirty)
        };
        // Tracks added by renegotiation need a keyframe; on a new connection that waits for
        // it to connect.
        if self.subscriber_connected.load(Ordering::Relaxed) {
            self.request_keyframes().await;
        }
        if again {
            self.refresh_subscriptions().await;
        }
        Ok(())
    }

    /// Brings the subscriber connection in line with the room's publications and offers the
    /// change. One offer at a time: changes during an offer are folded into the next one.
    pub async fn refresh_subscriptions(self: &Arc<Self>) {
        if let Err(e) = self.try_refresh().await {
            warn!(user = %self.user_id, error = %e, "subscriber renegotiation failed");
        }
    }

    /// Drops the subscriber connection and offers a new one with everything to receive.
    pub(crate) async fn rebuild_subscriber(self: &Arc<Self>) {
        self.drop_subscriber().await;
        self.refresh_subscriptions().await;
    }

    /// The subscriber connection went unanswered or never connected. Boxed: rebuilding starts
    /// a new connection's watch, which calls this again, and a named future type breaks the
    /// cycle the compiler cannot see through.
    fn subscriber_stuck(self: Arc<Self>) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let strikes = self.subscriber_strikes.fetch_add(1, Ordering::Relaxed) + 1;
            if strikes < MAX_STRIKES {
                debug!(user = %self.user_id, strikes, "subscriber connection never worked; offering a new one");
                self.rebuild_subscriber().await;
            } else {
                // The next change (a publication, a resumption) offers again from scratch.
                info!(user = %self.user_id, strikes, "subscriber connections keep failing; closed until something changes");
                self.subscriber_strikes.store(0, Ordering::Relaxed);
                self.drop_subscriber().await;
            }
        })
    }

    /// Closes the subscriber connection and forgets what it carried.
    async fn drop_subscriber(&self) {
        {
            let mut sub = self.subscriber.lock().await;
            let old = sub.conn.take();
            for (_, f) in sub.tracks.drain() {
                self.by_ssrc.lock().remove(&f.ssrc);
            }
            sub.awaiting_answer = false;
            sub.dirty = false;
            sub.offered_at = None;
            sub.answered_at = None;
            self.subscriber_connected.store(false, Ordering::Relaxed);
            self.subscriber_id.store(0, Ordering::Relaxed);
            if let Some(old) = old {
                debug!(user = %self.user_id, conn = old.id, "subscriber connection rebuilt");
                old.conn.close().await;
            }
        }
    }

    /// After a resumption: a subscriber that is not connected is rebuilt; an offer the client
    /// may have missed while away is sent again.
    pub(crate) async fn resumed(self: &Arc<Self>) {
        let pending_offer = {
            let sub = self.subscriber.lock().await;
            match &sub.conn {
                None => return,
                Some(_) if !self.subscriber_connected.load(Ordering::Relaxed) => None,
                Some(conn) if sub.awaiting_answer => Some(conn.conn.local_description().await),
                Some(_) => return,
            }
        };
        match pending_offer {
            Some(Some(sdp)) => {
                let sdp = self.advertised(&sdp);
                self.subscriber.lock().await.offered_at = Some(Instant::now());
                self.send(ServerMessage::SubscribeOffer { sdp });
            }
            _ => self.rebuild_subscriber().await,
        }
    }

    async fn try_refresh(self: &Arc<Self>) -> Result<(), TransportError> {
        let Some(hub) = self.hub.upgrade() else {
            return Ok(());
        };
        let mut sub = self.subscriber.lock().await;
        if sub.awaiting_answer {
            sub.dirty = true;
            return Ok(());
        }
        let wanted: HashMap<(String, StreamKind), Arc<Publication>> = hub
            .publications_for(&self.user_id)
            .into_iter()
            .map(|p| ((p.user_id.clone(), p.kind), p))
            .collect();
        let stale: Vec<(String, StreamKind)> = sub
            .tracks
            .iter()
            .filter(|(k, f)| {
                !wanted
                    .get(*k)
                    .is_some_and(|p| Arc::ptr_eq(p, &f.publication))
            })
            .map(|(k, _)| k.clone())
            .collect();
        let fresh: Vec<Arc<Publication>> = wanted
            .iter()
            .filter(|(k, _)| !sub.tracks.contains_key(*k) || stale.contains(k))
            .map(|(_, p)| Arc::clone(p))
            .collect();
        if stale.is_empty() && fresh.is_empty() {
            return Ok(());
        }
        if sub.conn.is_none() {
            sub.conn = Some(self.connect_subscriber().await?);
        }
        let conn = sub
            .conn
            .as_ref()
            .map(|c| Arc::clone(&c.conn))
            .ok_or("no connection")?;
        for key in stale {
            // Dropping it removes the track.
            if let Some(f) = sub.tracks.remove(&key) {
                self.by_ssrc.lock().remove(&f.ssrc);
            }
        }
        for publication in fresh {
            let forward = forward(&conn, publication, &self.by_ssrc).await?;
            let key = (
                forward.publication.user_id.clone(),
                forward.publication.kind,
            );
            sub.tracks.insert(key, forward);
        }
        let offer = conn.offer().await?;
        sub.awaiting_answer = true;
        sub.offered_at = Some(Instant::now());
        debug!(user = %self.user_id, tracks = sub.tracks.len(), "subscriber offer");
        let sdp = self.advertised(&offer);
        self.send(ServerMessage::SubscribeOffer { sdp });
        Ok(())
    }

    /// Our SDP as clients must see it: host candidates with the configured public address.
    fn advertised(&self, sdp: &str) -> String {
        let public_ip = self.hub.upgrade().and_then(|h| h.config().public_ip);
        crate::setup::advertise(sdp, public_ip)
    }

    /// Asks every publisher this member receives video from for a keyframe.
    async fn request_keyframes(&self) {
        let publications: Vec<Arc<Publication>> = {
            let sub = self.subscriber.lock().await;
            sub.tracks
                .values()
                .map(|f| Arc::clone(&f.publication))
                .collect()
        };
        for p in publications {
            p.request_keyframe().await;
        }
    }

    /// Ends both connections; returns how many there were.
    pub(crate) async fn close(&self) -> usize {
        let mut closed = 0;
        if let Some(conn) = self.publisher.lock().await.take() {
            let _ = conn.pc.close().await;
            closed += 1;
        }
        let mut sub = self.subscriber.lock().await;
        sub.tracks.clear();
        if let Some(conn) = sub.conn.take() {
            conn.conn.close().await;
            closed += 1;
        }
        closed
    }
}

/// Rebuilds (or, after [`MAX_STRIKES`], closes) subscriber connection `id` if an offer goes
/// unanswered or an answered connection never connects; ends with the connection.
async fn watch_subscriber(session: Weak<MediaSession>, id: u64) {
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let Some(s) = session.upgrade() else { return };
        if s.subscriber_id.load(Ordering::Relaxed) != id {
            return;
        }
        let stuck = {
            let sub = s.subscriber.lock().await;
            let waited = |t: Option<Instant>, limit| t.is_some_and(|t| t.elapsed() >= limit);
            if sub.awaiting_answer {
                waited(sub.offered_at, ANSWER_DEADLINE)
            } else {
                !s.subscriber_connected.load(Ordering::Relaxed)
                    && waited(sub.answered_at, CONNECT_DEADLINE)
            }
        };
        if stuck {
            s.subscriber_stuck().await;
            return;
        }
    }
}

/// Closes publisher connection `id` if it has not connected within the ICE timeout; the client
/// rebuilds its own side and offers a new one.
async fn watch_publisher(session: Weak<MediaSession>, id: u64) {
    tokio::time::sleep(CONNECT_DEADLINE).await;
    let Some(s) = session.upgrade() else { return };
    if s.publisher_id.load(Ordering::Relaxed) != id || s.publisher_connected.load(Ordering::Relaxed)
    {
        return;
    }
    let mut publisher = s.publisher.lock().await;
    if let Some(conn) = publisher.take_if(|c| c.id == id) {
        debug!(user = %s.user_id, conn = id, "publisher connection never connected; closed");
        let _ = conn.pc.close().await;
    }
}
