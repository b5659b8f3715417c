//! A standing queue on the way up means we send more than the link carries: the fastest of a
//! feedback's packets still waited [`QUEUED_MS`] longer than the path's best of the last
//! seconds. Then the target drops at once to a little under what the link delivered meanwhile
//! (the rate the feedback saw arriving), as libwebrtc's delay-based back-off does.
//!
//! GCC alone took 3.5–6 s to get under a link that fell from 2 Mbps to 300 kbps: its trendline
//! sees delay *growing*, and a full tail-drop queue keeps the delay high but flat, so after
//! one decrease it read "normal" and increased again, leaving the loss-based half to walk the
//! rate down by a tenth per 200 ms. The level of the queue, not its slope, is the evidence
//! here. Random loss alone never triggers it (nothing queues), nor does jitter of a few tens
//! of ms (the fastest packet of a feedback is the one measured).
//!
//! A process that stalls reads like a queue too, so a cut is bounded by the caller unless it
//! is [`Cut::unmistakable`]: the link delivered under three quarters of what we sent it
//! meanwhile, both over the window and over its last [`RECENT_MS`], or lost a tenth or more of
//! it. A link that carries less than it is given delivers at its own pace until its queue is
//! full, then drops the rest; a stalled process leaves a gap, which reads as a low delivery
//! rate over the window, and then delivers everything at once.

use rtc::interceptor::PacketReport;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Waiting this much longer than the path's best is a standing queue.
const QUEUED_MS: f64 = 150.0;
/// What the link delivered is measured over this much of the receiver's time.
const DELIVERY_WINDOW_MS: f64 = 500.0;
/// The shortest stretch a delivery rate is believed over.
const MIN_DELIVERY_SPAN_MS: f64 = 200.0;
/// The cut, relative to the delivery rate: under it, so the queue drains.
const CUT_FACTOR: f64 = 0.85;
/// Delivered at under this share of the rate we sent at meanwhile: the link is what limits.
/// The window reaches back before the link fell (a 2 Mbps → 300 kbps step read 0.6), and a
/// standing queue must show first, which random loss alone never makes.
const UNMISTAKABLE: f64 = 0.75;
/// …or this share of what was sent meanwhile lost.
const UNMISTAKABLE_LOSS: f64 = 0.1;
/// The newest arrivals' delivery rate is measured over this much of the receiver's time.
const RECENT_MS: f64 = 100.0;
/// After a cut, the queue takes a round trip or so to show it; cutting again before then
/// would cut for the same queue twice.
const CUT_INTERVAL: Duration = Duration::from_millis(600);
/// The path's best transit is the least of this many one-second buckets: long enough to
/// outlast a queue's build-up, short enough to forget clock drift between the two ends.
const BASE_BUCKETS: usize = 10;

#[derive(Debug, Default)]
pub(super) struct Overrun {
    /// Departure times are measured from here (the first report's).
    epoch: Option<Instant>,
    /// Least transit (arrival on the receiver's clock − departure on ours, ms) per second of
    /// departures, newest last.
    base: VecDeque<(u64, f64)>,
    /// Arrived packets of the last [`DELIVERY_WINDOW_MS`]: (arrival ms, departure ms, bytes).
    delivered: VecDeque<(f64, f64, usize)>,
    /// Every reported packet of the last 2 windows: (departure ms, bytes, arrived).
    sent: VecDeque<(f64, usize, bool)>,
    last_cut: Option<Instant>,
    /// The previous feedback showed a standing queue.
    queued_before: bool,
}

/// What a standing queue calls for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Cut {
    /// The rate to cut to, bps.
    pub rate: f64,
    /// The link delivered under [`UNMISTAKABLE`] of what it was given: no stall reads so.
    pub unmistakable: bool,
    /// How long the queue in front of the link is, ms: what the newest packets waited (over
    /// the path's best), and what has been sent since.
    pub queued_ms: f64,
}

