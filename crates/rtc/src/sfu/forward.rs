//! Forwarding one publication to one subscriber: an outgoing track with its own SSRC, a task
//! copying the publication's packets into it, and one routing the subscriber's keyframe
//! requests back to the publisher.

use super::hub::Publication;
use super::metrics::{nacked_packets, Counted, Held, SfuMetrics};
use crate::setup::{codec, err, rtc_kind, TransportError};
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodingParameters, RTCRtpEncodingParameters};
use rtc::shared::marshal::MarshalSize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tracing::debug;
use trtc_protocol::rtp::StreamKind;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::RtpSender;

/// Outgoing SSRC → the publication it forwards, for routing keyframe requests.
pub(crate) type BySsrc = Arc<parking_lot::Mutex<HashMap<u32, Arc<Publication>>>>;

/// One publication forwarded to this member.
pub(crate) struct Forward {
    pub publication: Arc<Publication>,
    pub sender: Arc<dyn RtpSender>,
    pub ssrc: u32,
    /// The subscriber has applied an offer carrying this track. Before then its packets are
    /// dropped on arrival (an unknown SSRC), yet would be counted as forwarded.
    pub negotiated: Arc<AtomicBool>,
    tasks: [JoinHandle<()>; 2],
    _counted: Held,
}

impl Drop for Forward {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The outgoing track that carries `user_id`'s `kind` to a subscriber, sent as `ssrc`.
pub(crate) fn forwarded_track(user_id: &str, kind: StreamKind, ssrc: u32) -> MediaStreamTrack {
    MediaStreamTrack::new(
        user_id.to_owned(),
        kind.forwarded_track_id(user_id),
        format!("{user_id}-{}", kind.track_id()),
        rtc_kind(kind),
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: codec(kind),
            ..Default::default()
        }],
    )
}

/// Adds an outgoing track for `publication` and starts copying its packets into it.
///
/// Nothing is written until `connected` (DTLS done) and the track is [`Forward::negotiated`]:
/// before then a write can only fail or be dropped by the subscriber, and the WebRTC library
/// logs a warning for each failed one; the subscriber asks for a keyframe once it is connected
/// and for each track it gains by renegotiation.
pub(crate) async fn forward(
    pc: &Arc<dyn PeerConnection>,
    publication: Arc<Publication>,
    by_ssrc: BySsrc,
    connected: Arc<AtomicBool>,
) -> Result<Forward, TransportError> {
    let ssrc: u32 = rand::random();
    by_ssrc.lock().insert(ssrc, Arc::clone(&publication));
    let kind = publication.kind;
    let track = Arc::new(TrackLocalStaticRTP::new(forwarded_track(
        &publication.user_id,
        kind,
        ssrc,
    )));
    let sender = pc
        .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
        .await
        .map_err(err)?;
    let mut packets = publication.packets.subscribe();
    let out = Arc::clone(&track);
    let lagging = Arc::clone(&publication);
    let metrics = Arc::clone(&publication.metrics);
    let counted = metrics.hold(Counted::ForwardedTrack);
    let negotiated = Arc::new(AtomicBool::new(false));
    let usable = Arc::clone(&negotiated);
    let feedback_metrics = Arc::clone(&metrics);
    let copy = tokio::spawn(async move {
        let mut written = 0u64;
        loop {
            match packets.recv().await {
                Ok(_) if !connected.load(Ordering::Relaxed) || !usable.load(Ordering::Relaxed) => {}
                Ok(mut packet) => {
                    // The publication has dropped the publisher's header extensions already.
                    packet.header.ssrc = ssrc;
                    // Until renegotiation binds a new track, its writes fail.
                    let size = packet.marshal_size();
                    match out.write_rtp(packet).await {
                        Err(e) => {
                            SfuMetrics::count(&metrics.dropped, 1);
                            tracing::trace!(error = %e, "forward");
                        }
                        Ok(()) => {
                            metrics.forwarded.add(size);
                            written += 1;
                            if written == 1 {
                                debug!(ssrc, "first packet forwarded");
                            }
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    SfuMetrics::count(&metrics.dropped, skipped);
                    lagging.request_keyframe().await;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    let feedback = tokio::spawn(async move {
        while let Some(event) = track.poll().await {
            let TrackLocalEvent::OnRtcpPacket(packets) = event else {
                continue;
            };
            SfuMetrics::count(&feedback_metrics.nacked, nacked_packets(&packets));
            for wanted in crate::setup::keyframe_requests(&packets) {
                let publication = by_ssrc.lock().get(&wanted).cloned();
                if let Some(p) = publication {
                    p.request_keyframe().await;
                }
            }
        }
    });
    Ok(Forward {
        publication,
        sender,
        ssrc,
        negotiated,
        tasks: [copy, feedback],
        _counted: counted,
    })
}
