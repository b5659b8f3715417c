//! Who may hold a connection: a global and a per-address cap, each connection holding a
//! [`Slot`] until its last task ends; and what the accept loop does when the process is out of
//! file descriptors (back off, say so once per interval, never spin).

use crate::config::Admission;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::warn;

/// Open connections, in all and per address.
#[derive(Debug)]
pub(crate) struct Gate {
    limits: Admission,
    open: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    Server,
    Address,
}

/// One admitted connection; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Slot {
    gate: Arc<Gate>,
    ip: IpAddr,
}

impl Gate {
    pub fn new(limits: Admission) -> Arc<Gate> {
        Arc::new(Gate {
            limits,
            open: Mutex::new(Counts::default()),
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Each critical section is a counter update: a poisoned lock holds consistent counts.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Full> {
        let mut counts = self.counts();
        if counts.total >= self.limits.max_connections {
            return Err(Full::Server);
        }
        let from_ip = counts.by_ip.entry(ip).or_default();
        if *from_ip >= self.limits.max_connections_per_ip {
            return Err(Full::Address);
        }
        *from_ip += 1;
        counts.total += 1;
        Ok(Slot {
            gate: Arc::clone(self),
            ip,
        })
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.counts().total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.gate.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.by_ip.remove(&self.ip);
            }
        }
    }
}

/// The reply to a connection beyond a cap: a plain HTTP 503 written without parsing anything,
/// so that refusing costs almost nothing and the client hears why.
pub(crate) fn refusal(full: Full) -> &'static [u8] {
    match full {
        Full::Server => b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 37\r\n\r\nthe server is at its connection cap\r\n",
        Full::Address => b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 40\r\n\r\ntoo many connections from your address\r\n",
    }
}

/// Whether an accept error means the process (or system) is out of a resource that frees up
/// later, rather than one connection having failed.
pub(crate) fn is_resource_exhaustion(e: &io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM on Linux.
    matches!(e.raw_os_error(), Some(24 | 23 | 105 | 12))
}

/// Pauses between accepts while resources are exhausted, doubling to a second, and logs one
/// line per interval however many accepts failed.
#[derive(Debug)]
pub(crate) struct AcceptBackoff {
    pause: Duration,
    failures: u64,
    since: Option<Instant>,
}

/// At most one "accept is failing" line per this interval.
const LOG_EVERY: Duration = Duration::from_secs(5);
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const MAX_PAUSE: Duration = Duration::from_secs(1);

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff {
            pause: FIRST_PAUSE,
            failures: 0,
            since: None,
        }
    }
}

impl AcceptBackoff {
    /// An accept failed with a resource error: how long to pause before the next.
    pub fn failed(&mut self, e: &io::Error, open: usize, now: Instant) -> Duration {
        self.failures += 1;
        let first = self.since.is_none();
        let since = *self.since.get_or_insert(now);
        if first || now.duration_since(since) >= LOG_EVERY {
            warn!(
                error = %e,
                failures = self.failures,
                open_connections = open,
                pause_ms = self.pause.as_millis() as u64,
                "cannot accept connections (out of file descriptors?); backing off"
            );
            self.since = Some(now);
            self.failures = 0;
        }
        let pause = self.pause;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        pause
    }

    /// An accept succeeded: resources are back.
    pub fn succeeded(&mut self) {
        if self.since.is_some() {
            tracing::info!("accepting connections again");
        }
        *self = AcceptBackoff::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_ip: usize) -> Admission {
        Admission {
            max_connections: total,
            max_connections_per_ip: per_ip,
            ..Admission::default()
        }
    }

    #[test]
    fn caps_hold_and_places_free_when_slots_drop() {
        let gate = Gate::new(limits(3, 2));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let a1 = gate.admit(a).unwrap();
        let _a2 = gate.admit(a).unwrap();
        assert_eq!(gate.admit(a).unwrap_err(), Full::Address);
        let _b1 = gate.admit(b).unwrap();
        assert_eq!(gate.admit(b).unwrap_err(), Full::Server);
        drop(a1);
        assert_eq!(gate.open(), 2);
        assert!(gate.admit(a).is_ok(), "a freed place is usable at once");
    }

    #[test]
    fn refusals_are_whole_http_responses() {
        for full in [Full::Server, Full::Address] {
            let text = std::str::from_utf8(refusal(full)).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with("HTTP/1.1 503 "));
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(
                length,
                body.len(),
                "{full:?}: a client reads exactly the body"
            );
        }
    }

    #[test]
    fn exhaustion_backs_off_to_a_second_and_logs_per_interval() {
        let mut b = AcceptBackoff::default();
        let e = io::Error::from_raw_os_error(24);
        assert!(is_resource_exhaustion(&e));
        assert!(!is_resource_exhaustion(&io::Error::from_raw_os_error(103)));
        let t = Instant::now();
        let pauses: Vec<Duration> = (0..10).map(|_| b.failed(&e, 5, t)).collect();
        assert_eq!(pauses[0], FIRST_PAUSE);
        assert_eq!(pauses[1], FIRST_PAUSE * 2);
        assert_eq!(*pauses.last().unwrap(), MAX_PAUSE);
        b.succeeded();
        assert_eq!(b.failed(&e, 0, t), FIRST_PAUSE);
    }
}
