//! The server's subscriber connections on a driver of our own: the media that fans out.
//!
//! A subscriber connection only sends, and the server holds one per member, so forwarding is
//! (packets × subscribers) of work. On the WebRTC library's driver each connection had its own
//! socket and task: a forwarded packet went from the publication's channel through a task per
//! forwarded track into a channel per connection, woke that connection's task, went through the
//! library's write queues and left with its own `sendmsg` (docs/benchmarks.md has the profile).
//! Here a few *lanes* (one thread each, as many as cores) each own many connections' sans-I/O
//! cores and one UDP socket per local address: a publication's packet reaches a lane once, and
//! the lane writes it into every subscriber's core and sends the encrypted copies itself, with
//! no task switch, lock or channel per subscriber. Incoming datagrams (ICE checks, DTLS,
//! receivers' RTCP) are demultiplexed by the sender's address, or, for a STUN check from an
//! address not seen yet, by the ICE username it carries.

use super::forward::BySsrc;
use super::hub::Publication;
use super::metrics::{nacked_packets, SfuMetrics};
use crate::setup::{err, keyframe_requests, LinkState, TransportError};
use bytes::BytesMut;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::certificate::RTCCertificate;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::RTCPeerConnection;
use rtc::rtp_transceiver::RTCRtpSenderId;
use rtc::sansio::Protocol;
use rtc::shared::marshal::MarshalSize;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, trace, warn};

/// The longest a lane sleeps without looking at its connections' timers again: a timer armed
/// by a forwarded write (which does not recompute deadlines) waits at most this.
const TIMER_SLACK: Duration = Duration::from_millis(200);
/// A deadline a connection reports as already past right after handling it is taken as this
/// far ahead, so a stale timer cannot spin the lane.
const MIN_TIMER_STEP: Duration = Duration::from_millis(1);
/// Receive buffer: larger than any datagram a client sends (RTCP, STUN, DTLS).
const DATAGRAM: usize = 2048;
/// Datagrams per `sendmmsg`: one forwarded packet to up to this many subscribers per call.
const SEND_BATCH: usize = 64;

/// Connection ids are unique sequence numbers: spread by a multiply, not SipHash, which was a
/// measurable share of a lookup made per packet per subscriber.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

type IdMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

/// The lanes of one server, and where subscriber connections are opened.
#[derive(Debug)]
pub(crate) struct Lanes {
    lanes: Vec<Lane>,
}

#[derive(Debug)]
struct Lane {
    commands: mpsc::UnboundedSender<Command>,
    /// Connections on this lane now; a new one goes to the least loaded lane.
    load: Arc<AtomicUsize>,
}

impl Lanes {
    /// Binds each lane's sockets per `config` and starts its thread.
    pub(crate) fn start(config: &super::MediaConfig) -> Result<Lanes, TransportError> {
        let count = std::thread::available_parallelism().map_or(1, |n| n.get());
        let main = tokio::runtime::Handle::try_current().map_err(err)?;
        let certificate = certificate()?;
        let mut lanes = Vec::with_capacity(count);
        for index in 0..count {
            let sockets = bind(config)?;
            let (commands, rx) = mpsc::unbounded_channel();
            let load = Arc::new(AtomicUsize::new(0));
            let engine = EngineSetup {
                sockets,
                certificate: certificate.clone(),
                metrics: Arc::clone(&config.metrics),
                main: main.clone(),
                loopback: config.bind_ip.is_loopback(),
            };
            std::thread::Builder::new()
                .name(format!("sfu-lane-{index}"))
                .spawn(move || run_lane(engine, rx))
                .map_err(err)?;
            lanes.push(Lane { commands, load });
        }
        Ok(Lanes { lanes })
    }

