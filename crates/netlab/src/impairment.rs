//! What a link does to datagrams, the dice that decide it, and the text people write it in.
//!
//! The text is one step of a link, words separated by spaces, e.g.
//! `rate=300kbit delay=100ms jitter=30ms loss=5%`:
//!
//! | word | meaning |
//! |---|---|
//! | `clean` | nothing (the default; may stand alone) |
//! | `loss=P%` | P % of datagrams lost at random, each way |
//! | `up-loss=P%`, `down-loss=P%` | one way only (up: client → server) |
//! | `burst=P%` or `burst=P%/N` | Gilbert–Elliott losses averaging P %, in bursts of about N datagrams (default 4), each way |
//! | `delay=D` | one-way delay each way (`100ms`, `0.1s`) |
//! | `jitter=D` | each datagram's delay strays uniformly within ± D (datagrams overtake each other) |
//! | `rate=R` | each client's way up carries at most R (`tc` units: `bit`, `kbit`, `mbit`, `gbit`) |
//! | `cut` | nothing passes either way |
//! | `drop-every-rtp=N` | every N-th RTP packet a client sends is lost (RTCP, STUN, DTLS pass) |
//!
//! A schedule is steps separated by `;`, each `STEP for D` except the last, which holds:
//! `rate=2mbit for 10s; rate=300kbit for 15s; rate=2mbit`.

use std::str::FromStr;
use std::time::Duration;

/// What the relay does to datagrams now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Impairment {
    /// Share of datagrams lost at random, client → server and server → client (0.0–1.0).
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

impl Burst {
    /// Half the datagrams of a burst are lost: a burst of fades, as on Wi-Fi, not a clean cut.
    const LOSS_IN_BURST: f64 = 0.5;

    /// Bursts of about `length` datagrams that lose `mean` of all datagrams on average.
    pub fn averaging(mean: f64, length: f64) -> Option<Burst> {
        let leave = 1.0 / length;
        let loss = Self::LOSS_IN_BURST;
        // mean = loss × enter / (enter + leave), solved for enter.
        (mean > 0.0 && mean < loss && length >= 1.0).then(|| Burst {
            enter: mean * leave / (loss - mean),
            leave,
            loss,
        })
    }
}

/// Why a link's text was not understood.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum ParseError {
    #[error("`{0}`: unknown word (clean, loss=, up-loss=, down-loss=, burst=, delay=, jitter=, rate=, cut, drop-every-rtp=)")]
    UnknownWord(String),
    #[error("`{0}`: not a share (a percentage below 100, like 5%)")]
    BadShare(String),
    #[error("`{0}`: not a burst (P% or P%/N with P under 50 and N ≥ 1)")]
    BadBurst(String),
    #[error("`{0}`: not a duration (like 100ms or 1.5s)")]
    BadDuration(String),
    #[error("`{0}`: not a rate (like 300kbit or 2mbit)")]
    BadRate(String),
    #[error("`{0}`: not a count above zero")]
    BadCount(String),
    #[error("step {0} is empty")]
    EmptyStep(usize),
    #[error("step {0} has no `for DURATION`, so the steps after it would never come")]
    EndlessStep(usize),
}

impl FromStr for Impairment {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut i = Impairment::default();
        for word in text.split_whitespace() {
            let (key, value) = word.split_once('=').unwrap_or((word, ""));
            match (key, value) {
                ("clean", "") => {}
                ("cut", "") => i.cut = true,
                ("loss", v) => {
                    i.up_loss = share(v)?;
                    i.down_loss = i.up_loss;
                }
                ("up-loss", v) => i.up_loss = share(v)?,
                ("down-loss", v) => i.down_loss = share(v)?,
                ("burst", v) => i.burst = Some(burst(v)?),
                ("delay", v) => i.delay = duration(v)?,
                ("jitter", v) => i.jitter = duration(v)?,
                ("rate", v) => i.up_rate_bps = Some(rate(v)?),
                ("drop-every-rtp", v) => {
                    i.drop_every_rtp_up = Some(
                        v.parse()
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| ParseError::BadCount(v.into()))?,
                    )
                }
                _ => return Err(ParseError::UnknownWord(word.into())),
            }
        }
        Ok(i)
    }
}

