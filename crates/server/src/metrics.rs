//! `/metrics`: the server's state and the forwarding's counters in Prometheus's text format
//! (version 0.0.4), for an operator's scraper and for the capacity benchmarks, which read the
//! server's side of every figure from here.
//!
//! Written by hand: a dozen lines of text do not need a metrics library's registry, and every
//! value is read at scrape time from where it already lives (the registry, the admission
//! gate, the SFU's atomics, `/proc`), so nothing can drift from what it reports.

use std::fmt::Write;
use trtc_rtc::sfu::metrics::{Counted, SfuMetrics};

/// The server-side numbers that are not the SFU's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerCounts {
    pub rooms: usize,
    pub members: usize,
    pub connections: usize,
}

/// One metric family with its help and type lines.
fn family(out: &mut String, kind: &str, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
    );
}

/// The page for one scrape. `process` is read by the caller, off the async runtime.
pub(crate) fn render(server: ServerCounts, sfu: &SfuMetrics, process: Option<Process>) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let mut out = String::with_capacity(2048);
    let o = &mut out;
    family(o, "gauge", "trtc_rooms", "Rooms open.", server.rooms);
    family(
        o,
        "gauge",
        "trtc_members",
        "Members in rooms (entered, including those waiting to resume).",
        server.members,
    );
    family(
        o,
        "gauge",
        "trtc_connections",
        "Connections admitted: WebSocket signalling, and HTTP requests such as this scrape.",
        server.connections,
    );
    family(
        o,
        "gauge",
        "trtc_sfu_publications",
        "Tracks received from publishers.",
        sfu.gauge(Counted::Publication).get(),
    );
    family(
        o,
        "gauge",
        "trtc_sfu_forwarded_tracks",
        "Publications sent on to a subscriber, one per subscriber and track.",
        sfu.gauge(Counted::ForwardedTrack).get(),
    );
    let _ = write!(
        o,
        "# HELP trtc_sfu_peer_connections Media peer connections.\n\
         # TYPE trtc_sfu_peer_connections gauge\n\
         trtc_sfu_peer_connections{{role=\"publisher\"}} {}\n\
         trtc_sfu_peer_connections{{role=\"subscriber\"}} {}\n",
        sfu.gauge(Counted::PublisherConnection).get(),
        sfu.gauge(Counted::SubscriberConnection).get(),
    );
    let counters = [
        (
            "trtc_sfu_received_packets_total",
            "RTP packets received from publishers.",
            sfu.received.packets(),
        ),
        (
            "trtc_sfu_received_bytes_total",
            "RTP bytes received from publishers.",
            sfu.received.bytes(),
        ),
        (
            "trtc_sfu_forwarded_packets_total",
            "RTP packets forwarded to subscribers (not counting retransmissions).",
            sfu.forwarded.packets(),
        ),
        (
            "trtc_sfu_forwarded_bytes_total",
            "RTP bytes forwarded to subscribers.",
            sfu.forwarded.bytes(),
        ),
        (
            "trtc_sfu_dropped_packets_total",
            "Packets not forwarded to a connected subscriber: it fell behind, or the write failed.",
            sfu.dropped.load(Relaxed),
        ),
        (
            "trtc_sfu_nacked_packets_total",
            "Packets subscribers asked to be sent again (NACK).",
            sfu.nacked.load(Relaxed),
        ),
        (
            "trtc_sfu_keyframe_requests_total",
            "Keyframe requests (PLI) sent to publishers.",
            sfu.keyframe_requests.load(Relaxed),
        ),
    ];
    for (name, help, value) in counters {
        family(o, "counter", name, help, value);
    }
    if let Some(p) = process {
        family(
            o,
            "counter",
            "process_cpu_seconds_total",
            "User and system CPU time spent, seconds.",
            p.cpu_seconds,
        );
        family(
            o,
            "gauge",
            "process_resident_memory_bytes",
            "Resident memory size, bytes.",
            p.rss_bytes,
        );
        family(
            o,
            "gauge",
            "process_open_fds",
            "Open file descriptors.",
            p.open_fds,
        );
        family(o, "gauge", "process_threads", "Threads.", p.threads);
    }
    out
}

/// The process's own figures, from `/proc/self`.
#[derive(Debug, PartialEq)]
pub(crate) struct Process {
    cpu_seconds: f64,
    rss_bytes: u64,
    open_fds: usize,
    threads: u64,
}

/// `/proc` reports times in USER_HZ ticks, which the kernel's ABI fixes at 100 on the
/// architectures we build for (whatever the kernel's own tick rate).
const USER_HZ: f64 = 100.0;

impl Process {
    /// Reads `/proc/self`: file I/O, so callers on the runtime use `spawn_blocking`.
    pub(crate) fn read() -> Option<Process> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count();
        Process::parse(&stat, &status, open_fds)
    }

    fn parse(stat: &str, status: &str, open_fds: usize) -> Option<Process> {
        // The command name (field 2) may hold spaces and parentheses; fields count from the
        // last ')'. utime and stime are fields 14 and 15.
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i - 3)?.parse::<u64>().ok();
        let cpu_seconds = (ticks(14)? + ticks(15)?) as f64 / USER_HZ;
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        };
        Some(Process {
            cpu_seconds,
            rss_bytes: kib("VmRSS:")? * 1024,
            open_fds,
            threads: kib("Threads:")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_figures_are_read_past_a_command_name_with_spaces() {
        let stat = "4242 (room server) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0";
        let status = "Name:\troom server\nVmRSS:\t   20480 kB\nThreads:\t9\n";
        assert_eq!(
            Process::parse(stat, status, 12),
            Some(Process {
                cpu_seconds: 3.25,
                rss_bytes: 20480 * 1024,
                open_fds: 12,
                threads: 9,
            })
        );
    }

    #[test]
    fn every_family_is_typed_and_carries_its_value() {
        let sfu = SfuMetrics::default();
        sfu.forwarded.add(1200);
        let page = render(
            ServerCounts {
                rooms: 2,
                members: 5,
                connections: 6,
            },
            &sfu,
            Process::read(),
        );
        assert!(
            page.contains("# TYPE trtc_rooms gauge\ntrtc_rooms 2\n"),
            "{page}"
        );
        assert!(page.contains("trtc_members 5\n"));
        assert!(page.contains("trtc_sfu_forwarded_packets_total 1\n"));
        assert!(page.contains("trtc_sfu_forwarded_bytes_total 1200\n"));
        assert!(page.contains("trtc_sfu_peer_connections{role=\"subscriber\"} 0\n"));
        assert!(page.contains("process_resident_memory_bytes "));
        for line in page.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap_or_default();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