    /// A new subscriber connection, numbered `id`: its link changes arrive on the receiver.
    pub(crate) async fn open(
        &self,
        id: u64,
        by_ssrc: BySsrc,
    ) -> Result<(SubscriberConn, mpsc::UnboundedReceiver<LinkState>), TransportError> {
        let lane = self
            .lanes
            .iter()
            .min_by_key(|l| l.load.load(Ordering::Relaxed))
            .ok_or("no media lane")?;
        let (events, events_rx) = mpsc::unbounded_channel();
        let (reply, answer) = oneshot::channel();
        // Counted before it exists: a room joining at once must not all land on one lane.
        // The handle gives it back however the opening ends.
        lane.load.fetch_add(1, Ordering::Relaxed);
        let conn = SubscriberConn {
            id,
            commands: lane.commands.clone(),
            load: Arc::clone(&lane.load),
        };
        send(
            &lane.commands,
            Command::Open {
                id,
                events,
                by_ssrc,
                reply,
            },
        )?;
        answer.await.map_err(|_| "the media lane has stopped")??;
        Ok((conn, events_rx))
    }
}

fn send(commands: &mpsc::UnboundedSender<Command>, c: Command) -> Result<(), TransportError> {
    commands
        .send(c)
        .map_err(|_| TransportError::from("the media lane has stopped"))
}

/// One subscriber connection on a lane. Dropping it closes the connection.
#[derive(Debug)]
pub(crate) struct SubscriberConn {
    id: u64,
    commands: mpsc::UnboundedSender<Command>,
    load: Arc<AtomicUsize>,
}

impl SubscriberConn {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, TransportError> {
        let (reply, answer) = oneshot::channel();
        send(&self.commands, make(reply))?;
        answer
            .await
            .map_err(|_| TransportError::from("the media lane has stopped"))
    }

    /// Sends `publication` on this connection as `track` (its SSRC `ssrc`), once the connection
    /// is up and `negotiated` says the subscriber has applied an offer carrying it.
    pub(crate) async fn add_track(
        &self,
        track: MediaStreamTrack,
        publication: Arc<Publication>,
        ssrc: u32,
        negotiated: Arc<AtomicBool>,
    ) -> Result<RTCRtpSenderId, TransportError> {
        let id = self.id;
        self.ask(|reply| Command::AddTrack {
            id,
            track: Box::new(track),
            publication,
            ssrc,
            negotiated,
            reply,
        })
        .await?
    }

    /// Stops sending a track (the next offer drops it).
    pub(crate) fn remove_track(&self, sender: RTCRtpSenderId) {
        let _ = send(
            &self.commands,
            Command::RemoveTrack {
                id: self.id,
                sender,
            },
        );
    }

    /// Creates an offer of everything added, sets it locally and returns its SDP.
    pub(crate) async fn offer(&self) -> Result<String, TransportError> {
        let id = self.id;
        self.ask(|reply| Command::Offer { id, reply }).await?
    }

    /// Applies the subscriber's answer.
    pub(crate) async fn answer(&self, sdp: String) -> Result<(), TransportError> {
        let id = self.id;
        self.ask(|reply| Command::Answer { id, sdp, reply }).await?
    }

    /// The SDP last set locally (the outstanding offer while one is out).
    pub(crate) async fn local_description(&self) -> Option<String> {
        let id = self.id;
        self.ask(|reply| Command::LocalDescription { id, reply })
            .await
            .ok()
            .flatten()
    }

    /// Closes the connection (the client hears DTLS close_notify) and waits until it is gone.
    pub(crate) async fn close(&self) {
        let id = self.id;
        let _ = self
            .ask(|reply| Command::Close {
                id,
                reply: Some(reply),
            })
            .await;
    }
}

impl Drop for SubscriberConn {
    fn drop(&mut self) {
        let _ = send(
            &self.commands,
            Command::Close {
                id: self.id,
                reply: None,
            },
        );
        self.load.fetch_sub(1, Ordering::Relaxed);
    }
}

