//! The way back up after a back-off.

use std::time::Instant;

/// After a back-off, the way up is taken slowly: GCC alone climbed straight back over a link
/// it had just overrun (through a 300 kbps cap it fell to ~150 kbps, then was at 320 within
/// 8 s and lost pictures again; at 8 %/s it still reached the link by the end of a 15 s
/// squeeze). From the rate it backed off to, the target may grow by
/// [`Self::GROWTH`] of that rate per second, additively, until it has doubled; then at GCC's
/// own nominal pace ([`Self::FREE_GROWTH`] a second), never in a jump: GCC's target may
/// have run far ahead meanwhile (a full queue's flat delay reads "normal" to it).
#[derive(Debug, Default)]
pub(super) struct CarefulRamp {
    /// The last target given out, and when.
    pub(super) last: f64,
    at: Option<Instant>,
    /// When the last back-off was, and the rate it went to.
    pub(super) held: Option<(Instant, f64)>,
}

impl CarefulRamp {
    /// A drop of more than this share of the target is a back-off.
    const BACKOFF: f64 = 0.15;
    const GROWTH: f64 = 0.05;
    /// GCC's increase factor a second (webrtc 0.21's `DEFAULT_INCREASE_FACTOR`).
    const FREE_GROWTH: f64 = 1.08;

    /// A back-off to `rate` found outside GCC (a standing queue): taken at once, and the way
    /// back up from it is as careful as from one of GCC's own.
    pub(super) fn cut(&mut self, now: Instant, rate: f64) {
        if self.last == 0.0 || rate < self.last {
            self.held = Some((now, rate));
            self.last = rate;
            self.at = Some(now);
        }
    }

    pub(super) fn limit(&mut self, now: Instant, target: f64) -> f64 {
        if self.last > 0.0 && target < self.last * (1.0 - Self::BACKOFF) {
            self.held = Some((now, target));
        }
        let limited = match self.held {
            Some((since, from)) => {
                let allowed = from * (1.0 + Self::GROWTH * now.duration_since(since).as_secs_f64());
                if allowed >= 2.0 * from {
                    self.held = None;
                }
                target.min(allowed)
            }
            None => match self.at {
                Some(at) if self.last > 0.0 => {
                    let secs = now.saturating_duration_since(at).as_secs_f64().min(1.0);
                    target.min(self.last * Self::FREE_GROWTH.powf(secs))
                }
                _ => target,
            },
        };
        self.last = limited;
        self.at = Some(now);
        limited
    }
}
