//! A UDP relay in front of the room server's media ports that impairs what passes: random loss
//! and Gilbert–Elliott burst loss each way, every n-th RTP packet up, a cut link, delay with
//! jitter (datagrams may overtake each other, as on a real path), and a rate cap on each
//! client's way up (a token bucket with a 300 ms queue, tail-dropping beyond it, as
//! `tc tbf … latency 300ms` does). The impairment can change while a call runs (`Relay::set`).
//!
//! The server's candidates say `RELAY_IP` (its `public_ip`); the relay listens there on the
//! server's ports and forwards to the server on 127.0.0.1 from a socket of its own per client,
//! so replies come back through it. (Loopback has no netem here, and a test must not touch
//! the machine's own network settings.)

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use trtc_sdk::{frame_channel, SourceChoice, TrtcAppScene, TrtcEvent, VideoFrame};
use trtc_server::RunningServer;

pub const RELAY_IP: [u8; 4] = [127, 0, 0, 2];
const RELAY_SIDE_IP: [u8; 4] = [127, 0, 0, 3];

/// What the relay does to datagrams now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Impairment {
    /// Share of datagrams lost at random, client → server and server → client (0.0–1.0); in
    /// a burst model, the loss in its good state.
    pub up_loss: f64,
    pub down_loss: f64,
    /// Losses in bursts, each way (on top of the random share).
    pub burst: Option<Burst>,
    /// Drop every n-th RTP packet a client sends (RTCP, STUN and DTLS untouched).
    pub drop_every_rtp_up: Option<u64>,
    /// Nothing passes either way.
    pub cut: bool,
    /// Each client's way up carries at most this many bits per second.
    pub up_rate_bps: Option<u64>,
    /// One-way delay each way, and how far each datagram's may stray from it (uniformly).
    pub delay: Duration,
    pub jitter: Duration,
}

/// Gilbert–Elliott: a good and a bad state; in the bad one `loss` of the datagrams are lost.
/// The mean loss is `loss × enter / (enter + leave)`, in bursts of about `1 / leave` datagrams.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burst {
    /// Chance per datagram of going from good to bad, and back.
    pub enter: f64,
    pub leave: f64,
    pub loss: f64,
}

/// The longest a datagram waits in a capped link's queue before it is dropped instead.
const QUEUE_LIMIT: Duration = Duration::from_millis(300);

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

#[derive(Debug, Default)]
pub struct Counters {
    pub all_up: AtomicU64,
    pub rtp_up: AtomicU64,
    /// Bytes of RTP the clients offered the link (before any loss or cap): their send rate.
    pub rtp_bytes_up: AtomicU64,
    pub dropped: AtomicU64,
    /// Of `dropped`: lost to a full queue of a capped link.
    pub queue_dropped: AtomicU64,
}

/// RTP (not RTCP, STUN or DTLS): version 2 and a payload type outside RTCP's 192–223.
pub fn is_rtp(b: &[u8]) -> bool {
    b.len() >= 12 && b[0] >> 6 == 2 && !(64..96).contains(&(b[1] & 0x7f))
}

/// The relay's dice: which datagram is lost, how late each one is.
pub struct State {
    impairment: Impairment,
    /// xorshift: the same losses for the same run of datagrams, no dependency.
    seed: u64,
    /// Each way's burst state (up, down): in the bad state.
    bad: [bool; 2],
}