enum Command {
    Open {
        id: u64,
        events: mpsc::UnboundedSender<LinkState>,
        by_ssrc: BySsrc,
        reply: oneshot::Sender<Result<(), TransportError>>,
    },
    AddTrack {
        id: u64,
        track: Box<MediaStreamTrack>,
        publication: Arc<Publication>,
        ssrc: u32,
        negotiated: Arc<AtomicBool>,
        reply: oneshot::Sender<Result<RTCRtpSenderId, TransportError>>,
    },
    RemoveTrack {
        id: u64,
        sender: RTCRtpSenderId,
    },
    Offer {
        id: u64,
        reply: oneshot::Sender<Result<String, TransportError>>,
    },
    Answer {
        id: u64,
        sdp: String,
        reply: oneshot::Sender<Result<(), TransportError>>,
    },
    LocalDescription {
        id: u64,
        reply: oneshot::Sender<Option<String>>,
    },
    Close {
        id: u64,
        reply: Option<oneshot::Sender<()>>,
    },
}

/// The sockets a lane serves: one per address its candidates name. A wildcard bind becomes
/// one socket per interface address (a wildcard socket cannot tell which address a datagram
/// came to, and ICE needs to know), as the library's driver does.
fn bind(config: &super::MediaConfig) -> Result<Vec<StdUdpSocket>, TransportError> {
    let ips = if config.bind_ip.is_unspecified() {
        let ips: Vec<std::net::IpAddr> = rtc::shared::ifaces::ifaces()
            .map_err(err)?
            .into_iter()
            .filter_map(|i| i.addr.map(|a| a.ip()))
            .filter(|ip| {
                ip.is_ipv4() == config.bind_ip.is_ipv4()
                    && !ip.is_loopback()
                    && !ip.is_unspecified()
                    && !is_link_local(ip)
            })
            .collect();
        if ips.is_empty() {
            vec![config.bind_ip]
        } else {
            ips
        }
    } else {
        vec![config.bind_ip]
    };
    let mut sockets = Vec::with_capacity(ips.len());
    for ip in ips {
        let socket = super::bind_udp(config, ip)?;
        socket.set_nonblocking(true).map_err(err)?;
        sockets.push(socket);
    }
    Ok(sockets)
}

fn is_link_local(ip: &std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_link_local(),
        std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// One DTLS certificate per server: a fresh key pair per connection costs a join time and buys
/// nothing, since clients pin the fingerprint the SDP carries either way.
fn certificate() -> Result<RTCCertificate, TransportError> {
    use rtc::peer_connection::certificate::CertificateParams;
    let provider = rtc::crypto::default_provider().map_err(err)?;
    let params = CertificateParams::new(vec!["trtc-room-server".to_owned()]).map_err(err)?;
    RTCCertificate::generate(
        provider.crypto(),
        rtc::crypto::SignatureScheme::EcdsaP256Sha256,
        params,
    )
    .map_err(err)
}

struct EngineSetup {
    sockets: Vec<StdUdpSocket>,
    certificate: RTCCertificate,
    metrics: Arc<SfuMetrics>,
    main: tokio::runtime::Handle,
    loopback: bool,
}

fn run_lane(setup: EngineSetup, commands: mpsc::UnboundedReceiver<Command>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            warn!(error = %e, "a media lane could not start");
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let mut sockets = Vec::with_capacity(setup.sockets.len());
        for s in setup.sockets {
            let addr = s.local_addr();
            match (addr, UdpSocket::from_std(s)) {
                (Ok(addr), Ok(s)) => sockets.push((addr, Rc::new(s))),
                (Err(e), _) | (_, Err(e)) => warn!(error = %e, "a media socket is unusable"),
            }
        }
        let engine = Rc::new(RefCell::new(Engine {
            sockets: sockets.clone(),
            outgoing: Vec::new(),
            conns: IdMap::default(),
            by_addr: HashMap::new(),
            by_ufrag: HashMap::new(),
            fanouts: IdMap::default(),
            certificate: setup.certificate,
            metrics: setup.metrics,
            main: setup.main,
            loopback: setup.loopback,
            last_sweep: Instant::now(),
        }));
        for (addr, socket) in sockets {
            tokio::task::spawn_local(read_loop(Rc::clone(&engine), socket, addr));
        }
        command_loop(&engine, commands).await;
        engine.borrow_mut().close_all();
    });
}

