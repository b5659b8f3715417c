//! What a lane needs from the outside world, kept apart from its logic: sockets and their
//! addresses, the certificate, `sendmmsg`, and reading the ICE ufrag off a STUN check.

use crate::setup::{err, TransportError};
use crate::sfu::metrics::SfuMetrics;
use bytes::BytesMut;
use nix::sys::socket::{MultiHeaders, SockaddrStorage};
use rtc::peer_connection::certificate::RTCCertificate;
use rtc::peer_connection::RTCPeerConnection;
use rtc::sansio::Protocol;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::rc::Rc;
use tokio::net::UdpSocket;
use tracing::trace;

/// Datagrams per `sendmmsg`: one forwarded packet to up to this many subscribers per call.
const SEND_BATCH: usize = 64;

/// Connection ids are unique sequence numbers: spread by a multiply, not SipHash, which was a
/// measurable share of a lookup made per packet per subscriber.
#[derive(Default, Clone, Copy)]
pub(super) struct IdHasher(u64);

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

pub(super) type IdMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

/// The sockets a lane serves: one per address its candidates name. A wildcard bind becomes
/// one socket per interface address (a wildcard socket cannot tell which address a datagram
/// came to, and ICE needs to know), as the library's driver does.
pub(super) fn bind(config: &crate::sfu::MediaConfig) -> Result<Vec<StdUdpSocket>, TransportError> {
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
        let socket = crate::sfu::bind_udp(config, ip)?;
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
pub(super) fn certificate() -> Result<RTCCertificate, TransportError> {
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

/// A lane's sockets and the datagrams queued on each. Everything a lane sends goes through
/// [`Sockets::flush`]: one `sendmmsg` per socket per [`SEND_BATCH`] datagrams, with the
/// headers and addresses kept between calls so a forwarded packet allocates nothing here.
pub(super) struct Sockets {
    list: Vec<LaneSocket>,
    headers: MultiHeaders<SockaddrStorage>,
    addrs: Vec<Option<SockaddrStorage>>,
}

struct LaneSocket {
    addr: SocketAddr,
    socket: Rc<UdpSocket>,
    queue: Vec<(SocketAddr, BytesMut)>,
}

impl Sockets {
    pub(super) fn new(list: &[(SocketAddr, Rc<UdpSocket>)]) -> Sockets {
        Sockets {
            list: list
                .iter()
                .map(|(addr, socket)| LaneSocket {
                    addr: *addr,
                    socket: Rc::clone(socket),
                    queue: Vec::new(),
                })
                .collect(),
            headers: MultiHeaders::preallocate(SEND_BATCH, None),
            addrs: Vec::with_capacity(SEND_BATCH),
        }
    }

    pub(super) fn addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.list.iter().map(|s| s.addr)
    }

    /// Queues what a connection has to send, each datagram on the socket of the address it
    /// names (the first socket when it names none of ours).
    pub(super) fn collect(&mut self, pc: &mut RTCPeerConnection) {
        while let Some(out) = pc.poll_write() {
            let index = self
                .list
                .iter()
                .position(|s| s.addr == out.transport.local_addr)
                .unwrap_or(0);
            if let Some(s) = self.list.get_mut(index) {
                s.queue.push((out.transport.peer_addr, out.message));
            }
        }
    }

    /// Sends everything queued. A datagram the kernel refuses (a full buffer, an unreachable
    /// address) is counted as dropped, as it would be lost on the path, and the rest still go.
    pub(super) fn flush(&mut self, m: &SfuMetrics) {
        use nix::sys::socket::{sendmmsg, MsgFlags};
        use std::io::IoSlice;
        use std::os::fd::AsRawFd;
        for s in &mut self.list {
            let mut batch = &s.queue[..];
            while !batch.is_empty() {
                let n = batch.len().min(SEND_BATCH);
                let mut slices = [[IoSlice::new(&[])]; SEND_BATCH];
                self.addrs.clear();
                for (slot, (to, data)) in slices.iter_mut().zip(&batch[..n]) {
                    *slot = [IoSlice::new(data)];
                    self.addrs.push(Some(SockaddrStorage::from(*to)));
                }
                let sent = sendmmsg(
                    s.socket.as_raw_fd(),
                    &mut self.headers,
                    &slices[..n],
                    &self.addrs,
                    [],
                    MsgFlags::MSG_DONTWAIT,
                )
                .map_or(0, Iterator::count);
                // Past what was sent, the first datagram is the one the kernel refused.
                let skip = if sent == 0 {
                    SfuMetrics::count(&m.dropped, 1);
                    trace!(to = %batch[0].0, "media send refused");
                    1
                } else {
                    sent
                };
                batch = &batch[skip.min(batch.len())..];
            }
            s.queue.clear();
        }
    }
}

pub(super) fn host_candidate(
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