/// `5%` or `5` → 0.05.
fn share(text: &str) -> Result<f64, ParseError> {
    text.trim_end_matches('%')
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..100.0).contains(p))
        .map(|p| p / 100.0)
        .ok_or_else(|| ParseError::BadShare(text.into()))
}

fn burst(text: &str) -> Result<Burst, ParseError> {
    let bad = || ParseError::BadBurst(text.into());
    let (mean, length) = match text.split_once('/') {
        Some((m, n)) => (m, n.parse::<f64>().map_err(|_| bad())?),
        None => (text, 4.0),
    };
    let mean = share(mean).map_err(|_| bad())?;
    Burst::averaging(mean, length).ok_or_else(bad)
}

/// `100ms`, `1.5s`.
pub fn duration(text: &str) -> Result<Duration, ParseError> {
    let bad = || ParseError::BadDuration(text.into());
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else {
        return Err(bad());
    };
    let value = number.parse::<f64>().map_err(|_| bad())? * scale;
    if !(0.0..=86_400.0).contains(&value) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(value))
}

/// `tc`'s rate units: `300kbit`, `2mbit` (bits, not bytes).
fn rate(text: &str) -> Result<u64, ParseError> {
    let lower = text.to_ascii_lowercase();
    let (number, scale) = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)]
        .into_iter()
        .find_map(|(unit, scale)| lower.strip_suffix(unit).map(|n| (n, scale)))
        .ok_or_else(|| ParseError::BadRate(text.into()))?;
    number
        .parse::<f64>()
        .ok()
        .map(|n| n * scale)
        .filter(|bps| (1_000.0..=1e11).contains(bps))
        .map(|bps| bps as u64)
        .ok_or_else(|| ParseError::BadRate(text.into()))
}

/// One step of a schedule: an impairment, and how long it holds (`None`: until the end).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub impairment: Impairment,
    pub holds: Option<Duration>,
    /// As written, for telling people which step is on.
    pub text: String,
}

/// `rate=2mbit for 10s; rate=300kbit for 15s; rate=2mbit`.
pub fn parse_schedule(text: &str) -> Result<Vec<Step>, ParseError> {
    let parts: Vec<&str> = text.split(';').map(str::trim).collect();
    let mut steps = Vec::with_capacity(parts.len());
    for (n, part) in parts.iter().enumerate() {
        let (spec, holds) = match part.rsplit_once(" for ") {
            Some((spec, d)) => (spec.trim(), Some(duration(d.trim())?)),
            None => (*part, None),
        };
        if spec.is_empty() {
            return Err(ParseError::EmptyStep(n + 1));
        }
        if holds.is_none() && n + 1 < parts.len() {
            return Err(ParseError::EndlessStep(n + 1));
        }
        steps.push(Step {
            impairment: spec.parse()?,
            holds,
            text: spec.to_owned(),
        });
    }
    Ok(steps)
}

