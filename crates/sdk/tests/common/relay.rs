//! A UDP relay in front of the room server's media ports that impairs what passes: random
//! loss each way, every n-th RTP packet up, or a cut link. The impairment can change while a
//! call runs (`Relay::set`).
//!
//! The server's candidates say `RELAY_IP` (its `public_ip`); the relay listens there on the
//! server's ports and forwards to the server on 127.0.0.1 from a socket of its own per client,
//! so replies come back through it. (Loopback has no netem here, and a test must not touch
//! the machine's own network settings.)

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;

pub const RELAY_IP: [u8; 4] = [127, 0, 0, 2];
const RELAY_SIDE_IP: [u8; 4] = [127, 0, 0, 3];

/// What the relay does to datagrams now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Impairment {
    /// Share of datagrams lost, client → server and server → client (0.0–1.0).
    pub up_loss: f64,
    pub down_loss: f64,
    /// Drop every n-th RTP packet a client sends (RTCP, STUN and DTLS untouched).
    pub drop_every_rtp_up: Option<u64>,
    /// Nothing passes either way.
    pub cut: bool,
}

#[derive(Debug, Default)]
pub struct Counters {
    pub all_up: AtomicU64,
    pub rtp_up: AtomicU64,
    pub dropped: AtomicU64,
}

/// RTP (not RTCP, STUN or DTLS): version 2 and a payload type outside RTCP's 192–223.
pub fn is_rtp(b: &[u8]) -> bool {
    b.len() >= 12 && b[0] >> 6 == 2 && !(64..96).contains(&(b[1] & 0x7f))
}

struct State {
    impairment: Impairment,
    /// xorshift: the same losses for the same run of datagrams, no dependency.
    seed: u64,
}

impl State {
    fn chance(&mut self, p: f64) -> bool {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        (self.seed >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }
}

#[derive(Clone)]
pub struct Relay {
    state: Arc<Mutex<State>>,
    pub counters: Arc<Counters>,
}

impl Relay {
    /// Starts the relay on `RELAY_IP` for each of `ports`, passing everything.
    pub async fn start(ports: RangeInclusive<u16>) -> Relay {
        let relay = Relay {
            state: Arc::new(Mutex::new(State {
                impairment: Impairment::default(),
                seed: 0x9e37_79b9_7f4a_7c15,
            })),
            counters: Arc::default(),
        };
        for port in ports {
            let front = Arc::new(
                UdpSocket::bind((IpAddr::from(RELAY_IP), port))
                    .await
                    .expect("relay port free"),
            );
            let server = SocketAddr::from(([127, 0, 0, 1], port));
            tokio::spawn(relay.clone().up(front, server));
        }
        relay
    }

    pub fn set(&self, impairment: Impairment) {
        self.state.lock().unwrap().impairment = impairment;
    }

    /// Whether a datagram going up (`up`) passes now.
    fn passes(&self, up: bool, data: &[u8]) -> bool {
        let mut s = self.state.lock().unwrap();
        let i = s.impairment;
        let rtp_index = if up {
            self.counters.all_up.fetch_add(1, Ordering::Relaxed);
            is_rtp(data).then(|| self.counters.rtp_up.fetch_add(1, Ordering::Relaxed) + 1)
        } else {
            None
        };
        let lost = i.cut
            || s.chance(if up { i.up_loss } else { i.down_loss })
            || matches!((i.drop_every_rtp_up, rtp_index), (Some(n), Some(k)) if k % n == 0);
        if lost {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        !lost
    }

    async fn up(self, front: Arc<UdpSocket>, server: SocketAddr) {
        let mut backs: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
        let mut buf = vec![0u8; 2048];
        while let Ok((n, client)) = front.recv_from(&mut buf).await {
            let back = match backs.get(&client) {
                Some(b) => Arc::clone(b),
                None => {
                    let back = Arc::new(
                        UdpSocket::bind((IpAddr::from(RELAY_SIDE_IP), 0))
                            .await
                            .unwrap(),
                    );
                    backs.insert(client, Arc::clone(&back));
                    tokio::spawn(
                        self.clone()
                            .down(Arc::clone(&front), Arc::clone(&back), client),
                    );
                    back
                }
            };
            if self.passes(true, &buf[..n]) {
                let _ = back.send_to(&buf[..n], server).await;
            }
        }
    }

    async fn down(self, front: Arc<UdpSocket>, back: Arc<UdpSocket>, client: SocketAddr) {
        let mut buf = vec![0u8; 2048];
        while let Ok(n) = back.recv(&mut buf).await {
            if self.passes(false, &buf[..n]) {
                let _ = front.send_to(&buf[..n], client).await;
            }
        }
    }
}
