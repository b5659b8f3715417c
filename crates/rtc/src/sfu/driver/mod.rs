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
use super::metrics::SfuMetrics;
use crate::setup::{err, LinkState, TransportError};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::certificate::RTCCertificate;
use rtc::rtp_transceiver::RTCRtpSenderId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{trace, warn};

mod engine;
pub(crate) mod wire;

use engine::{Engine, Fanout, Target};
use wire::{bind, certificate, IdMap, Sockets};

/// Receive buffer: larger than any datagram a client sends (RTCP, STUN, DTLS).
const DATAGRAM: usize = 2048;

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
    pub(crate) fn start(
        config: &super::MediaConfig,
        main: tokio::runtime::Handle,
    ) -> Result<Lanes, TransportError> {
        let count = std::thread::available_parallelism().map_or(1, |n| n.get());
        Lanes::start_with(config, main, count)
    }

    fn start_with(
        config: &super::MediaConfig,
        main: tokio::runtime::Handle,
        count: usize,
    ) -> Result<Lanes, TransportError> {
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
            sockets: Sockets::new(&sockets),
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
            let _ = reply.send(engine.borrow_mut().local_description(id));
        }
        Command::Close { id, reply } => {
            engine.borrow_mut().close(id);
            if let Some(reply) = reply {
                let _ = reply.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lanes;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    /// A room whose members all ask at once spreads over every lane: counted only once a
    /// connection was open, all of them landed on the first.
    #[tokio::test]
    async fn connections_asked_for_at_once_spread_over_the_lanes() {
        let config = crate::sfu::MediaConfig::default();
        let main = tokio::runtime::Handle::current();
        let lanes = tokio::task::spawn_blocking(move || Lanes::start_with(&config, main, 3))
            .await
            .unwrap()
            .map(Arc::new)
            .unwrap();
        let mut opening = tokio::task::JoinSet::new();
        for id in 0..30 {
            let lanes = Arc::clone(&lanes);
            opening.spawn(async move { lanes.open(id, Arc::default()).await.map(|(c, _)| c) });
        }
        let mut conns = Vec::new();
        while let Some(opened) = opening.join_next().await {
            conns.push(opened.unwrap().unwrap());
        }
        let loads: Vec<usize> = lanes
            .lanes
            .iter()
            .map(|l| l.load.load(Ordering::Relaxed))
            .collect();
        assert_eq!(loads, [10, 10, 10]);
        drop(conns);
        let loads: Vec<usize> = lanes
            .lanes
            .iter()
            .map(|l| l.load.load(Ordering::Relaxed))
            .collect();
        assert_eq!(loads, [0, 0, 0], "a closed connection gives its place back");
    }
}