/// Commands and timers, until every handle to the lane is gone.
async fn command_loop(
    engine: &Rc<RefCell<Engine>>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    loop {
        let deadline = engine.borrow().next_deadline(Instant::now());
        tokio::select! {
            c = commands.recv() => match c {
                Some(c) => command(engine, c),
                None => return,
            },
            _ = tokio::time::sleep_until(deadline.into()) => {
                engine.borrow_mut().timeouts(Instant::now());
            }
        }
    }
}

async fn read_loop(engine: Rc<RefCell<Engine>>, socket: Rc<UdpSocket>, local: SocketAddr) {
    let mut buf = vec![0u8; DATAGRAM];
    loop {
        if socket.readable().await.is_err() {
            return;
        }
        loop {
            match socket.try_recv_from(&mut buf) {
                Ok((n, peer)) => engine.borrow_mut().receive(local, peer, &buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    trace!(error = %e, "media socket");
                    break;
                }
            }
        }
    }
}

/// A publication's packets into every subscriber of it on this lane.
async fn pump(
    engine: Rc<RefCell<Engine>>,
    key: usize,
    publication: Arc<Publication>,
    mut packets: broadcast::Receiver<rtc::rtp::Packet>,
) {
    loop {
        match packets.recv().await {
            Ok(packet) => engine.borrow_mut().forward(key, &packet),
            Err(broadcast::error::RecvError::Lagged(skipped)) => {
                let targets = engine.borrow().fanouts.get(&key).map_or(0, |f| f.len());
                SfuMetrics::count(&publication.metrics.dropped, skipped * targets as u64);
                let p = Arc::clone(&publication);
                engine
                    .borrow()
                    .main
                    .spawn(async move { p.request_keyframe().await });
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
    engine.borrow_mut().fanouts.remove(&key);
}

fn command(engine: &Rc<RefCell<Engine>>, c: Command) {
    let now = Instant::now();
    match c {
        Command::Open {
            id,
            events,
            by_ssrc,
            reply,
        } => {
            let opened = engine.borrow_mut().open(id, events, by_ssrc, now);
            let _ = reply.send(opened);
        }
        Command::AddTrack {
            id,
            track,
            publication,
            ssrc,
            negotiated,
            reply,
        } => {
            let key = Arc::as_ptr(&publication) as usize;
            let mut e = engine.borrow_mut();
            let added = e.add_track(id, *track, key);
            if added.is_ok() && !e.fanouts.contains_key(&key) {
                let packets = publication.packets.subscribe();
                let task =
                    tokio::task::spawn_local(pump(Rc::clone(engine), key, publication, packets));
                e.fanouts.insert(key, Fanout::new(task));
            }
            if let (Ok(sender), Some(f)) = (&added, e.fanouts.get_mut(&key)) {
                f.targets.push(Target {
                    conn: id,
                    sender: *sender,
                    ssrc,
                    negotiated,
                });
            }
            let _ = reply.send(added);
        }
        Command::RemoveTrack { id, sender } => engine.borrow_mut().remove_track(id, sender),
        Command::Offer { id, reply } => {
            let _ = reply.send(engine.borrow_mut().offer(id, now));
        }
        Command::Answer { id, sdp, reply } => {
            let _ = reply.send(engine.borrow_mut().answer(id, sdp, now));
        }
        Command::LocalDescription { id, reply } => {
            let mut e = engine.borrow_mut();
            let sdp = e
                .conns
                .get_mut(&id)
                .and_then(|c| c.pc.local_description())
                .map(|d| d.sdp);
            let _ = reply.send(sdp);
        }
        Command::Close { id, reply } => {
            engine.borrow_mut().close(id);
            if let Some(reply) = reply {
                let _ = reply.send(());
            }
        }
    }
}

/// One lane's connections and the publications they forward.
struct Engine {
    sockets: Vec<(SocketAddr, Rc<UdpSocket>)>,
    /// A forwarded packet's encrypted copies, sent together.
    outgoing: Vec<Outgoing>,
    conns: IdMap<u64, Conn>,
    /// Where datagrams from an address go, learnt from the ICE checks that came from it.
    by_addr: HashMap<SocketAddr, u64>,
    /// Our ICE ufrag of each connection, for a check from an address not seen yet.
    by_ufrag: HashMap<String, u64>,
    /// Publication (its address) → the subscribers on this lane that receive it.
    fanouts: IdMap<usize, Fanout>,
    certificate: RTCCertificate,
    metrics: Arc<SfuMetrics>,
    /// The server's runtime: keyframe requests are made there.
    main: tokio::runtime::Handle,
    loopback: bool,
    /// When every connection's deadline was last asked for.
    last_sweep: Instant,
}

struct Conn {
    pc: RTCPeerConnection,
    ufrag: Option<String>,
    connected: bool,
    events: mpsc::UnboundedSender<LinkState>,
    by_ssrc: BySsrc,
    deadline: Option<Instant>,
    peers: Vec<SocketAddr>,
    /// Tracks this connection sends: which fanout, which sender.
    tracks: Vec<(usize, RTCRtpSenderId)>,
}

struct Outgoing {
    socket: usize,
    to: SocketAddr,
    data: BytesMut,
}

struct Fanout {
    targets: Vec<Target>,
    pump: tokio::task::JoinHandle<()>,
}

impl Fanout {
    fn new(pump: tokio::task::JoinHandle<()>) -> Fanout {
        Fanout {
            targets: Vec::new(),
            pump,
        }
    }

    fn len(&self) -> usize {
        self.targets.len()
    }
}

impl Drop for Fanout {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

struct Target {
    conn: u64,
    sender: RTCRtpSenderId,
    ssrc: u32,
    /// The subscriber has applied an offer carrying the track.
    negotiated: Arc<AtomicBool>,
}

impl Engine {
    fn open(
        &mut self,
        id: u64,
        events: mpsc::UnboundedSender<LinkState>,
        by_ssrc: BySsrc,
        now: Instant,
    ) -> Result<(), TransportError> {
        let mut engine = crate::setup::media_engine()?;
        let registry = crate::setup::interceptors(
            rtc::interceptor::Registry::new(),
            &mut engine,
            crate::setup::Flow::Sends,
        )?;
        let config = rtc::peer_connection::configuration::RTCConfigurationBuilder::new()
            .with_certificates(vec![self.certificate.clone()])
            .build();
        let mut pc = rtc::peer_connection::RTCPeerConnectionBuilder::new()
            .with_configuration(config)
            .with_media_engine(engine)
            .with_setting_engine(crate::setup::settings(
                self.loopback,
                crate::setup::AnswerAs::DtlsClient,
            ))
            .with_interceptor_registry(registry)
            .build(now)
            .map_err(err)?;
        for (addr, _) in &self.sockets {
            pc.add_local_candidate(host_candidate(*addr)?)
                .map_err(err)?;
        }
        // Every candidate is known: the offer is complete (no trickle).
        pc.add_local_candidate(Default::default()).map_err(err)?;
        self.conns.insert(
            id,
            Conn {
                pc,
                ufrag: None,
                connected: false,
                events,
                by_ssrc,
                deadline: None,
                peers: Vec::new(),
                tracks: Vec::new(),
            },
        );
        self.service(id);
        Ok(())
    }

    fn add_track(
        &mut self,
        id: u64,
        track: MediaStreamTrack,
        key: usize,
    ) -> Result<RTCRtpSenderId, TransportError> {
        let conn = self.conns.get_mut(&id).ok_or("no such connection")?;
        let sender = conn.pc.add_track(track).map_err(err)?;
        conn.tracks.push((key, sender));
        Ok(sender)
    }

    fn remove_track(&mut self, id: u64, sender: RTCRtpSenderId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let _ = conn.pc.remove_track(sender);
        conn.tracks.retain(|(key, s)| {
            if *s == sender {
                if let Some(f) = self.fanouts.get_mut(key) {
                    f.targets.retain(|t| !(t.conn == id && t.sender == sender));
                }
                false
            } else {
                true
            }
        });
        self.fanouts.retain(|_, f| !f.targets.is_empty());
        self.service(id);
    }

    fn offer(&mut self, id: u64, now: Instant) -> Result<String, TransportError> {
        let conn = self.conns.get_mut(&id).ok_or("no such connection")?;
        let offer = conn.pc.create_offer(None).map_err(err)?;
        conn.pc.set_local_description(now, offer).map_err(err)?;
        let sdp = conn
            .pc
            .local_description()
            .ok_or("no local description")?
            .sdp;
        if conn.ufrag.is_none() {
            if let Some(ufrag) = crate::setup::ice_ufrag(&sdp) {
                conn.ufrag = Some(ufrag.to_owned());
                self.by_ufrag.insert(ufrag.to_owned(), id);
            }
        }
        self.service(id);
        Ok(sdp)
    }

    fn answer(&mut self, id: u64, sdp: String, now: Instant) -> Result<(), TransportError> {
        let conn = self.conns.get_mut(&id).ok_or("no such connection")?;
        let answer = RTCSessionDescription::answer(sdp).map_err(err)?;
        let applied = conn.pc.set_remote_description(now, answer).map_err(err);
        self.service(id);
        applied
    }

    fn close(&mut self, id: u64) {
        let Some(mut conn) = self.conns.remove(&id) else {
            return;
        };
        let _ = conn.pc.close();
        send_writes(&mut conn.pc, &self.sockets, &self.metrics);
        for peer in &conn.peers {
            if self.by_addr.get(peer) == Some(&id) {
                self.by_addr.remove(peer);
            }
        }
        if let Some(ufrag) = &conn.ufrag {
            self.by_ufrag.remove(ufrag);
        }
        for (key, _) in &conn.tracks {
            if let Some(f) = self.fanouts.get_mut(key) {
                f.targets.retain(|t| t.conn != id);
            }
        }
        self.fanouts.retain(|_, f| !f.targets.is_empty());
    }

    fn close_all(&mut self) {
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
    }

    /// One publication's packet into each subscriber on this lane that can take it.
    fn forward(&mut self, key: usize, packet: &rtc::rtp::Packet) {
        let Some(fanout) = self.fanouts.get(&key) else {
            return;
        };
        let now = Instant::now();
        let size = packet.marshal_size();
        for target in &fanout.targets {
            let Some(conn) = self.conns.get_mut(&target.conn) else {
                continue;
            };
            // Before DTLS is up, or before the subscriber has applied an offer carrying the
            // track, a packet could only be dropped unseen (and be counted as forwarded).
            if !conn.connected || !target.negotiated.load(Ordering::Relaxed) {
                continue;
            }
            let mut copy = packet.clone();
            copy.header.ssrc = target.ssrc;
            let written = conn
                .pc
                .rtp_sender(target.sender)
                .map(|mut s| s.write_rtp(now, copy));
            match written {
                Some(Ok(())) => self.metrics.forwarded.add(size),
                Some(Err(e)) => {
                    SfuMetrics::count(&self.metrics.dropped, 1);
                    trace!(error = %e, "forward");
                }
                None => SfuMetrics::count(&self.metrics.dropped, 1),
            }
            while let Some(out) = conn.pc.poll_write() {
                let socket = self
                    .sockets
                    .iter()
                    .position(|(a, _)| *a == out.transport.local_addr)
                    .unwrap_or(0);
                self.outgoing.push(Outgoing {
                    socket,
                    to: out.transport.peer_addr,
                    data: out.message,
                });
            }
        }
        self.flush_outgoing();
    }

    /// Sends the batch [`Self::forward`] collected, one `sendmmsg` per socket and
    /// [`SEND_BATCH`] datagrams.
    fn flush_outgoing(&mut self) {
        for (index, (_, socket)) in self.sockets.iter().enumerate() {
            let mine: Vec<&Outgoing> = self.outgoing.iter().filter(|o| o.socket == index).collect();
            for chunk in mine.chunks(SEND_BATCH) {
                send_batch(socket, chunk, &self.metrics);
            }
        }
        self.outgoing.clear();
    }

    /// A datagram from `peer` to our `local` address.
    fn receive(&mut self, local: SocketAddr, peer: SocketAddr, data: &[u8]) {
        // A check names the connection by its ufrag: trusted over the address, which a
        // rebuilt client connection may reuse. The connection's ICE agent verifies it.
        let by_name = stun_ufrag(data).and_then(|u| self.by_ufrag.get(u).copied());
        let id = match by_name {
            Some(id) => {
                if self.by_addr.insert(peer, id) != Some(id) {
                    if let Some(c) = self.conns.get_mut(&id) {
                        c.peers.push(peer);
                    }
                }
                id
            }
            None => match self.by_addr.get(&peer) {
                Some(id) => *id,
                None => {
                    trace!(%peer, len = data.len(), "datagram for no connection");
                    return;
                }
            },
        };
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let message = TaggedBytesMut {
            now: Instant::now(),
            transport: TransportContext {
                local_addr: local,
                peer_addr: peer,
                transport_protocol: TransportProtocol::UDP,
                ecn: None,
            },
            message: BytesMut::from(data),
        };
        if let Err(e) = conn.pc.handle_read(message) {
            trace!(error = %e, "media datagram");
        }
        self.service(id);
    }

    /// Everything a connection has to say after an input: datagrams, state changes, the
    /// subscriber's RTCP, its next timer.
    fn service(&mut self, id: u64) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        send_writes(&mut conn.pc, &self.sockets, &self.metrics);
        while let Some(event) = conn.pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) = event {
                let link = LinkState::from_rtc(state);
                debug!(conn = id, ?state, "subscriber connection");
                conn.connected = link == LinkState::Connected;
                let _ = conn.events.send(link);
            }
        }
        while let Some(read) = conn.pc.poll_read() {
            if let RTCMessage::RtcpPacket(_, packets) = read.message {
                SfuMetrics::count(&self.metrics.nacked, nacked_packets(&packets));
                for wanted in keyframe_requests(&packets) {
                    let publication = conn.by_ssrc.lock().get(&wanted).cloned();
                    if let Some(p) = publication {
                        self.main.spawn(async move { p.request_keyframe().await });
                    }
                }
            }
        }
        send_writes(&mut conn.pc, &self.sockets, &self.metrics);
        conn.deadline = conn.pc.poll_timeout();
    }

    fn next_deadline(&self, now: Instant) -> Instant {
        self.conns
            .values()
            .filter_map(|c| c.deadline)
            .fold(now + TIMER_SLACK, Instant::min)
    }

    fn timeouts(&mut self, now: Instant) {
        // Every connection's deadline is refreshed now and then, since a forwarded write may
        // have armed one; not on every wake, which with hundreds of connections' ICE timers
        // would be most of the lane's idle work.
        let sweep = now.duration_since(self.last_sweep) >= TIMER_SLACK;
        if sweep {
            self.last_sweep = now;
        }
        let due: Vec<u64> = self
            .conns
            .iter_mut()
            .filter_map(|(id, c)| {
                if sweep {
                    c.deadline = c.pc.poll_timeout();
                }
                c.deadline.is_some_and(|d| d <= now).then_some(*id)
            })
            .collect();
        for id in due {
            if let Some(conn) = self.conns.get_mut(&id) {
                if let Err(e) = conn.pc.handle_timeout(now) {
                    trace!(error = %e, "media timer");
                }
            }
            self.service(id);
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.deadline = conn.deadline.map(|d| d.max(now + MIN_TIMER_STEP));
            }
        }
    }
}