impl Overrun {
    /// Reads one feedback's reports; the cut, when a standing queue shows.
    pub(super) fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) -> Option<Cut> {
        let epoch = *self
            .epoch
            .get_or_insert_with(|| reports.iter().map(|r| r.departure).min().unwrap_or(now));
        let mut fastest: Option<f64> = None;
        for r in reports {
            let departed = r.departure.saturating_duration_since(epoch).as_secs_f64() * 1e3;
            self.sent.push_back((departed, r.size, r.arrived));
            let (true, Some(arrival)) = (r.arrived, r.arrival) else {
                continue;
            };
            let arrived = arrival.as_secs_f64() * 1e3;
            let transit = arrived - departed;
            self.note_base(departed, transit);
            fastest = Some(fastest.map_or(transit, |f: f64| f.min(transit)));
            self.delivered.push_back((arrived, departed, r.size));
        }
        let newest = self
            .delivered
            .iter()
            .map(|(a, _, _)| *a)
            .fold(f64::MIN, f64::max);
        while self
            .delivered
            .front()
            .is_some_and(|(a, _, _)| *a < newest - DELIVERY_WINDOW_MS)
        {
            self.delivered.pop_front();
        }
        // Twice the window: what left before any packet still in it is not asked about.
        let last_left = self.sent.back().map_or(0.0, |(d, _, _)| *d);
        while self
            .sent
            .front()
            .is_some_and(|(d, _, _)| *d < last_left - 2.0 * DELIVERY_WINDOW_MS)
        {
            self.sent.pop_front();
        }
        let base = self.base.iter().map(|(_, t)| *t).fold(f64::MAX, f64::min);
        let queued = fastest? - base;
        let recent = self
            .last_cut
            .is_some_and(|at| now.saturating_duration_since(at) < CUT_INTERVAL);
        // Two feedbacks in a row (~100 ms apart) must show the queue: one alone may be a
        // stall of either process, not of the path.
        let standing = queued >= QUEUED_MS;
        let confirmed = standing && self.queued_before;
        self.queued_before = standing;
        if !confirmed || recent {
            return None;
        }
        let oldest = self.delivered.front()?.0;
        let span = newest - oldest;
        if span < MIN_DELIVERY_SPAN_MS {
            return None;
        }
        // The first packet's bytes arrived before the span began.
        let bytes: usize = self.delivered.iter().skip(1).map(|(_, _, b)| b).sum();
        let delivered_bps = bytes as f64 * 8.0 / (span / 1e3);
        let recent_bps = self.recent_bps(newest);
        self.last_cut = Some(now);
        let offered = self.offered();
        let unmistakable = offered.is_some_and(|(offered_bps, lost)| {
            let slow = |bps: f64| bps < offered_bps * UNMISTAKABLE;
            lost >= UNMISTAKABLE_LOSS || (slow(delivered_bps) && recent_bps.is_some_and(slow))
        });
        // The window reaches back to before the link fell; when the fall is unmistakable, the
        // newest arrivals say best what it carries now (a 300 kbps link read 450–530 kbps over
        // the window, and the first cut left the queue standing).
        let delivered_bps = match recent_bps {
            Some(recent) if unmistakable => delivered_bps.min(recent),
            _ => delivered_bps,
        };
        // The queue the newest report saw has grown since, while we kept sending at the old
        // rate: by what we sent over what the link carried, for as long as that was.
        let since_ms = now.saturating_duration_since(epoch).as_secs_f64() * 1e3
            - self.sent.back().map_or(0.0, |(d, _, _)| *d);
        let growth = offered.map_or(0.0, |(offered_bps, _)| {
            (offered_bps / delivered_bps.max(1.0) - 1.0).max(0.0)
        });
        Some(Cut {
            rate: delivered_bps * CUT_FACTOR,
            unmistakable,
            queued_ms: queued + growth * since_ms.max(0.0),
        })
    }

    /// The delivery rate over the last [`RECENT_MS`] of arrivals, bps; `None` when they came
    /// in a burst (a span under half of it).
    fn recent_bps(&self, newest: f64) -> Option<f64> {
        let recent = || {
            self.delivered
                .iter()
                .filter(move |(a, _, _)| *a >= newest - RECENT_MS)
        };
        let first = recent().map(|(a, _, _)| *a).fold(f64::MAX, f64::min);
        let span = newest - first;
        if span < RECENT_MS / 2.0 {
            return None;
        }
        // The first arrival's bytes came before the span began.
        let bytes: usize = recent()
            .filter(|(a, _, _)| *a > first)
            .map(|(_, _, b)| b)
            .sum();
        Some(bytes as f64 * 8.0 / (span / 1e3))
    }

    /// What we sent while the window's delivered packets were leaving: bps, and the share of
    /// it lost.
    fn offered(&self) -> Option<(f64, f64)> {
        let (first, last) = self
            .delivered
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), (_, d, _)| {
                (lo.min(*d), hi.max(*d))
            });
        if last - first < 1.0 {
            return None;
        }
        let (sent, lost) = self
            .sent
            .iter()
            .filter(|(d, _, _)| *d > first && *d <= last)
            .fold((0, 0), |(sent, lost), (_, b, arrived)| {
                (sent + b, if *arrived { lost } else { lost + b })
            });
        let bps = sent as f64 * 8.0 / ((last - first) / 1e3);
        Some((bps, lost as f64 / sent.max(1) as f64))
    }

    fn note_base(&mut self, departed_ms: f64, transit: f64) {
        let second = (departed_ms / 1e3) as u64;
        match self.base.back_mut() {
            Some((s, t)) if *s == second => *t = t.min(transit),
            Some((s, _)) if *s > second => {
                // A late report of an older second: it still counts towards the best.
                if let Some((_, t)) = self.base.iter_mut().find(|(s, _)| *s == second) {
                    *t = t.min(transit);
                }
            }
            _ => {
                self.base.push_back((second, transit));
                while self.base.len() > BASE_BUCKETS {
                    self.base.pop_front();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::transport_feedbacks::cc_feedback_report::Ecn;

    /// A path whose transit is `delay_ms`: 1200-byte packets every `gap_ms`, reported every
    /// 100 ms; `lose` says which packets never arrive.
    struct Path {
        epoch: Instant,
        next: u64,
    }

    impl Path {
        fn feedback(
            &mut self,
            gap_ms: u64,
            delay_ms: impl Fn(u64) -> u64,
            lose: impl Fn(u64) -> bool,
        ) -> (Instant, Vec<PacketReport>) {
            let first = self.next;
            let count = 100 / gap_ms;
            self.next += count;
            let reports = (first..first + count)
                .map(|id| {
                    let sent = id * gap_ms;
                    let arrived = !lose(id);
                    PacketReport {
                        ssrc: 1,
                        id,
                        rtp_sequence_number: id as u16,
                        is_twcc: true,
                        twcc_sequence_number: id as u16,
                        size: 1200,
                        arrived,
                        departure: self.epoch + Duration::from_millis(sent),
                        arrival: arrived.then(|| Duration::from_millis(sent + delay_ms(sent))),
                        ecn: Ecn::default(),
                    }
                })
                .collect();
            let now = self.epoch + Duration::from_millis(self.next * gap_ms + 50);
            (now, reports)
        }
    }

    /// 2 s of 1200-byte packets every 5 ms (1.92 Mbps) over 40 ms of transit: no cut.
    fn settled() -> (Path, Overrun) {
        let mut path = Path {
            epoch: Instant::now(),
            next: 0,
        };
        let mut o = Overrun::default();
        for _ in 0..20 {
            let (now, r) = path.feedback(5, |_| 40, |_| false);
            assert_eq!(o.on_reports(now, &r), None, "no queue, no cut");
        }
        (path, o)
    }

    #[test]
    fn a_standing_queue_cuts_to_what_the_link_delivers() {
        let (mut path, mut o) = settled();
        // The link falls to a fifth: the queue grows by 4 ms per ms sent up to 300 ms, and
        // then four packets in five find it full and are lost. Arrivals come at the link's
        // rate from the fall on.
        let start = path.next * 5;
        let queue = move |sent: u64| 40 + ((sent - start) * 4).min(300);
        let lost = move |id: u64| id * 5 > start + 75 && !id.is_multiple_of(5);
        let mut cuts = vec![];
        for _ in 0..10 {
            let (now, r) = path.feedback(5, queue, lost);
            if let Some(cut) = o.on_reports(now, &r) {
                assert!(
                    cut.unmistakable,
                    "the link took a fifth of what it was given"
                );
                cuts.push(cut.rate);
            }
        }
        assert!(!cuts.is_empty(), "the queue was seen");
        let link = 1200.0 * 8.0 / 0.025;
        assert!(
            cuts.iter().all(|&c| c < link * 1.6),
            "each cut is near the link's {link} bps: {cuts:?}"
        );
        assert!(cuts.len() <= 2, "one cut per round trip or so: {cuts:?}");
    }

    #[test]
    fn a_stalled_receiver_reads_as_a_queue_but_not_an_unmistakable_one() {
        let (mut path, mut o) = settled();
        // The receiving process stops for 400 ms; what arrived meanwhile is read at its end,
        // in a burst a millisecond long.
        let start = path.next * 5;
        let stalled = move |sent: u64| (start + 400).saturating_sub(sent).max(40);
        let mut cuts = vec![];
        for _ in 0..6 {
            let (now, r) = path.feedback(5, stalled, |_| false);
            cuts.extend(o.on_reports(now, &r));
        }
        assert!(!cuts.is_empty(), "it reads as a standing queue");
        assert!(
            cuts.iter().all(|c| !c.unmistakable),
            "a burst is no bottleneck: {cuts:?}"
        );
    }

    #[test]
    fn random_loss_and_jitter_alone_never_cut() {
        let mut path = Path {
            epoch: Instant::now(),
            next: 0,
        };
        let mut o = Overrun::default();
        for _ in 0..100 {
            // ±60 ms on 100 ms of transit, 30 % lost.
            let (now, r) = path.feedback(5, |s| 100 + (s * 7919) % 120 - 60, |id| id % 10 < 3);
            assert_eq!(o.on_reports(now, &r), None);
        }
    }
}
