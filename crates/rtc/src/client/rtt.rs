//! The media path's round-trip time, from the publisher's sender reports and the server's
//! receiver reports (RFC 3550 §6.4.1): a receiver report names the last sender report it had
//! (its middle 32 NTP bits, LSR) and how long it held it before answering (DLSR, 1/65536 s), so
//! the time since that sender report left, less DLSR, is the round trip.
//!
//! webrtc 0.21 writes both fields correctly but never computes the round trip from them. The
//! signalling heartbeat's round trip, which the statistics used until this, takes another path:
//! TCP to the signalling port, through none of what sits on the media path (a relay, a TURN
//! server, a shaped UDP link), and it never waits behind the pacer's queue the way media does.

use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Sender reports remembered for matching. One per stream about every second; a receiver report
/// answers the latest it had, so the last few seconds of three streams are enough.
const REMEMBERED: usize = 16;
/// The weight of a new sample in the smoothed round trip: twice TCP's SRTT gain (RFC 6298),
/// since a sample comes once a second per stream rather than once a packet, and the statistics
/// that show it are 2 s apart.
const GAIN: f64 = 0.25;
/// A sample above this is a report matched to the wrong sender report (the NTP bits wrap every
/// 18 hours, an SSRC may be reused), not a path.
const LONGEST: Duration = Duration::from_secs(10);

struct Sent {
    ssrc: u32,
    lsr: u32,
    at: Instant,
}

/// Matches receiver reports to the sender reports they answer, and smooths the round trips.
#[derive(Default)]
pub(super) struct RttMeter {
    sent: VecDeque<Sent>,
    smoothed_us: Option<f64>,
}

impl RttMeter {
    /// The smoothed round trip, µs; `None` before the first sample.
    pub(super) fn smoothed_us(&self) -> Option<u64> {
        self.smoothed_us.map(|us| (us as u64).max(1))
    }

    /// RTCP leaving at `now`: its sender reports are remembered.
    pub(super) fn on_write(&mut self, now: Instant, packets: &[Box<dyn rtc::rtcp::Packet>]) {
        for sr in packets
            .iter()
            .filter_map(|p| p.as_any().downcast_ref::<SenderReport>())
        {
            if self.sent.len() == REMEMBERED {
                self.sent.pop_front();
            }
            self.sent.push_back(Sent {
                ssrc: sr.ssrc,
                lsr: (sr.ntp_time >> 16) as u32,
                at: now,
            });
        }
    }

    /// RTCP arriving at `now`: each report block answering one of ours is a sample.
    pub(super) fn on_read(&mut self, now: Instant, packets: &[Box<dyn rtc::rtcp::Packet>]) {
        for p in packets {
            let any = p.as_any();
            let blocks: &[ReceptionReport] = if let Some(rr) = any.downcast_ref::<ReceiverReport>()
            {
                &rr.reports
            } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
                &sr.reports
            } else {
                continue;
            };
            for block in blocks {
                if let Some(sample) = self.sample(now, block) {
                    self.add(sample);
                }
            }
        }
    }

    fn sample(&self, now: Instant, block: &ReceptionReport) -> Option<Duration> {
        // LSR 0: the receiver has had no sender report yet.
        if block.last_sender_report == 0 {
            return None;
        }
        let sent = self
            .sent
            .iter()
            .rev()
            .find(|s| s.ssrc == block.ssrc && s.lsr == block.last_sender_report)?;
        let held = Duration::from_secs_f64(f64::from(block.delay) / 65_536.0);
        let rtt = now.saturating_duration_since(sent.at).checked_sub(held)?;
        (rtt <= LONGEST).then_some(rtt)
    }

    fn add(&mut self, sample: Duration) {
        let us = sample.as_secs_f64() * 1e6;
        let smoothed = match self.smoothed_us {
            Some(s) => s + GAIN * (us - s),
            None => us,
        };
        self.smoothed_us = Some(smoothed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sr(ssrc: u32, ntp_time: u64) -> Vec<Box<dyn rtc::rtcp::Packet>> {
        vec![Box::new(SenderReport {
            ssrc,
            ntp_time,
            ..Default::default()
        })]
    }

    fn rr(ssrc: u32, lsr: u32, delay: u32) -> Vec<Box<dyn rtc::rtcp::Packet>> {
        vec![Box::new(ReceiverReport {
            ssrc: 1,
            reports: vec![ReceptionReport {
                ssrc,
                last_sender_report: lsr,
                delay,
                ..Default::default()
            }],
            ..Default::default()
        })]
    }

    fn ms(meter: &RttMeter) -> u64 {
        meter.smoothed_us().unwrap_or(0) / 1_000
    }

    #[test]
    fn the_round_trip_is_the_time_since_the_report_less_the_receivers_hold() {
        let mut meter = RttMeter::default();
        let t0 = Instant::now();
        meter.on_write(t0, &sr(7, 0x1234_5678_9abc_0000));
        // Held 50 ms (3276.8 units) at the receiver, back 250 ms after it left.
        meter.on_read(t0 + Duration::from_millis(250), &rr(7, 0x5678_9abc, 3_277));
        assert_eq!(ms(&meter), 199);
    }

    #[test]
    fn reports_that_answer_nothing_of_ours_are_not_samples() {
        let mut meter = RttMeter::default();
        let t0 = Instant::now();
        meter.on_write(t0, &sr(7, 0x0000_0001_0000_0000));
        let later = t0 + Duration::from_millis(100);
        // No sender report had reached the receiver yet.
        meter.on_read(later, &rr(7, 0, 0));
        // Another stream's, and an LSR we never sent.
        meter.on_read(later, &rr(8, 0x0001_0000, 0));
        meter.on_read(later, &rr(7, 0x0002_0000, 0));
        // Held longer than it has been away: a clock or a report gone wrong.
        meter.on_read(later, &rr(7, 0x0001_0000, 65_536));
        assert_eq!(meter.smoothed_us(), None);
    }

    #[test]
    fn the_round_trip_follows_the_path_smoothly() {
        let mut meter = RttMeter::default();
        let mut t = Instant::now();
        for (i, rtt_ms) in [20u64; 10].into_iter().chain([220; 20]).enumerate() {
            let ntp = (i as u64 + 1) << 32;
            meter.on_write(t, &sr(7, ntp));
            t += Duration::from_millis(rtt_ms);
            meter.on_read(t, &rr(7, (ntp >> 16) as u32, 0));
            if i == 10 {
                // One sample of a longer path moves it a quarter of the way.
                assert_eq!(ms(&meter), 70);
            }
        }
        assert!((210..=220).contains(&ms(&meter)), "{} ms", ms(&meter));
    }
}