/// Sends what a connection has queued, each datagram from the socket of the address it names.
fn send_writes(
    pc: &mut RTCPeerConnection,
    sockets: &[(SocketAddr, Rc<UdpSocket>)],
    m: &SfuMetrics,
) {
    while let Some(out) = pc.poll_write() {
        let socket = sockets
            .iter()
            .find(|(a, _)| *a == out.transport.local_addr)
            .or(sockets.first());
        let Some((_, socket)) = socket else {
            return;
        };
        if let Err(e) = socket.try_send_to(&out.message, out.transport.peer_addr) {
            // A full send buffer: the datagram is lost, as it would be on the path.
            SfuMetrics::count(&m.dropped, 1);
            trace!(error = %e, "media send");
        }
    }
}

/// `sendmmsg` for `batch`; a datagram the kernel refuses (a full buffer, an unreachable
/// address) is counted as dropped and the rest still go.
fn send_batch(socket: &UdpSocket, mut batch: &[&Outgoing], m: &SfuMetrics) {
    use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
    use std::io::IoSlice;
    use std::os::fd::AsRawFd;
    while !batch.is_empty() {
        let slices: Vec<[IoSlice<'_>; 1]> =
            batch.iter().map(|o| [IoSlice::new(&o.data)]).collect();
        let addrs: Vec<Option<SockaddrStorage>> = batch
            .iter()
            .map(|o| Some(SockaddrStorage::from(o.to)))
            .collect();
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(batch.len(), None);
        let sent = sendmmsg(
            socket.as_raw_fd(),
            &mut headers,
            &slices,
            &addrs,
            [],
            MsgFlags::MSG_DONTWAIT,
        )
        .map_or(0, Iterator::count);
        // Past what was sent, the first datagram is the one the kernel refused.
        let skip = if sent == 0 {
            SfuMetrics::count(&m.dropped, 1);
            trace!(to = %batch[0].to, "media send refused");
            1
        } else {
            sent
        };
        batch = &batch[skip.min(batch.len())..];
    }
}

fn host_candidate(
    addr: SocketAddr,
) -> Result<rtc::peer_connection::transport::RTCIceCandidateInit, TransportError> {
    use rtc::peer_connection::transport::{CandidateConfig, CandidateHostConfig, RTCIceCandidate};
    let candidate = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "udp".to_owned(),
            address: addr.ip().to_string(),
            port: addr.port(),
            component: 1,
            ..Default::default()
        },
        ..Default::default()
    }
    .new_candidate_host()
    .map_err(err)?;
    RTCIceCandidate::from(&candidate).to_json().map_err(err)
}

