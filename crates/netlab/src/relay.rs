//! A UDP relay in front of a room server's media ports that impairs what passes (see
//! [`crate::impairment`]); the impairment may change while a call runs ([`Relay::set`],
//! [`Relay::follow`]).
//!
//! The server advertises the relay's address in its candidates (its `public_ip`); the relay
//! listens there on the server's ports and forwards to the server from a socket of its own
//! per client, so the server's replies come back through it and can be impaired on the way
//! down too. Each way of each client is a [`Link`]: a token-bucket rate cap with a 300 ms
//! tail-drop queue (as `tc tbf … latency 300ms` does), then the delay.

use crate::impairment::{Impairment, State, Step};
use parking_lot::Mutex;
use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// The longest a datagram waits in a capped link's queue before it is dropped instead.
const QUEUE_LIMIT: Duration = Duration::from_millis(300);
/// Larger than any datagram WebRTC sends (its MTU is ~1,200–1,500 bytes).
const MAX_DATAGRAM: usize = 2_048;

/// Where the relay sits.
#[derive(Debug, Clone, Copy)]
pub struct RelayAddrs {
    /// Where clients send (the server's advertised `public_ip`).
    pub front: IpAddr,
    /// Where the relay's per-client sockets towards the server bind.
    pub back: IpAddr,
    /// Where the server's media sockets are bound.
    pub server: IpAddr,
}

impl Default for RelayAddrs {
    /// All on loopback: 127.0.0.2 in front, 127.0.0.3 behind, the server on 127.0.0.1.
    fn default() -> Self {
        RelayAddrs {
            front: IpAddr::from([127, 0, 0, 2]),
            back: IpAddr::from([127, 0, 0, 3]),
            server: IpAddr::from([127, 0, 0, 1]),
        }
    }
}

/// What passed and what did not, since the start.
#[derive(Debug, Default)]
pub struct Counters {
    /// Datagrams clients sent.
    pub all_up: AtomicU64,
    /// Of them, RTP (not RTCP, STUN or DTLS).
    pub rtp_up: AtomicU64,
    /// Bytes of RTP the clients offered the link (before any loss or cap): their send rate.
    pub rtp_bytes_up: AtomicU64,
    /// Datagrams the server sent.
    pub all_down: AtomicU64,
    /// Lost either way, whatever the reason.
    pub dropped: AtomicU64,
    /// Of `dropped`: lost to a full queue of a capped link.
    pub queue_dropped: AtomicU64,
}

/// RTP (not RTCP, STUN or DTLS): version 2 and a payload type outside RTCP's 192–223.
pub fn is_rtp(b: &[u8]) -> bool {
    b.len() >= 12 && b[0] >> 6 == 2 && !(64..96).contains(&(b[1] & 0x7f))
}

/// One client's one way: datagrams leave at their departure times, the earliest first.
struct Link {
    queue: mpsc::UnboundedSender<(Instant, Vec<u8>)>,
    /// When the rate cap lets the next datagram start (the last queued one has left).
    free_at: Instant,
}

impl Link {
    fn start(socket: Arc<UdpSocket>, to: SocketAddr) -> Link {
        let (queue, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
        tokio::spawn(async move {
            // The sequence number keeps datagrams due at the same instant in their order.
            let mut due: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>> = BinaryHeap::new();
            let mut seq = 0u64;
            loop {
                let next = due.peek().map(|Reverse((at, _, _))| *at);
                tokio::select! {
                    got = rx.recv() => match got {
                        Some((at, data)) => {
                            seq += 1;
                            due.push(Reverse((at, seq, data)));
                        }
                        None => return,
                    },
                    _ = tokio::time::sleep_until(next.unwrap_or_else(Instant::now).into()), if next.is_some() => {
                        if let Some(Reverse((_, _, data))) = due.pop() {
                            let _ = socket.send_to(&data, to).await;
                        }
                    }
                }
            }
        });
        Link {
            queue,
            free_at: Instant::now(),
        }
    }

    /// Queues `data` to leave after the rate cap and `delay`; false when the capped queue is
    /// full (dropped).
    fn send(&mut self, data: &[u8], rate_bps: Option<u64>, delay: Duration) -> bool {
        let now = Instant::now();
        let sent = match rate_bps {
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
        let _ = self.queue.send((sent + delay, data.to_vec()));
        true
    }
}

/// The relay: cheap to clone, every clone the same relay.
#[derive(Clone)]
pub struct Relay {
    state: Arc<Mutex<State>>,
    addrs: RelayAddrs,
    pub counters: Arc<Counters>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("addrs", &self.addrs)
            .field("impairment", &self.state.lock().impairment)
            .finish()
    }
}

impl Relay {
    /// Starts relaying each of `ports` from `addrs.front` to the server, passing everything.
    pub async fn start(addrs: RelayAddrs, ports: RangeInclusive<u16>) -> std::io::Result<Relay> {
        let relay = Relay {
            state: Arc::new(Mutex::new(State::new(Impairment::default()))),
            addrs,
            counters: Arc::default(),
        };
        let mut fronts = vec![];
        // Every port bound before any is served: a port in use fails the whole start.
        for port in ports {
            let front = UdpSocket::bind((addrs.front, port)).await?;
            fronts.push((Arc::new(front), SocketAddr::new(addrs.server, port)));
        }
        for (front, server) in fronts {
            tokio::spawn(relay.clone().up(front, server));
        }
        Ok(relay)
    }