impl State {
    pub fn new(impairment: Impairment) -> State {
        State {
            impairment,
            seed: 0x9e37_79b9_7f4a_7c15,
            bad: [false; 2],
        }
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        (self.seed >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.uniform() < p
    }

    /// Whether the next datagram one way is lost to a burst.
    pub fn burst_loss(&mut self, way: usize) -> bool {
        let Some(b) = self.impairment.burst else {
            self.bad[way] = false;
            return false;
        };
        let flip = if self.bad[way] { b.leave } else { b.enter };
        if self.chance(flip) {
            self.bad[way] = !self.bad[way];
        }
        self.bad[way] && self.chance(b.loss)
    }

    /// This datagram's one-way delay: the base, give or take the jitter.
    pub fn delay(&mut self) -> Duration {
        let (base, jitter) = (self.impairment.delay, self.impairment.jitter);
        let spread = jitter.as_secs_f64() * (2.0 * self.uniform() - 1.0);
        Duration::from_secs_f64((base.as_secs_f64() + spread).max(0.0))
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
            state: Arc::new(Mutex::new(State::new(Impairment::default()))),
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

    /// Whether a datagram going up (`up`) or down passes now; if so, its delay and the way's
    /// rate cap.
    fn passes(&self, up: bool, data: &[u8]) -> Option<(Duration, Option<u64>)> {
        let mut s = self.state.lock().unwrap();
        let i = s.impairment;
        let rtp_index = if up {
            self.counters.all_up.fetch_add(1, Ordering::Relaxed);
            is_rtp(data).then(|| {
                self.counters
                    .rtp_bytes_up
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                self.counters.rtp_up.fetch_add(1, Ordering::Relaxed) + 1
            })
        } else {
            None
        };
        let burst = s.burst_loss(usize::from(!up));
        let lost = i.cut
            || burst
            || s.chance(if up { i.up_loss } else { i.down_loss })
            || matches!((i.drop_every_rtp_up, rtp_index), (Some(n), Some(k)) if k % n == 0);
        if lost {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let rate = if up { i.up_rate_bps } else { None };
        Some((s.delay(), rate))
    }

    async fn up(self, front: Arc<UdpSocket>, server: SocketAddr) {
        let mut uplinks: HashMap<SocketAddr, Link> = HashMap::new();
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
                    e.insert(Link::start(back, server))
                }
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
        let mut buf = vec![0u8; 2048];
        while let Ok(n) = back.recv(&mut buf).await {
            if let Some((delay, rate)) = self.passes(false, &buf[..n]) {
                downlink.send(&buf[..n], rate, delay);
            }
        }
    }
}

/// A room server that advertises a relay in front of its media ports (ten of them from
/// `port_base`), and the relay, passing everything until told otherwise.
pub async fn relayed_server(port_base: u16) -> (Relay, RunningServer) {
    let ports = port_base..=port_base + 9;
    let relay = Relay::start(ports.clone()).await;
    let mut config = super::config();
    config.media.public_ip = Some(IpAddr::from(RELAY_IP));
    config.media.udp_ports = Some((*ports.start(), *ports.end()));
    (relay, trtc_server::spawn(config).await.unwrap())
}

/// A call over signalling at `url`: "sender" publishes the synthetic camera (and the tone when
/// `tone`), "receiver" publishes nothing and views the sender's camera. Returns both and the
/// receiver's pictures.
pub async fn sender_and_receiver(
    url: &str,
    room: u32,
    tone: bool,
) -> (
    super::Client,
    super::Client,
    std::sync::mpsc::Receiver<VideoFrame>,
) {
    sender_and_receiver_playing(url, room, tone, SourceChoice::None).await
}

/// [`sender_and_receiver`], the receiver playing what it hears on `speaker`.
pub async fn sender_and_receiver_playing(
    url: &str,
    room: u32,
    tone: bool,
    speaker: SourceChoice,
) -> (
    super::Client,
    super::Client,
    std::sync::mpsc::Receiver<VideoFrame>,
) {
    let none = SourceChoice::None;
    let mic = if tone { SourceChoice::Synthetic } else { none };
    let mut sender = super::media_client(url, "sender", SourceChoice::Synthetic, mic, none);
    let mut receiver = super::media_client(url, "receiver", none, none, speaker);
    assert!(sender.enter(room, TrtcAppScene::VideoCall).await > 0);
    assert!(receiver.enter(room, TrtcAppScene::VideoCall).await > 0);
    sender.cloud.start_local_preview(None);
    if tone {
        sender.cloud.start_local_audio(Default::default());
    }
    receiver
        .wait_for(|e| {
            matches!(
                e,
                TrtcEvent::UserVideoAvailable {
                    available: true,
                    ..
                }
            )
        })
        .await;
    let (view, pictures) = frame_channel(64);
    receiver.cloud.start_remote_view("sender", 0, Some(view));
    (sender, receiver, pictures)
}
