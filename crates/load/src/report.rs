//! What a run measured, as one JSON document on stdout (for scripts and tests) and a summary on
//! stderr (for people).

use serde::Serialize;
use std::collections::HashMap;
use trtc_protocol::rtp::StreamKind;
use trtc_rtc::client::ReceiveCounters;

/// One participant's receive counters at one moment, by (sender, kind).
pub type Snapshot = HashMap<(String, StreamKind), ReceiveCounters>;

#[derive(Debug, Serialize)]
pub struct Report {
    pub layout: Layout,
    /// Seconds between the two readings every rate is computed over.
    pub window_s: f64,
    /// The window in intervals: loss and the server's memory and CPU as the run went on.
    pub timeline: Vec<crate::timeline::Sample>,
    pub joins: Joins,
    /// Participants that ended before being told to (the server closed them, a connection
    /// failed), with why; the first few.
    pub failures: Vec<String>,
    pub senders: Vec<Sender>,
    pub receivers: Vec<Receiver>,
    pub totals: Totals,
    /// Our server's counters, or any server's process figures (`None` when not asked for).
    pub server: Option<Server>,
}

#[derive(Debug, Serialize)]
pub struct Layout {
    pub rooms: usize,
    pub publishers_per_room: usize,
    pub subscribers_per_room: usize,
    pub scene: String,
    pub video: Option<String>,
    pub audio: bool,
}

