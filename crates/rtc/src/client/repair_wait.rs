//! How long video waits behind a gap, learnt from how long gaps have taken to fill here.
//!
//! A gap fills when its packet arrives late (overtaken on a jittery path) or is retransmitted
//! after a NACK, one round trip and the NACK generator's cycle later. A fixed wait is wrong
//! somewhere: 150 ms covers loopback and a LAN, but on a path with 100 ms each way every
//! retransmission arrived after its gap had been given up, so every lost packet cost a
//! picture and a keyframe instead of a repair. So each fill is measured (from the moment the
//! gap was seen, the first packet after it arriving) — including fills that came after the
//! gap was given up, which is how a too-short wait learns it is too short — and the wait is
//! the smoothed fill time plus four of its deviations (TCP's retransmission timer, RFC 6298),
//! between [`MIN_WAIT`] and [`MAX_WAIT`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The shortest wait: a NACK goes out within 100 ms of the gap (the generator's cycle) and a
/// loopback or LAN round trip adds little.
pub(crate) const MIN_WAIT: Duration = Duration::from_millis(150);
/// The longest: a picture later than this is not worth holding the ones behind it for; the
/// decoder asks for a keyframe instead.
pub(crate) const MAX_WAIT: Duration = Duration::from_millis(600);
/// Fills later than this are not counted (a stray duplicate, not a repair).
const LONGEST_FILL: Duration = Duration::from_secs(2);
/// Given-up sequence numbers remembered, to time their late arrivals.
const GIVEN_UP_MEMORY: usize = 256;

#[derive(Debug, Default)]
pub(crate) struct RepairWait {
    /// Smoothed fill time and its mean deviation, seconds.
    smoothed: Option<f64>,
    deviation: f64,
    /// Gaps given up lately: the sequence number and when the gap was seen.
    given_up: VecDeque<(u16, Instant)>,
}

impl RepairWait {
    /// How long a gap may wait now.
    pub(crate) fn wait(&self) -> Duration {
        let secs = self
            .smoothed
            .map_or(0.0, |s| s + 4.0 * self.deviation)
            .clamp(MIN_WAIT.as_secs_f64(), MAX_WAIT.as_secs_f64());
        Duration::from_secs_f64(secs)
    }

    /// A gap seen at `opened` filled at `now`.
    pub(crate) fn filled(&mut self, opened: Instant, now: Instant) {
        let took = now.saturating_duration_since(opened);
        if took > LONGEST_FILL {
            return;
        }
        let took = took.as_secs_f64();
        match self.smoothed {
            None => {
                self.smoothed = Some(took);
                self.deviation = took / 2.0;
            }
            Some(s) => {
                self.deviation = 0.75 * self.deviation + 0.25 * (s - took).abs();
                self.smoothed = Some(0.875 * s + 0.125 * took);
            }
        }
    }

    /// The packet `seq`, in a gap seen at `opened`, was given up.
    pub(crate) fn gave_up(&mut self, seq: u16, opened: Instant) {
        if self.given_up.len() == GIVEN_UP_MEMORY {
            self.given_up.pop_front();
        }
        self.given_up.push_back((seq, opened));
    }

    /// `seq` arrived at `now`, after its gap was given up: it still says how long fills take.
    pub(crate) fn arrived_late(&mut self, seq: u16, now: Instant) {
        if let Some(i) = self.given_up.iter().position(|(s, _)| *s == seq) {
            if let Some((_, opened)) = self.given_up.remove(i) {
                self.filled(opened, now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_fills_keep_the_shortest_wait() {
        let t0 = Instant::now();
        let mut w = RepairWait::default();
        assert_eq!(w.wait(), MIN_WAIT, "nothing learnt yet");
        for n in 0..50u64 {
            let opened = t0 + Duration::from_millis(100 * n);
            w.filled(opened, opened + Duration::from_millis(20 + n % 3 * 10));
        }
        assert_eq!(w.wait(), MIN_WAIT);
    }

    #[test]
    fn late_arrivals_of_given_up_packets_lengthen_the_wait() {
        let t0 = Instant::now();
        let mut w = RepairWait::default();
        // Retransmissions take 320 ms (100 ms each way and the NACK cycle); the first few
        // gaps are given up at 150 ms, and their packets arrive anyway.
        for n in 0..4u16 {
            let opened = t0 + Duration::from_millis(500 * u64::from(n));
            w.gave_up(n, opened);
            w.arrived_late(n, opened + Duration::from_millis(320));
        }
        let wait = w.wait();
        assert!(
            wait > Duration::from_millis(320) && wait <= MAX_WAIT,
            "{wait:?}"
        );
        w.arrived_late(99, t0 + Duration::from_secs(9));
        assert_eq!(w.wait(), wait, "a packet never given up teaches nothing");
    }

    #[test]
    fn the_wait_is_bounded_and_forgets_slowly_when_the_path_gets_short() {
        let t0 = Instant::now();
        let mut w = RepairWait::default();
        for n in 0..10u64 {
            let opened = t0 + Duration::from_secs(n);
            w.filled(opened, opened + Duration::from_millis(1_500));
        }
        assert_eq!(w.wait(), MAX_WAIT);
        let mut waits = vec![];
        for n in 10..60u64 {
            let opened = t0 + Duration::from_secs(n);
            w.filled(opened, opened + Duration::from_millis(30));
            waits.push(w.wait());
        }
        assert!(waits[1] > MIN_WAIT, "one quick fill is not a new path");
        assert_eq!(waits.last(), Some(&MIN_WAIT), "fifty are");
    }
}
