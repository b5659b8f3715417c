//! The retransmissions' token bucket (see `pacer.rs`).

use super::pacer::{RESEND_BURST, RESEND_BURST_PACKETS};
use std::time::Instant;

/// A token bucket for retransmissions: refills at its rate, holds [`RESEND_BURST`] of it.
#[derive(Debug)]
pub(super) struct Budget {
    rate_bps: f64,
    bits: f64,
    at: Option<Instant>,
}

impl Budget {
    /// A full-sized packet, bits.
    const PACKET_BITS: f64 = 1_500.0 * 8.0;

    pub(super) fn new(rate_bps: f64) -> Self {
        let mut b = Budget {
            rate_bps,
            bits: 0.0,
            at: None,
        };
        b.bits = b.cap();
        b
    }

    fn cap(&self) -> f64 {
        (self.rate_bps * RESEND_BURST.as_secs_f64()).max(RESEND_BURST_PACKETS * Self::PACKET_BITS)
    }

    pub(super) fn set_rate(&mut self, rate_bps: f64) {
        self.rate_bps = rate_bps;
        self.bits = self.bits.min(self.cap());
    }

    /// Spends `bits` if they are there.
    pub(super) fn take(&mut self, now: Instant, bits: f64) -> bool {
        if let Some(at) = self.at {
            let secs = now.saturating_duration_since(at).as_secs_f64();
            self.bits = (self.bits + secs * self.rate_bps).min(self.cap());
        }
        self.at = Some(now);
        if self.bits < bits {
            return false;
        }
        self.bits -= bits;
        true
    }
}