    pub fn set(&self, impairment: Impairment) {
        self.state.lock().impairment = impairment;
    }

    /// Goes through `steps`, each for as long as it holds, telling `on_step` as each begins;
    /// returns once the last one has begun (it holds).
    pub async fn follow(&self, steps: &[Step], mut on_step: impl FnMut(usize, &Step)) {
        for (n, step) in steps.iter().enumerate() {
            self.set(step.impairment);
            on_step(n, step);
            match step.holds {
                Some(d) if n + 1 < steps.len() => tokio::time::sleep(d).await,
                _ => return,
            }
        }
    }

    /// Whether a datagram going up (`up`) or down passes now; if so, its delay and the way's
    /// rate cap.
    fn passes(&self, up: bool, data: &[u8]) -> Option<(Duration, Option<u64>)> {
        let mut s = self.state.lock();
        let i = s.impairment;
        let c = &self.counters;
        let rtp_index = if up {
            c.all_up.fetch_add(1, Ordering::Relaxed);
            is_rtp(data).then(|| {
                c.rtp_bytes_up
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                c.rtp_up.fetch_add(1, Ordering::Relaxed) + 1
            })
        } else {
            c.all_down.fetch_add(1, Ordering::Relaxed);
            None
        };
        let burst = s.burst_loss(usize::from(!up));
        let lost = i.cut
            || burst
            || s.chance(if up { i.up_loss } else { i.down_loss })
            || matches!((i.drop_every_rtp_up, rtp_index), (Some(n), Some(k)) if k % n == 0);
        if lost {
            c.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let rate = if up { i.up_rate_bps } else { None };
        Some((s.delay(), rate))
    }

    async fn up(self, front: Arc<UdpSocket>, server: SocketAddr) {
        let mut uplinks: HashMap<SocketAddr, Link> = HashMap::new();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        while let Ok((n, client)) = front.recv_from(&mut buf).await {
            let uplink = match uplinks.entry(client) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => match UdpSocket::bind((self.addrs.back, 0)).await {
                    Ok(back) => {
                        let back = Arc::new(back);
                        tokio::spawn(self.clone().down(
                            Arc::clone(&front),
                            Arc::clone(&back),
                            client,
                        ));
                        e.insert(Link::start(back, server))
                    }
                    // Out of sockets: this datagram is lost; the client's next one tries again.
                    Err(_) => {
                        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                },
            };
            if let Some((delay, rate)) = self.passes(true, &buf[..n]) {
                if !uplink.send(&buf[..n], rate, delay) {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    self.counters.queue_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    async fn down(self, front: Arc<UdpSocket>, back: Arc<UdpSocket>, client: SocketAddr) {
        let mut downlink = Link::start(front, client);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        while let Ok(n) = back.recv(&mut buf).await {
            if let Some((delay, rate)) = self.passes(false, &buf[..n]) {
                downlink.send(&buf[..n], rate, delay);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::impairment::parse_schedule;

    /// A relay on `port` in front of an echo "server" that answers every datagram.
    async fn echoed(port: u16) -> (Relay, UdpSocket) {
        let server = UdpSocket::bind(("127.0.0.1", port)).await.unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while let Ok((n, from)) = server.recv_from(&mut buf).await {
                let _ = server.send_to(&buf[..n], from).await;
            }
        });
        let relay = Relay::start(RelayAddrs::default(), port..=port)
            .await
            .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.connect(("127.0.0.2", port)).await.unwrap();
        (relay, client)
    }

    async fn round_trip(client: &UdpSocket, n: u8) -> Option<Duration> {
        let sent = Instant::now();
        client.send(&[n]).await.unwrap();
        let mut buf = [0u8; 8];
        let got = tokio::time::timeout(Duration::from_millis(500), client.recv(&mut buf)).await;
        matches!(got, Ok(Ok(1))).then(|| sent.elapsed())
    }

    #[tokio::test]
    async fn what_passes_is_delayed_each_way_and_a_cut_passes_nothing() {
        let port = 39_000 + (std::process::id() % 500) as u16 * 2;
        let (relay, client) = echoed(port).await;
        assert!(round_trip(&client, 1).await.is_some(), "clean: through");
        relay.set("delay=60ms".parse().unwrap());
        let rtt = round_trip(&client, 2).await.expect("delayed, not lost");
        assert!(rtt >= Duration::from_millis(120), "60 ms each way: {rtt:?}");
        relay.set("cut".parse().unwrap());
        assert_eq!(round_trip(&client, 3).await, None);
        assert_eq!(relay.counters.all_up.load(Ordering::Relaxed), 3);
        assert_eq!(relay.counters.dropped.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_schedule_changes_the_link_as_it_goes() {
        let port = 39_001 + (std::process::id() % 500) as u16 * 2;
        let (relay, client) = echoed(port).await;
        let steps = parse_schedule("cut for 300ms; clean").unwrap();
        let follower = relay.clone();
        let began = Arc::new(Mutex::new(vec![]));
        let told = Arc::clone(&began);
        let schedule = tokio::spawn(async move {
            follower
                .follow(&steps, |n, s| told.lock().push((n, s.text.clone())))
                .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(round_trip(&client, 1).await, None, "cut at first");
        schedule.await.unwrap();
        assert!(round_trip(&client, 2).await.is_some(), "then clean");
        assert_eq!(
            *began.lock(),
            vec![(0, "cut".to_owned()), (1, "clean".to_owned())]
        );
    }
}
