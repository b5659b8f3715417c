//! Rate limits on one connection's signalling. A person clicks a few times a second and the
//! SDK sends a handful of messages per change; a client sending far more is broken or hostile,
//! and every mediaState it sends becomes events at every other member. Excess messages are
//! answered with −3 and not acted on; a client that keeps going is closed (1008).

use std::time::Instant;

/// Tokens refill continuously up to `capacity`; each message takes one.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    capacity: f64,
    per_sec: f64,
    at: Instant,
}

impl Bucket {
    fn new(capacity: u32, per_sec: u32, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(capacity),
            capacity: f64::from(capacity),
            per_sec: f64::from(per_sec),
            at: now,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What to do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    /// Answer with −3 and drop it.
    Refuse,
    /// Persistent abuse: close the connection with 1008.
    Close,
}

/// One connection's limits.
#[derive(Debug)]
pub(crate) struct Limiter {
    /// Every frame, before it is parsed.
    frames: Bucket,
    /// mediaState: each one may fan out to every member.
    media_state: Bucket,
    /// Refusals the client may collect before it is closed; forgiven slowly.
    patience: Bucket,
    /// Patience ran out: the connection is to be closed, whichever check noticed.
    exhausted: bool,
}

/// Burst and sustained rate of frames of any kind.
pub(crate) const FRAMES: (u32, u32) = (200, 50);
/// Burst and sustained rate of mediaState changes.
pub(crate) const MEDIA_STATES: (u32, u32) = (10, 5);
/// Refused messages tolerated in a burst, and forgiven per second.
pub(crate) const PATIENCE: (u32, u32) = (100, 5);

impl Limiter {
    pub fn new(now: Instant) -> Limiter {
        Limiter {
            frames: Bucket::new(FRAMES.0, FRAMES.1, now),
            media_state: Bucket::new(MEDIA_STATES.0, MEDIA_STATES.1, now),
            patience: Bucket::new(PATIENCE.0, PATIENCE.1, now),
            exhausted: false,
        }
    }

    /// A frame arrived.
    pub fn frame(&mut self, now: Instant) -> Verdict {
        if self.exhausted {
            Verdict::Close
        } else if self.frames.take(now) {
            Verdict::Pass
        } else {
            self.refused(now)
        }
    }

    /// The frame was a mediaState.
    pub fn media_state(&mut self, now: Instant) -> Verdict {
        if self.exhausted {
            Verdict::Close
        } else if self.media_state.take(now) {
            Verdict::Pass
        } else {
            self.refused(now)
        }
    }

    /// Whether the client has used up its patience (the connection must close).
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }

    fn refused(&mut self, now: Instant) -> Verdict {
        if self.patience.take(now) {
            Verdict::Refuse
        } else {
            self.exhausted = true;
            Verdict::Close
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_flood_is_refused_then_closed_and_a_calm_client_never_is() {
        let t = Instant::now();
        let mut l = Limiter::new(t);
        let verdicts: Vec<Verdict> = (0..500).map(|_| l.media_state(t)).collect();
        let passed = verdicts.iter().filter(|v| **v == Verdict::Pass).count();
        assert_eq!(passed, MEDIA_STATES.0 as usize);
        assert_eq!(verdicts[MEDIA_STATES.0 as usize], Verdict::Refuse);
        let closed_at = verdicts.iter().position(|v| *v == Verdict::Close).unwrap();
        assert_eq!(closed_at, (MEDIA_STATES.0 + PATIENCE.0) as usize);
        assert!(l.exhausted());
        assert_eq!(
            l.frame(t),
            Verdict::Close,
            "once closed, every check says so"
        );

        // Ten changes a second for a minute, with a frame of other traffic each time.
        let mut calm = Limiter::new(t);
        for i in 0..600u32 {
            let now = t + Duration::from_millis(u64::from(i) * 100);
            assert_eq!(calm.frame(now), Verdict::Pass);
            if i % 2 == 0 {
                assert_eq!(calm.media_state(now), Verdict::Pass, "change {i}");
            }
        }
    }
}
