//! onNetworkQuality: TRTC's 0–6 for the local user and each remote publisher, from the same
//! two snapshots as onStatistics (so every grade is measured over the last 2 s).
//!
//! A path's grade is the worst of what it shows: loss, round trip, jitter, and (for our
//! uplink) how much of the configured bitrate the congestion estimate allows. A path that
//! should carry packets but carried none in the window is *down*: media sent with no feedback
//! at all, or a published stream of which nothing arrived. The local grade is our uplink while
//! we publish, else our downlink; a remote user's is their streams as they reach us, which is
//! their uplink and our downlink together, as TRTC defines it.

use super::stats::Snapshot;
use trtc_protocol::events::TrtcQualityInfo;
use trtc_protocol::StreamKind;

/// TRTC's `TRTCQuality`.
pub(crate) const UNKNOWN: u8 = 0;
const EXCELLENT: u8 = 1;
const DOWN: u8 = 6;

/// What one window showed of a path.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct PathReading {
    pub loss_percent: u32,
    /// 0: not measured yet.
    pub rtt_ms: u32,
    pub jitter_ms: u32,
    /// The congestion estimate over what the encoders are configured for.
    pub estimate_ratio: Option<f64>,
    /// Packets were due on the path and none passed.
    pub silent: bool,
}

/// Upper bounds of grades 1, 2, 3 …: loss %, round trip ms, jitter ms. Past the last bound a
/// path is one grade worse still.
const LOSS: [u32; 5] = [2, 5, 10, 20, 50];
const RTT: [u32; 5] = [100, 200, 400, 800, 1500];
const JITTER: [u32; 4] = [20, 50, 100, 200];
/// The estimate's share of the configured bitrate at or above which a path is grade 1, 2, 3;
/// below the last, 4.
const ESTIMATE: [f64; 3] = [0.7, 0.4, 0.2];

/// 1 + the number of bounds `value` is above.
fn level(value: u32, bounds: &[u32]) -> u8 {
    1 + bounds.iter().filter(|b| value > **b).count() as u8
}

/// The grade of one path: 1 (excellent) … 6 (down).
pub(crate) fn grade(r: &PathReading) -> u8 {
    if r.silent {
        return DOWN;
    }
    let estimate = r.estimate_ratio.map_or(EXCELLENT, |x| {
        1 + ESTIMATE.iter().filter(|b| x < **b).count() as u8
    });
    [
        level(r.loss_percent, &LOSS),
        level(r.rtt_ms, &RTT),
        level(r.jitter_ms, &JITTER),
        estimate,
    ]
    .into_iter()
    .fold(EXCELLENT, u8::max)
}

/// What the core knows beyond the counters.
#[derive(Debug, Default)]
pub(crate) struct Context {
    /// The last heartbeat's round trip (`None` before the first).
    pub rtt_ms: Option<u32>,
    /// Sum of the running video encoders' configured bitrates, bps (0: none runs).
    pub configured_bps: u64,
    /// Each remote user and the streams they publish now.
    pub published: Vec<(String, Vec<StreamKind>)>,
    /// Our publisher connection failed or went quiet and is not back: no counter can say so
    /// once it is gone.
    pub uplink_lost: bool,
    /// The same for the subscriber connection: every remote user is down for us then.
    pub downlink_lost: bool,
}

