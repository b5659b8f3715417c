//! A UDP relay in front of the room server's media ports that impairs what passes: random
//! loss each way, every n-th RTP packet up, a cut link, and a rate cap on each client's way up
//! (a token bucket with a 300 ms queue, tail-dropping beyond it, as `tc tbf … latency 300ms`
//! does). The impairment can change while a call runs (`Relay::set`).
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
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

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
    /// Each client's way up carries at most this many bits per second.
    pub up_rate_bps: Option<u64>,
}

/// The longest a datagram waits in a capped link's queue before it is dropped instead.
const QUEUE_LIMIT: Duration = Duration::from_millis(300);

/// One client's way up: datagrams leave at their departure times, in order.
struct Uplink {
    queue: mpsc::UnboundedSender<(Instant, Vec<u8>)>,
    /// When the link is free again (the last queued datagram has left).
    free_at: Instant,
}

impl Uplink {
    fn start(back: Arc<UdpSocket>, server: SocketAddr) -> Uplink {
        let (queue, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
        tokio::spawn(async move {
            while let Some((at, data)) = rx.recv().await {
                tokio::time::sleep_until(at.into()).await;
                let _ = back.send_to(&data, server).await;
            }
        });
        Uplink {
            queue,
            free_at: Instant::now(),
        }
    }

    /// Queues `data` behind what is waiting; false when the queue is full (dropped).
    fn send(&mut self, data: &[u8], rate_bps: Option<u64>) -> bool {
        let now = Instant::now();
        let departs = match rate_bps {
            Some(rate) => {
                let start = self.free_at.max(now);
                if start.duration_since(now) > QUEUE_LIMIT {
                    return false;
                }
                let wire = Duration::from_secs_f64(data.len() as f64 * 8.0 / rate.max(1) as f64);
                self.free_at = start + wire;
                self.free_at
            }
            None => now,
        };
        let _ = self.queue.send((departs, data.to_vec()));
        true
    }
}

#[derive(Debug, Default)]
pub struct Counters {
    pub all_up: AtomicU64,
    pub rtp_up: AtomicU64,
    pub dropped: AtomicU64,
    /// Of `dropped`: lost to a full queue of a capped link.
    pub queue_dropped: AtomicU64,
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
        let mut uplinks: HashMap<SocketAddr, Uplink> = HashMap::new();
        let mut buf = vec![0u8; 2048];
        while let Ok((n, client)) = front.recv_from(&mut buf).await {
            let uplink = match uplinks.entry(client) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let back = Arc::new(
                        UdpSocket::bind((IpAddr::from(RELAY_SIDE_IP), 0))
                            .await
                            .unwrap(),
                    );
                    tokio::spawn(
                        self.clone()
                            .down(Arc::clone(&front), Arc::clone(&back), client),
                    );
                    e.insert(Uplink::start(back, server))
                }
            };
            if self.passes(true, &buf[..n]) {
                let rate = self.state.lock().unwrap().impairment.up_rate_bps;
                if !uplink.send(&buf[..n], rate) {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    self.counters.queue_dropped.fetch_add(1, Ordering::Relaxed);
                }
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
