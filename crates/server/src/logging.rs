//! Logs that anyone on the network cannot flood. Junk datagrams at a media port, or a client
//! doing the same wrong thing a thousand times, make the WebRTC library (or our code) warn
//! once per packet; written out, that is megabytes of identical lines and a disk that fills.
//! Warnings and errors from one source (one line of code, whichever crate) are let through
//! [`BURST`] times per [`WINDOW`]; the rest are counted and summarised once per window.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Lines from one source written per window before the rest are counted instead.
pub const BURST: u32 = 10;
/// The window, and how often suppressed counts are reported.
pub const WINDOW: Duration = Duration::from_secs(10);
/// The summary lines' own target: never limited.
const SUMMARY_TARGET: &str = "trtc_server::log_summary";

#[derive(Debug)]
struct Source {
    /// `target file:line`, for the summary.
    name: String,
    window_start: Instant,
    written: u32,
    suppressed: u64,
}

/// Counts warnings per source; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct RepeatLimit {
    sources: Arc<Mutex<HashMap<u64, Source>>>,
}

impl RepeatLimit {
    fn sources(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Source>> {
        self.sources.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a warning from `key` may be written at `now`.
    fn admit(&self, key: u64, name: impl FnOnce() -> String, now: Instant) -> bool {
        let mut sources = self.sources();
        let source = sources.entry(key).or_insert_with(|| Source {
            name: name(),
            window_start: now,
            written: 0,
            suppressed: 0,
        });
        if now.duration_since(source.window_start) >= WINDOW && source.suppressed == 0 {
            source.window_start = now;
            source.written = 0;
        }
        if source.written < BURST {
            source.written += 1;
            true
        } else {
            source.suppressed += 1;
            false
        }
    }

    /// Sources that suppressed lines in a window that has ended, with how many; their
    /// windows start again.
    pub fn take_summaries(&self, now: Instant) -> Vec<(String, u64)> {
        let mut out = vec![];
        for source in self.sources().values_mut() {
            if now.duration_since(source.window_start) >= WINDOW {
                if source.suppressed > 0 {
                    out.push((source.name.clone(), source.suppressed));
                }
                source.window_start = now;
                source.written = 0;
                source.suppressed = 0;
            }
        }
        out
    }
}

impl<S: Subscriber> Layer<S> for RepeatLimit {
    fn event_enabled(&self, event: &Event<'_>, _cx: Context<'_, S>) -> bool {
        // `log` records (the WebRTC crates) all share one callsite per level; their own
        // target, file and line are in the normalised metadata.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        if *meta.level() > Level::WARN || meta.target() == SUMMARY_TARGET {
            return true;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (meta.target(), meta.file(), meta.line()).hash(&mut h);
        let name = || {
            format!(
                "{} {}:{}",
                meta.target(),
                meta.file().unwrap_or("?"),
                meta.line().unwrap_or(0)
            )
        };
        self.admit(h.finish(), name, Instant::now())
    }
}

/// Installs the process's logging (stderr, text or JSON lines, `RUST_LOG` or `info`) with
/// repeated warnings limited, and a thread that reports what was suppressed.
pub fn init(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let limit = RepeatLimit::default();
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(limit.clone());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if json {
        registry.with(fmt.json()).init();
    } else {
        registry.with(fmt).init();
    }
    std::thread::Builder::new()
        .name("log-summary".into())
        .spawn(move || loop {
            std::thread::sleep(WINDOW);
            for (source, suppressed) in limit.take_summaries(Instant::now()) {
                tracing::warn!(target: SUMMARY_TARGET, %source, suppressed, window_s = WINDOW.as_secs(), "repeated warnings suppressed");
            }
        })
        .map(drop)
        .unwrap_or_else(|e| tracing::warn!(error = %e, "no log-summary thread: repeats are dropped without a count"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_writes_its_burst_per_window_and_the_rest_is_counted() {
        let limit = RepeatLimit::default();
        let t = Instant::now();
        let written = (0..100_000)
            .filter(|_| limit.admit(1, || "junk".into(), t))
            .count();
        assert_eq!(written, BURST as usize);
        assert!(
            limit.admit(2, || "other".into(), t),
            "other sources are untouched"
        );
        assert!(
            limit.take_summaries(t).is_empty(),
            "the window has not ended"
        );
        let later = t + WINDOW;
        assert_eq!(
            limit.take_summaries(later),
            vec![("junk".to_string(), 100_000 - u64::from(BURST))]
        );
        assert!(
            limit.admit(1, || "junk".into(), later),
            "a new window writes again"
        );
    }
}
