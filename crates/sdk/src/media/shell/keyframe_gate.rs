//! Keyframes asked of a video encoder are made at most once per the time the last one takes
//! to cross the link.
//!
//! On a link that has just fallen under the sending rate, pictures are lost, and every
//! receiver that lost one asks for a keyframe (every 250 ms while it waits), as does our own
//! pacer when it drops stale video. A keyframe is many times a P picture: at 300 kbps a
//! 640x360 one takes most of a second to send. Made on every request, keyframes filled the
//! link, each lost in the queue the previous ones had made, and none arrived whole: the
//! pictures stopped for seconds after a step down. libwebrtc throttles the same way. A request
//! that comes too soon is not forgotten: it is honoured once the gap has passed.
//!
//! The time is reckoned at the rate the last keyframe was made at: one made at 1.2 Mbps just
//! before the link fell to 300 kbps was lost in the link's queue within a tenth of a second,
//! and reckoned at the new rate, its successor waited more than a second for nothing.

use std::time::{Duration, Instant};

/// Never closer than this (a loss burst's requests arriving together make one keyframe).
const MIN_GAP: Duration = Duration::from_millis(300);
/// Never further apart than this, however slow the link.
const MAX_GAP: Duration = Duration::from_secs(3);
/// The gap over the keyframe's own sending time: room for the P pictures behind it.
const GAP_OVER_SENDING: f64 = 1.5;

#[derive(Debug, Default)]
pub(crate) struct KeyframeGate {
    /// When the last keyframe was made, its size (bits) and the rate it was made at (bps).
    last: Option<(Instant, u64, u64)>,
}

impl KeyframeGate {
    /// Whether a keyframe may be made at `now`.
    pub(crate) fn allows(&self, now: Instant) -> bool {
        let Some((at, bits, rate_bps)) = self.last else {
            return true;
        };
        let sending = bits as f64 / rate_bps.max(1) as f64;
        let gap = Duration::from_secs_f64((sending * GAP_OVER_SENDING).min(MAX_GAP.as_secs_f64()))
            .max(MIN_GAP);
        now.saturating_duration_since(at) >= gap
    }

    /// A keyframe of `bytes` was made at `now`, the encoder sending at `rate_bps` (asked for
    /// or not: the encoder's first, a new size).
    pub(crate) fn made(&mut self, now: Instant, bytes: usize, rate_bps: u64) {
        self.last = Some((now, bytes as u64 * 8, rate_bps));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyframe_waits_for_the_last_one_to_cross_the_link() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut gate = KeyframeGate::default();
        assert!(gate.allows(t0), "the first one at once");
        // 30 KB at 300 kbps: 0.8 s to send, so 1.2 s apart.
        gate.made(t0, 30_000, 300_000);
        assert!(!gate.allows(at(250)));
        assert!(!gate.allows(at(1_100)));
        assert!(gate.allows(at(1_200)));
        // The same keyframe made on a fast link (and lost when it fell): only the least gap.
        gate.made(t0, 30_000, 10_000_000);
        assert!(!gate.allows(at(200)));
        assert!(gate.allows(at(300)));
        // On a crawl, never more than 3 s.
        gate.made(t0, 30_000, 10_000);
        assert!(!gate.allows(at(2_900)));
        assert!(gate.allows(at(3_000)));
    }
}