/// onNetworkQuality's two arguments for the window from `base` to `snap`.
pub(crate) fn measure(
    base: &Snapshot,
    snap: &Snapshot,
    ctx: &Context,
) -> (TrtcQualityInfo, Vec<TrtcQualityInfo>) {
    let rtt = ctx.rtt_ms.unwrap_or(0);
    let mut remote = Vec::new();
    let mut down = Totals::default();
    for (user, kinds) in &ctx.published {
        let mut t = Totals::default();
        for kind in kinds {
            let key = (user.clone(), *kind);
            let Some(now) = snap.subscriber.get(&key) else {
                continue;
            };
            let then = base.subscriber.get(&key).copied().unwrap_or_default();
            t.add(
                now.packets.saturating_sub(then.packets),
                now.lost.saturating_sub(then.lost),
                now.jitter_ms,
            );
        }
        if !t.measured {
            continue;
        }
        down.merge(&t);
        remote.push(TrtcQualityInfo {
            user_id: user.clone(),
            quality: if ctx.downlink_lost {
                DOWN
            } else {
                grade(&t.reading(rtt))
            },
        });
    }
    let local = match (&snap.publisher, &base.publisher) {
        _ if ctx.uplink_lost || ctx.downlink_lost => DOWN,
        (Some(p), then) if sent_packets(p) > then.as_ref().map_or(0, sent_packets) => {
            let (got, lost) = then
                .as_ref()
                .map_or((0, 0), |t| (t.feedback_received, t.feedback_lost));
            let got = p.feedback_received.saturating_sub(got);
            let lost = p.feedback_lost.saturating_sub(lost);
            grade(&PathReading {
                loss_percent: percent(lost, got + lost),
                rtt_ms: rtt,
                jitter_ms: 0,
                estimate_ratio: (ctx.configured_bps > 0)
                    .then(|| p.target_bps as f64 / ctx.configured_bps as f64),
                silent: got + lost == 0,
            })
        }
        _ if down.measured => grade(&down.reading(rtt)),
        _ => ctx.rtt_ms.map_or(UNKNOWN, |rtt_ms| {
            grade(&PathReading {
                rtt_ms,
                ..PathReading::default()
            })
        }),
    };
    let local = TrtcQualityInfo {
        user_id: String::new(),
        quality: local,
    };
    (local, remote)
}

fn sent_packets(p: &trtc_rtc::client::PublisherStats) -> u64 {
    p.sent.values().map(|c| c.packets).sum()
}

fn percent(part: u64, whole: u64) -> u32 {
    (part * 100).checked_div(whole).unwrap_or(0) as u32
}

/// Received streams summed over a window.
#[derive(Debug, Default)]
struct Totals {
    measured: bool,
    packets: u64,
    lost: u64,
    jitter_ms: f64,
}

impl Totals {
    fn add(&mut self, packets: u64, lost: u64, jitter_ms: f64) {
        self.measured = true;
        self.packets += packets;
        self.lost += lost;
        self.jitter_ms = self.jitter_ms.max(jitter_ms);
    }

    fn merge(&mut self, other: &Totals) {
        self.add(other.packets, other.lost, other.jitter_ms);
    }

