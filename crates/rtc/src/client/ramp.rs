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
    /// The hold of the last back-off, until it lifts.
    held: Option<Hold>,
}

/// A back-off's hold on the way up.
#[derive(Debug, Clone, Copy)]
struct Hold {
    since: Instant,
    /// The rate backed off to.
    from: f64,
    /// A standing queue's cut began it, not one of GCC's own back-offs.
    queue_cut: bool,
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
            self.held = Some(Hold {
                since: now,
                from: rate,
                queue_cut: true,
            });
            self.last = rate;
            self.at = Some(now);
        }
    }

    pub(super) fn limit(&mut self, now: Instant, target: f64) -> f64 {
        if self.last > 0.0 && target < self.last * (1.0 - Self::BACKOFF) {
            self.held = Some(Hold {
                since: now,
                from: target,
                queue_cut: false,
            });
        }
        let limited = match self.held {
            Some(Hold { since, from, .. }) => {
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

    /// Whether a standing queue's cut began the hold that is on.
    pub(super) fn held_since_a_queue_cut(&self) -> bool {
        self.held.is_some_and(|h| h.queue_cut)
    }
}

#[cfg(test)]
mod tests {
    use super::CarefulRamp;
    use std::time::{Duration, Instant};

    #[test]
    fn after_a_back_off_the_target_climbs_slowly_until_it_has_doubled() {
        let t0 = Instant::now();
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        let mut ramp = CarefulRamp::default();
        assert_eq!(ramp.limit(at(0.0), 1_000_000.0), 1_000_000.0);
        assert_eq!(
            ramp.limit(at(1.0), 950_000.0),
            950_000.0,
            "no back-off: followed"
        );
        assert_eq!(
            ramp.limit(at(2.0), 150_000.0),
            150_000.0,
            "a back-off is followed at once"
        );
        assert!(
            !ramp.held_since_a_queue_cut(),
            "held, by one of GCC's own back-offs"
        );
        let after_10s = ramp.limit(at(12.0), 900_000.0);
        assert!(
            (224_000.0..226_000.0).contains(&after_10s),
            "5 % of 150 kbps a second: {after_10s}"
        );
        assert_eq!(
            ramp.limit(at(13.0), 200_000.0),
            200_000.0,
            "lower is followed"
        );
        // 200 kbps is no back-off from 225 (under 15 %), so the hold still runs from 150 kbps
        // and lifts once it has doubled, 20 s after the back-off.
        let doubled = ramp.limit(at(22.5), 900_000.0);
        assert!((300_000.0..310_000.0).contains(&doubled), "{doubled}");
        let free = ramp.limit(at(23.0), 1_200_000.0);
        assert!(
            (doubled * 1.03..doubled * 1.05).contains(&free),
            "GCC's own pace again, not a jump to its target: {free}"
        );
    }

    #[test]
    fn a_cut_is_taken_at_once_and_climbed_back_from_slowly() {
        let t0 = Instant::now();
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        let mut ramp = CarefulRamp::default();
        assert_eq!(ramp.limit(at(0.0), 2_000_000.0), 2_000_000.0);
        ramp.cut(at(0.5), 250_000.0);
        assert!(ramp.held_since_a_queue_cut());
        assert_eq!(
            ramp.last, 250_000.0,
            "the pacer and the encoders get it now"
        );
        let later = ramp.limit(at(2.5), 1_800_000.0);
        assert!(
            (274_000.0..276_000.0).contains(&later),
            "5 % a second from the cut, whatever GCC says: {later}"
        );
        ramp.cut(at(3.0), 400_000.0);
        assert!(ramp.last < 280_000.0, "a cut never raises the target");
    }
}