/// onEnterRoom of every participant: time from opening the connection to the result.
#[derive(Debug, Default, Serialize)]
pub struct Joins {
    pub attempted: usize,
    pub entered: usize,
    /// The first few errors, as they were reported.
    pub errors: Vec<String>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One publisher over the window: what it sent, and what its congestion controller made of the
/// server's feedback (a server whose feedback throttles senders carries less than was offered).
#[derive(Debug, Serialize)]
pub struct Sender {
    pub user: String,
    pub packets: u64,
    pub kbps: f64,
    /// The congestion controller's target at the window's end.
    pub target_kbps: f64,
    /// Packets the server's transport feedback reported lost, over the whole run.
    pub feedback_lost: u64,
}

/// A sender's reading over the window, from its stats at the start and the end.
pub fn sender(
    user: &str,
    start: &trtc_rtc::client::PublisherStats,
    end: &trtc_rtc::client::PublisherStats,
    window_s: f64,
) -> Sender {
    let sum = |s: &trtc_rtc::client::PublisherStats| {
        s.sent
            .values()
            .fold((0u64, 0u64), |(p, b), c| (p + c.packets, b + c.bytes))
    };
    let ((p0, b0), (p1, b1)) = (sum(start), sum(end));
    Sender {
        user: user.to_owned(),
        packets: p1.saturating_sub(p0),
        kbps: b1.saturating_sub(b0) as f64 * 8.0 / 1000.0 / window_s.max(1e-9),
        target_kbps: end.target_bps as f64 / 1000.0,
        feedback_lost: end.feedback_lost,
    }
}

#[derive(Debug, Serialize)]
pub struct Receiver {
    pub user: String,
    pub room: u32,
    /// Streams it should receive (every other publisher's audio and video in its room).
    pub expected: usize,
    /// Expected streams that never arrived.
    pub missing: Vec<String>,
    pub streams: Vec<Stream>,
}

/// One remote stream at one receiver, over the window, except `run_*` (the whole run).
#[derive(Debug, Serialize)]
pub struct Stream {
    pub from: String,
    pub kind: &'static str,
    pub packets: u64,
    pub lost: u64,
    pub kbps: f64,
    pub jitter_ms: f64,
    pub run_packets: u64,
    pub run_lost: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Totals {
    pub streams_expected: usize,
    pub streams_missing: usize,
    pub window_packets: u64,
    pub window_lost: u64,
    pub loss_pct: f64,
    /// Over the whole run, after publishers went quiet and everything in flight arrived.
    pub run_packets: u64,
    pub run_lost: u64,
    pub video_kbps_min: f64,
    pub video_kbps_median: f64,
    pub audio_kbps_median: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct Server {
    /// CPU seconds over the window (`--server-pid`).
    pub cpu_s: Option<f64>,
    pub cpu_pct_of_core: Option<f64>,
    /// CPU per packet forwarded in the window: `/metrics`' count, else what receivers counted.
    pub cpu_us_per_packet: Option<f64>,
    pub rss_bytes: Option<u64>,
    /// From `/metrics`, over the window.
    pub forwarded_packets: Option<u64>,
    /// From `/metrics`, from before the first join to after the publishers went quiet.
    pub run_forwarded_packets: Option<u64>,
    pub run_nacked_packets: Option<u64>,
    pub run_dropped_packets: Option<u64>,
    pub run_keyframe_requests: Option<u64>,
}

/// Percentile `p` (0–100) of sorted values, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One receiver's streams from its readings at the window's start and end and at the run's end.
pub fn receiver(
    user: &str,
    room: u32,
    expected: &[(String, StreamKind)],
    start: &Snapshot,
    end: &Snapshot,
    last: &Snapshot,
    window_s: f64,
) -> Receiver {
    let mut streams: Vec<Stream> = last
        .iter()
        .map(|(key, run)| {
            let zero = ReceiveCounters::default();
            let a = start.get(key).unwrap_or(&zero);
            let b = end.get(key).unwrap_or(&zero);
            Stream {
                from: key.0.clone(),
                kind: kind_name(key.1),
                packets: b.packets.saturating_sub(a.packets),
                lost: b.lost.saturating_sub(a.lost),
                kbps: b.bytes.saturating_sub(a.bytes) as f64 * 8.0 / window_s / 1000.0,
                jitter_ms: b.jitter_ms,
                run_packets: run.packets,
                run_lost: run.lost,
            }
        })
        .collect();
    streams.sort_by(|x, y| (&x.from, x.kind).cmp(&(&y.from, y.kind)));
    let missing = expected
        .iter()
        .filter(|k| last.get(*k).is_none_or(|c| c.packets == 0))
        .map(|(u, k)| format!("{u} {}", kind_name(*k)))
        .collect();
    Receiver {
        user: user.to_owned(),
        room,
        expected: expected.len(),
        missing,
        streams,
    }
}

pub fn totals(receivers: &[Receiver]) -> Totals {
    let mut t = Totals::default();
    let (mut video, mut audio) = (vec![], vec![]);
    for r in receivers {
        t.streams_expected += r.expected;
        t.streams_missing += r.missing.len();
        for s in &r.streams {
            t.window_packets += s.packets;
            t.window_lost += s.lost;
            t.run_packets += s.run_packets;
            t.run_lost += s.run_lost;
            if s.kind == "audio" {
                audio.push(s.kbps);
            } else {
                video.push(s.kbps);
            }
        }
    }
    let sent = t.window_packets + t.window_lost;
    t.loss_pct = if sent == 0 {
        0.0
    } else {
        100.0 * t.window_lost as f64 / sent as f64
    };
    video.sort_by(f64::total_cmp);
    audio.sort_by(f64::total_cmp);
    t.video_kbps_min = video.first().copied().unwrap_or(0.0);
    t.video_kbps_median = percentile(&video, 50.0);
    t.audio_kbps_median = percentile(&audio, 50.0);
    t
}

fn kind_name(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Audio => "audio",
        StreamKind::Big => "video",
        StreamKind::Sub => "screen",
    }
}

/// The lines a person reads.
pub fn summary(r: &Report) -> String {
    let mut s = format!(
        "room-load: {} room(s) × ({} publishers + {} subscribers), {}, window {:.1} s\n\
         joins: {}/{} entered, onEnterRoom p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n\
         streams: {} expected, {} missing; packets {} (lost {}, {:.3} %); video kbps min {:.0} median {:.0}; audio kbps median {:.0}\n",
        r.layout.rooms,
        r.layout.publishers_per_room,
        r.layout.subscribers_per_room,
        r.layout.scene,
        r.window_s,
        r.joins.entered,
        r.joins.attempted,
        r.joins.p50_ms,
        r.joins.p99_ms,
        r.joins.max_ms,
        r.totals.streams_expected,
        r.totals.streams_missing,
        r.totals.window_packets,
        r.totals.window_lost,
        r.totals.loss_pct,
        r.totals.video_kbps_min,
        r.totals.video_kbps_median,
        r.totals.audio_kbps_median,
    );
    for p in &r.senders {
        s.push_str(&format!(
            "sender {}: {} packets, {:.0} kbps, congestion target {:.0} kbps, {} reported lost\n",
            p.user, p.packets, p.kbps, p.target_kbps, p.feedback_lost
        ));
    }
    if let Some(server) = &r.server {
        s.push_str(&format!(
            "server: cpu {:?} s ({:?} % of a core), {:?} µs/packet, rss {:?} B, forwarded {:?}\n",
            server.cpu_s.map(|v| (v * 100.0).round() / 100.0),
            server.cpu_pct_of_core.map(|v| v.round()),
            server.cpu_us_per_packet.map(|v| (v * 10.0).round() / 10.0),
            server.rss_bytes,
            server.forwarded_packets,
        ));
    }
    for e in &r.joins.errors {
        s.push_str(&format!("join error: {e}\n"));
    }
    for e in &r.failures {
        s.push_str(&format!("failed: {e}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn a_stream_that_never_arrived_is_missing_and_rates_cover_the_window() {
        let key = ("p1".to_owned(), StreamKind::Big);
        let at = |packets, bytes| {
            Snapshot::from([(
                key.clone(),
                ReceiveCounters {
                    packets,
                    bytes,
                    ..Default::default()
                },
            )])
        };
        let expected = vec![key.clone(), ("p1".to_owned(), StreamKind::Audio)];
        let r = receiver(
            "s1",
            1,
            &expected,
            &at(10, 1_000),
            &at(110, 251_000),
            &at(120, 260_000),
            2.0,
        );
        assert_eq!(r.missing, vec!["p1 audio".to_owned()]);
        assert_eq!(r.streams[0].packets, 100);
        assert_eq!(r.streams[0].kbps, 1000.0);
        assert_eq!(r.streams[0].run_packets, 120);
        let t = totals(&[r]);
        assert_eq!(
            (t.streams_expected, t.streams_missing, t.run_packets),
            (2, 1, 120)
        );
    }
}
