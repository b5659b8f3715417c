//! A lane's state: its connections' sans-I/O cores, which publication goes to whom, and what
//! each input makes them do.

use super::wire::{host_candidate, stun_ufrag, IdMap, Sockets};
use crate::setup::{err, keyframe_requests, LinkState, TransportError};
use crate::sfu::forward::BySsrc;
use crate::sfu::metrics::{nacked_packets, SfuMetrics};
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
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{debug, trace};

/// The longest a lane sleeps without looking at its connections' timers again: a timer armed
/// by a forwarded write (which does not recompute deadlines) waits at most this.
const TIMER_SLACK: Duration = Duration::from_millis(200);
/// A deadline a connection reports as already past right after handling it is taken as this
/// far ahead, so a stale timer cannot spin the lane.
const MIN_TIMER_STEP: Duration = Duration::from_millis(1);

/// One lane's connections and the publications they forward.
pub(super) struct Engine {
    /// Every public method ends by sending what it queued here, so the datagrams one input
    /// caused (a forwarded packet's copies for every subscriber) leave together.
    pub(super) sockets: Sockets,
    pub(super) conns: IdMap<u64, Conn>,
    /// Where datagrams from an address go, learnt from the ICE checks that came from it.
    pub(super) by_addr: HashMap<SocketAddr, u64>,
    /// Our ICE ufrag of each connection, for a check from an address not seen yet.
    pub(super) by_ufrag: HashMap<String, u64>,
    /// Publication (its address) → the subscribers on this lane that receive it.
    pub(super) fanouts: IdMap<usize, Fanout>,
    pub(super) certificate: RTCCertificate,
    pub(super) metrics: Arc<SfuMetrics>,
    /// The server's runtime: keyframe requests are made there.
    pub(super) main: tokio::runtime::Handle,
    pub(super) loopback: bool,
    /// When every connection's deadline was last asked for.
    pub(super) last_sweep: Instant,
}

pub(super) struct Conn {
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

pub(super) struct Fanout {
    pub(super) targets: Vec<Target>,
    pump: tokio::task::JoinHandle<()>,
}

impl Fanout {
    pub(super) fn new(pump: tokio::task::JoinHandle<()>) -> Fanout {
        Fanout {
            targets: Vec::new(),
            pump,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.targets.len()
    }
}

impl Drop for Fanout {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

pub(super) struct Target {
    pub(super) conn: u64,
    pub(super) sender: RTCRtpSenderId,
    pub(super) ssrc: u32,
    /// The subscriber has applied an offer carrying the track.
    pub(super) negotiated: Arc<AtomicBool>,
}

impl Engine {
    pub(super) fn open(
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
                crate::setup::Ice::Lite,
            ))
            .with_interceptor_registry(registry)
            .build(now)
            .map_err(err)?;
        for addr in self.sockets.addrs() {
            pc.add_local_candidate(host_candidate(addr)?).map_err(err)?;
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
        self.sockets.flush(&self.metrics);
        Ok(())
    }

    pub(super) fn add_track(
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

    pub(super) fn remove_track(&mut self, id: u64, sender: RTCRtpSenderId) {
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
        self.sockets.flush(&self.metrics);
    }

    pub(super) fn offer(&mut self, id: u64, now: Instant) -> Result<String, TransportError> {
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
        self.sockets.flush(&self.metrics);
        Ok(sdp)
    }

    /// The SDP last set locally.
    pub(super) fn local_description(&mut self, id: u64) -> Option<String> {
        self.conns
            .get_mut(&id)
            .and_then(|c| c.pc.local_description())
            .map(|d| d.sdp)
    }

    pub(super) fn answer(
        &mut self,
        id: u64,
        sdp: String,
        now: Instant,
    ) -> Result<(), TransportError> {
        let conn = self.conns.get_mut(&id).ok_or("no such connection")?;
        let answer = RTCSessionDescription::answer(sdp).map_err(err)?;
        let applied = conn.pc.set_remote_description(now, answer).map_err(err);
        self.service(id);
        self.sockets.flush(&self.metrics);
        applied
    }

    pub(super) fn close(&mut self, id: u64) {
        let Some(mut conn) = self.conns.remove(&id) else {
            return;
        };
        let _ = conn.pc.close();
        self.sockets.collect(&mut conn.pc);
        self.sockets.flush(&self.metrics);
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

    pub(super) fn close_all(&mut self) {
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
    }

    /// One publication's packet into each subscriber on this lane that can take it.
    pub(super) fn forward(&mut self, key: usize, packet: &rtc::rtp::Packet) {
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
            self.sockets.collect(&mut conn.pc);
        }
        self.sockets.flush(&self.metrics);
    }

    /// A datagram from `peer` to our `local` address.
    pub(super) fn receive(&mut self, local: SocketAddr, peer: SocketAddr, data: &[u8]) {
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
        self.sockets.flush(&self.metrics);
    }

    /// Everything a connection has to say after an input: datagrams (queued, for the caller
    /// to flush), state changes, the subscriber's RTCP, its next timer.
    fn service(&mut self, id: u64) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        self.sockets.collect(&mut conn.pc);
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
        self.sockets.collect(&mut conn.pc);
        conn.deadline = conn.pc.poll_timeout();
    }

    pub(super) fn next_deadline(&self, now: Instant) -> Instant {
        self.conns
            .values()
            .filter_map(|c| c.deadline)
            .fold(now + TIMER_SLACK, Instant::min)
    }

    pub(super) fn timeouts(&mut self, now: Instant) {
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
        self.sockets.flush(&self.metrics);
    }
}
