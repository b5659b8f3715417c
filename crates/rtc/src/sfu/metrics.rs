//! The forwarding's counters, for the server's `/metrics` and the capacity benchmarks. One
//! instance per server (it rides in [`super::MediaConfig`]), shared by every room: Prometheus
//! wants the process's totals, and a test running several servers in one process must not see
//! the others' packets.
//!
//! Counters only grow. Gauges are held by guards ([`SfuMetrics::hold`]) that the thing being
//! counted owns, so a connection or track that goes away by any path (closed, replaced, dropped
//! with its room) is uncounted with it.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// Packets and their RTP bytes (header and payload).
#[derive(Debug, Default)]
pub struct Flow {
    packets: AtomicU64,
    bytes: AtomicU64,
}

impl Flow {
    /// One packet of `bytes`.
    pub fn add(&self, bytes: usize) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Packets so far.
    pub fn packets(&self) -> u64 {
        self.packets.load(Ordering::Relaxed)
    }

    /// Bytes so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// A count of things that exist now.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// How many are held now.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Which gauge a [`Held`] counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// A publisher's peer connection.
    PublisherConnection,
    /// A subscriber's peer connection.
    SubscriberConnection,
    /// A track the server receives from a publisher.
    Publication,
    /// A publication sent on to one subscriber.
    ForwardedTrack,
}

/// One unit of a gauge, given back when dropped.
#[derive(Debug)]
pub struct Held {
    metrics: Arc<SfuMetrics>,
    what: Counted,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.metrics
            .gauge(self.what)
            .0
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Everything the SFU counts.
#[derive(Debug, Default)]
pub struct SfuMetrics {
    /// RTP read from publishers' tracks, refused streams included.
    pub received: Flow,
    /// RTP written to subscribers' tracks (retransmissions answering NACKs not included).
    pub forwarded: Flow,
    /// Packets a subscriber's forwarding skipped because it fell behind, or whose write failed
    /// after the connection was up.
    pub dropped: AtomicU64,
    /// Packets subscribers asked to be sent again (each NACK entry counts the packets it names).
    pub nacked: AtomicU64,
    /// Keyframe requests (PLI) sent to publishers, after merging.
    pub keyframe_requests: AtomicU64,
    publisher_connections: Gauge,
    subscriber_connections: Gauge,
    publications: Gauge,
    forwarded_tracks: Gauge,
}

impl SfuMetrics {
    /// One more of `what`, until the returned guard drops.
    pub fn hold(self: &Arc<Self>, what: Counted) -> Held {
        self.gauge(what).0.fetch_add(1, Ordering::Relaxed);
        Held {
            metrics: Arc::clone(self),
            what,
        }
    }

    /// The gauge for `what`.
    pub fn gauge(&self, what: Counted) -> &Gauge {
        match what {
            Counted::PublisherConnection => &self.publisher_connections,
            Counted::SubscriberConnection => &self.subscriber_connections,
            Counted::Publication => &self.publications,
            Counted::ForwardedTrack => &self.forwarded_tracks,
        }
    }

    pub(crate) fn count(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Packets a batch of RTCP asks to be sent again (generic NACK: each entry names one packet
/// and up to 16 after it).
pub(crate) fn nacked_packets(packets: &[Box<dyn rtc::rtcp::Packet>]) -> u64 {
    use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
    packets
        .iter()
        .filter_map(|p| p.as_any().downcast_ref::<TransportLayerNack>())
        .flat_map(|n| n.nacks.iter())
        .map(|pair| 1 + u64::from(pair.lost_packets.count_ones()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gauge_counts_what_is_held_and_forgets_what_is_dropped() {
        let m = Arc::new(SfuMetrics::default());
        let a = m.hold(Counted::Publication);
        let b = m.hold(Counted::Publication);
        let c = m.hold(Counted::SubscriberConnection);
        assert_eq!(m.gauge(Counted::Publication).get(), 2);
        drop(a);
        assert_eq!(m.gauge(Counted::Publication).get(), 1);
        drop((b, c));
        assert_eq!(m.gauge(Counted::Publication).get(), 0);
        assert_eq!(m.gauge(Counted::SubscriberConnection).get(), 0);
    }

    #[test]
    fn a_nack_counts_every_packet_it_names() {
        use rtc::rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};
        let nack = TransportLayerNack {
            sender_ssrc: 1,
            media_ssrc: 2,
            nacks: vec![
                NackPair {
                    packet_id: 10,
                    lost_packets: 0b101,
                },
                NackPair {
                    packet_id: 40,
                    lost_packets: 0,
                },
            ],
        };
        let batch: Vec<Box<dyn rtc::rtcp::Packet>> = vec![Box::new(nack)];
        assert_eq!(nacked_packets(&batch), 4);
    }
}