    fn reading(&self, rtt_ms: u32) -> PathReading {
        PathReading {
            loss_percent: percent(self.lost, self.lost + self.packets),
            rtt_ms,
            jitter_ms: self.jitter_ms.round() as u32,
            estimate_ratio: None,
            silent: self.packets == 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trtc_rtc::client::{PublisherStats, ReceiveCounters, SentCounters};

    fn reading(loss_percent: u32, rtt_ms: u32) -> PathReading {
        PathReading {
            loss_percent,
            rtt_ms,
            ..PathReading::default()
        }
    }

    #[test]
    fn grades_follow_the_worst_of_what_a_path_shows() {
        assert_eq!(grade(&reading(0, 20)), 1, "a clean link");
        assert_eq!(grade(&reading(4, 20)), 2);
        assert_eq!(grade(&reading(10, 20)), 3);
        assert!(grade(&reading(30, 20)) >= 4, "30 % loss is bad or worse");
        assert_eq!(grade(&reading(0, 600)), 4, "a long round trip alone");
        let squeezed = PathReading {
            estimate_ratio: Some(0.3),
            ..reading(0, 20)
        };
        assert_eq!(
            grade(&squeezed),
            3,
            "the link carries a third of the bitrate"
        );
        let cut = PathReading {
            silent: true,
            ..reading(0, 20)
        };
        assert_eq!(grade(&cut), 6, "nothing passed");
    }

    fn publisher(packets: u64, got: u64, lost: u64) -> PublisherStats {
        PublisherStats {
            sent: [(
                StreamKind::Big,
                SentCounters {
                    bytes: packets * 1000,
                    packets,
                },
            )]
            .into(),
            target_bps: 1_000_000,
            feedback_received: got,
            feedback_lost: lost,
            rtt_ms: None,
        }
    }

    fn receiving(snap: &mut Snapshot, user: &str, packets: u64, lost: u64) {
        snap.subscriber.insert(
            (user.to_owned(), StreamKind::Big),
            ReceiveCounters {
                packets,
                lost,
                jitter_ms: 3.0,
                ..ReceiveCounters::default()
            },
        );
    }

    fn context() -> Context {
        Context {
            rtt_ms: Some(10),
            configured_bps: 900_000,
            published: vec![("b".to_owned(), vec![StreamKind::Big])],
            uplink_lost: false,
            downlink_lost: false,
        }
    }

    #[test]
    fn the_uplink_grades_us_while_we_publish() {
        let (mut a, mut b) = (Snapshot::default(), Snapshot::default());
        a.publisher = Some(publisher(100, 100, 0));
        b.publisher = Some(publisher(300, 185, 15));
        receiving(&mut a, "b", 100, 0);
        receiving(&mut b, "b", 300, 0);
        let (local, remote) = measure(&a, &b, &context());
        assert_eq!(local.user_id, "");
        assert_eq!(local.quality, 4, "15 % of what we sent was lost");
        assert_eq!(
            remote,
            [TrtcQualityInfo {
                user_id: "b".into(),
                quality: 1
            }]
        );
    }

    #[test]
    fn a_cut_link_is_down_both_ways() {
        let (mut a, mut b) = (Snapshot::default(), Snapshot::default());
        a.publisher = Some(publisher(100, 100, 0));
        b.publisher = Some(publisher(300, 100, 0));
        receiving(&mut a, "b", 100, 0);
        receiving(&mut b, "b", 100, 0);
        let (local, remote) = measure(&a, &b, &context());
        assert_eq!(local.quality, 6, "sent, and no feedback came back");
        assert_eq!(remote[0].quality, 6, "b publishes and nothing arrived");
        let gone = Context {
            uplink_lost: true,
            ..context()
        };
        let (a, b) = (Snapshot::default(), Snapshot::default());
        assert_eq!(
            measure(&a, &b, &gone).0.quality,
            6,
            "the publisher connection failed and nothing is sent any more"
        );
        let (mut a, mut b) = (Snapshot::default(), Snapshot::default());
        receiving(&mut a, "b", 100, 0);
        receiving(&mut b, "b", 300, 0);
        let deaf = Context {
            downlink_lost: true,
            ..context()
        };
        let (local, remote) = measure(&a, &b, &deaf);
        assert_eq!(
            (local.quality, remote[0].quality),
            (6, 6),
            "the subscriber connection failed"
        );
    }

    #[test]
    fn a_receiver_is_graded_by_its_downlink() {
        let (mut a, mut b) = (Snapshot::default(), Snapshot::default());
        receiving(&mut a, "b", 100, 0);
        receiving(&mut b, "b", 190, 10);
        let ctx = Context {
            configured_bps: 0,
            ..context()
        };
        let (local, remote) = measure(&a, &b, &ctx);
        assert_eq!((local.quality, remote[0].quality), (3, 3), "10 % loss");
        let quiet = Context {
            published: vec![],
            ..ctx
        };
        assert_eq!(
            measure(&b, &b, &quiet).0.quality,
            1,
            "nobody publishes: the round trip alone"
        );
        let unmeasured = Context {
            rtt_ms: None,
            ..quiet
        };
        assert_eq!(measure(&b, &b, &unmeasured).0.quality, UNKNOWN);
    }
}
