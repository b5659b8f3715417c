//! The window read as it goes, not only at its ends: for a long run (the 10-minute audio room)
//! whether loss creeps in and whether the server's memory settles or keeps growing.

use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

/// Readings per window: enough to see a trend, few enough that reading them costs nothing.
const SAMPLES: u32 = 10;
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// One interval of the window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Sample {
    /// Seconds from the window's start to this reading.
    pub t_s: f64,
    /// Packets the receivers counted, and gave up as lost, in this interval.
    pub packets: u64,
    pub lost: u64,
    /// The server process's resident memory at this reading, and its CPU over the interval.
    pub server_rss_bytes: Option<u64>,
    pub server_cpu_pct: Option<f64>,
}

/// Waits out a window of `length`, reading [`SAMPLES`] times what the receivers counted so far
/// (`count`: packets, lost) and the server's CPU seconds and RSS (`server`, if watched).
pub async fn record<F>(
    length: Duration,
    count: impl Fn() -> (u64, u64),
    server: impl Fn() -> F,
) -> Vec<Sample>
where
    F: std::future::Future<Output = Option<(f64, u64)>>,
{
    let interval = (length / SAMPLES).max(MIN_INTERVAL);
    let started = Instant::now();
    let (mut before, mut cpu_before) = (count(), server().await.map(|(cpu, _)| cpu));
    let mut at = started;
    let mut samples = vec![];
    while at < started + length {
        let next = (at + interval).min(started + length);
        tokio::time::sleep_until(next).await;
        let now = count();
        let probe = server().await;
        let seconds = next.duration_since(at).as_secs_f64();
        samples.push(Sample {
            t_s: started.elapsed().as_secs_f64(),
            packets: now.0.saturating_sub(before.0),
            lost: now.1.saturating_sub(before.1),
            server_rss_bytes: probe.map(|(_, rss)| rss),
            server_cpu_pct: match (cpu_before, probe) {
                (Some(a), Some((b, _))) if seconds > 0.0 => Some(100.0 * (b - a) / seconds),
                _ => None,
            },
        });
        (before, cpu_before, at) = (now, probe.map(|(cpu, _)| cpu), next);
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test(start_paused = true)]
    async fn each_sample_holds_its_own_interval() {
        let counted = Cell::new((0u64, 0u64));
        let count = || {
            // 100 packets and 1 lost per call after the first.
            let c = counted.get();
            counted.set((c.0 + 100, c.1 + 1));
            c
        };
        let samples = record(Duration::from_secs(20), count, || async { None }).await;
        assert_eq!(samples.len(), 10);
        assert!(samples.iter().all(|s| s.packets == 100 && s.lost == 1));
        assert!((samples[9].t_s - 20.0).abs() < 0.01, "{:?}", samples[9]);
        assert!(samples.iter().all(|s| s.server_rss_bytes.is_none()));
    }
}