/// The recipient's ufrag of a STUN message's USERNAME (`ours:theirs` in a check sent to us), or
/// `None` for anything that is not a STUN message carrying one.
pub(crate) fn stun_ufrag(data: &[u8]) -> Option<&str> {
    const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
    const USERNAME: u16 = 0x0006;
    // RFC 7983: STUN starts 0-3 (DTLS 20-63, RTP and RTCP 128-191).
    if data.len() < 20 || data[0] > 3 || data[4..8] != MAGIC_COOKIE {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([data[2], data[3]]));
    let mut attrs = data.get(20..20 + length)?;
    while attrs.len() >= 4 {
        let typ = u16::from_be_bytes([attrs[0], attrs[1]]);
        let len = usize::from(u16::from_be_bytes([attrs[2], attrs[3]]));
        let value = attrs.get(4..4 + len)?;
        if typ == USERNAME {
            let name = std::str::from_utf8(value).ok()?;
            return name.split(':').next();
        }
        let padded = (4 + len + 3) & !3;
        attrs = attrs.get(padded..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::stun_ufrag;

    fn stun(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (typ, value) in attrs {
            body.extend_from_slice(&typ.to_be_bytes());
            body.extend_from_slice(&(value.len() as u16).to_be_bytes());
            body.extend_from_slice(value);
            while body.len() % 4 != 0 {
                body.push(0);
            }
        }
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(body.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn a_check_is_routed_by_our_ufrag() {
        let m = stun(&[(0x8022, b"agent"), (0x0006, b"srvUfrag:cliUfrag")]);
        assert_eq!(stun_ufrag(&m), Some("srvUfrag"));
    }

    #[test]
    fn other_datagrams_name_no_connection() {
        assert_eq!(stun_ufrag(&stun(&[(0x8022, b"agent")])), None);
        // DTLS and RTP start with bytes a STUN header cannot have.
        let mut dtls = stun(&[(0x0006, b"a:b")]);
        dtls[0] = 22;
        assert_eq!(stun_ufrag(&dtls), None);
        // A length beyond the datagram.
        let mut short = stun(&[(0x0006, b"a:b")]);
        short[3] = 200;
        assert_eq!(stun_ufrag(&short), None);
        assert_eq!(stun_ufrag(&[0; 10]), None);
    }
}
