//! Forwarding one publication to one subscriber: an outgoing track with its own SSRC on the
//! subscriber's connection, which its media lane fills from the publication.

use super::driver::SubscriberConn;
use super::hub::Publication;
use super::metrics::{Counted, Held};
use crate::setup::{codec, rtc_kind, TransportError};
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodingParameters, RTCRtpEncodingParameters};
use rtc::rtp_transceiver::RTCRtpSenderId;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Weak};
use trtc_protocol::rtp::StreamKind;

/// Outgoing SSRC → the publication it forwards, for routing keyframe requests.
pub(crate) type BySsrc = Arc<parking_lot::Mutex<HashMap<u32, Arc<Publication>>>>;

/// One publication forwarded to this member. Dropping it stops the forwarding; the next offer
/// drops the track.
pub(crate) struct Forward {
    pub publication: Arc<Publication>,
    pub ssrc: u32,
    /// The subscriber has applied an offer carrying this track. Before then its packets are
    /// dropped on arrival (an unknown SSRC), yet would be counted as forwarded.
    pub negotiated: Arc<AtomicBool>,
    sender: RTCRtpSenderId,
    conn: Weak<SubscriberConn>,
    _counted: Held,
}

impl Drop for Forward {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.upgrade() {
            conn.remove_track(self.sender);
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

/// Adds an outgoing track for `publication` to `conn`, which forwards its packets once the
/// connection is up and the track [`Forward::negotiated`]: before then a packet can only be
/// dropped; the subscriber asks for a keyframe once it is connected and for each track it gains
/// by renegotiation. The subscriber's keyframe requests find the publication by `ssrc` in
/// `by_ssrc`.
pub(crate) async fn forward(
    conn: &Arc<SubscriberConn>,
    publication: Arc<Publication>,
    by_ssrc: &BySsrc,
) -> Result<Forward, TransportError> {
    let ssrc: u32 = rand::random();
    by_ssrc.lock().insert(ssrc, Arc::clone(&publication));
    let track = forwarded_track(&publication.user_id, publication.kind, ssrc);
    let negotiated = Arc::new(AtomicBool::new(false));
    let counted = publication.metrics.hold(Counted::ForwardedTrack);
    let added = conn
        .add_track(
            track,
            Arc::clone(&publication),
            ssrc,
            Arc::clone(&negotiated),
        )
        .await;
    let sender = match added {
        Ok(sender) => sender,
        Err(e) => {
            by_ssrc.lock().remove(&ssrc);
            return Err(e);
        }
    };
    Ok(Forward {
        publication,
        ssrc,
        negotiated,
        sender,
        conn: Arc::downgrade(conn),
        _counted: counted,
    })
}