/// The relay's dice: which datagram is lost, how late each one is.
#[derive(Debug)]
pub struct State {
    pub(crate) impairment: Impairment,
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

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.uniform() < p
    }

    /// Whether the next datagram one way (0 up, 1 down) is lost to a burst.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_reads_as_written() {
        let i: Impairment = "rate=300kbit delay=100ms jitter=30ms loss=5%"
            .parse()
            .unwrap();
        assert_eq!(i.up_rate_bps, Some(300_000));
        assert_eq!(i.delay, Duration::from_millis(100));
        assert_eq!(i.jitter, Duration::from_millis(30));
        assert!((i.up_loss - 0.05).abs() < 1e-9 && (i.down_loss - 0.05).abs() < 1e-9);
        assert_eq!("clean".parse::<Impairment>(), Ok(Impairment::default()));
        let one_way: Impairment = "up-loss=30 cut drop-every-rtp=20".parse().unwrap();
        assert_eq!((one_way.down_loss, one_way.cut), (0.0, true));
        assert_eq!(one_way.drop_every_rtp_up, Some(20));
    }

    #[test]
    fn a_burst_averages_its_share() {
        let i: Impairment = "burst=2%".parse().unwrap();
        let b = i.burst.unwrap();
        let mean = b.loss * b.enter / (b.enter + b.leave);
        assert!((mean - 0.02).abs() < 1e-9, "{mean}");
        assert!((b.leave - 0.25).abs() < 1e-9, "bursts of about 4");
        let long: Impairment = "burst=5%/10".parse().unwrap();
        assert!((long.burst.unwrap().leave - 0.1).abs() < 1e-9);
    }

    #[test]
    fn nonsense_is_named() {
        let bad = |t: &str| t.parse::<Impairment>().unwrap_err().to_string();
        assert!(bad("loss=120%").contains("`120%`"));
        assert!(
            bad("rate=300kbps").contains("300kbps"),
            "tc's kbps is bytes: refused"
        );
        assert!(bad("delay=100").contains("100"));
        assert!(bad("burst=60%").contains("60%"));
        assert!(bad("lag=1s").contains("lag=1s"));
        assert!(bad("drop-every-rtp=0").contains('0'));
    }

    #[test]
    fn a_schedule_steps_and_its_last_step_holds() {
        let s = parse_schedule("rate=2mbit for 10s; rate=300kbit loss=1% for 1.5s; rate=2mbit")
            .unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].holds, Some(Duration::from_secs(10)));
        assert_eq!(s[1].holds, Some(Duration::from_millis(1_500)));
        assert_eq!(s[1].text, "rate=300kbit loss=1%");
        assert_eq!(
            (s[2].holds, s[2].impairment.up_rate_bps),
            (None, Some(2_000_000))
        );
        assert_eq!(
            parse_schedule("rate=2mbit; cut for 1s"),
            Err(ParseError::EndlessStep(1))
        );
        assert_eq!(parse_schedule("cut for 1s;"), Err(ParseError::EmptyStep(2)));
        assert_eq!(parse_schedule("loss=5%").unwrap()[0].holds, None);
    }

    #[test]
    fn bursts_lose_their_share_in_runs() {
        // Mean loss 0.5 × 0.02 / (0.02 + 0.25) ≈ 3.7 %, in bursts of about 4 datagrams.
        let mut s = State::new(Impairment {
            burst: Some(Burst {
                enter: 0.02,
                leave: 0.25,
                loss: 0.5,
            }),
            ..Impairment::default()
        });
        let lost: Vec<bool> = (0..200_000).map(|_| s.burst_loss(0)).collect();
        let share = lost.iter().filter(|l| **l).count() as f64 / lost.len() as f64;
        assert!((0.030..0.045).contains(&share), "{share}");
        let adjacent = lost.windows(2).filter(|w| w[0] && w[1]).count() as f64;
        let alone = share * share * lost.len() as f64;
        assert!(
            adjacent > 5.0 * alone,
            "losses come together: {adjacent} vs {alone}"
        );
    }

    #[test]
    fn delays_spread_around_the_base() {
        let mut s = State::new(Impairment {
            delay: Duration::from_millis(100),
            jitter: Duration::from_millis(30),
            ..Impairment::default()
        });
        let d: Vec<f64> = (0..10_000)
            .map(|_| s.delay().as_secs_f64() * 1000.0)
            .collect();
        assert!(d.iter().all(|ms| (70.0..=130.0).contains(ms)));
        let mean = d.iter().sum::<f64>() / d.len() as f64;
        assert!((98.0..102.0).contains(&mean), "{mean}");
    }
}
