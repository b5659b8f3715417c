//! The shell's side of the two connections: the task that hands encoded frames to the current
//! publisher, and the task that owns the subscriber and answers offers one at a time. Both run
//! apart from the shell's loop, so a negotiation (ICE gathering can take seconds) never holds
//! up a media command.

use super::local::Encoded;
use super::ShellInput;
use crate::media::core::Input;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use trtc_protocol::{MediaState, StreamKind};
use trtc_rtc::client::{Publisher, Subscriber};

/// Frames of the accepted kinds go to the publisher of the moment; the first frame of each
/// opening is reported (onSendFirstLocal*Frame).
pub(super) async fn send_loop(
    mut frames: mpsc::Receiver<Encoded>,
    publisher: watch::Receiver<Option<Arc<Publisher>>>,
    accepted: watch::Receiver<MediaState>,
    inbox: mpsc::UnboundedSender<ShellInput>,
) {
    let mut reported: HashSet<(StreamKind, u64)> = HashSet::new();
    while let Some(e) = frames.recv().await {
        if !e.kind.in_state(&accepted.borrow()) {
            continue;
        }
        let Some(p) = publisher.borrow().clone() else {
            continue;
        };
        let (kind, token) = (e.kind, e.token);
        p.send(kind, e.data, e.capture_us).await;
        if reported.insert((kind, token)) {
            let _ = inbox.send(ShellInput::Core(Input::FirstSent { kind, token }));
        }
    }
}

/// What the subscriber task is asked to do, in order.
#[derive(Debug)]
pub(super) enum SubscriberOp {
    Offer { bind_ip: IpAddr, sdp: String },
    Keyframe { user_id: String, kind: StreamKind },
    Close,
}

pub(super) async fn subscriber_loop(
    mut subscriber: Subscriber,
    mut ops: mpsc::UnboundedReceiver<SubscriberOp>,
    inbox: mpsc::UnboundedSender<ShellInput>,
) {
    while let Some(op) = ops.recv().await {
        match op {
            SubscriberOp::Offer { bind_ip, sdp } => {
                let result = subscriber
                    .handle_offer(bind_ip, sdp)
                    .await
                    .map_err(|e| e.to_string());
                let _ = inbox.send(ShellInput::Core(Input::SubscriberAnswered(result)));
            }
            SubscriberOp::Keyframe { user_id, kind } => {
                subscriber.request_keyframe(&user_id, kind).await
            }
            SubscriberOp::Close => subscriber.close().await,
        }
    }
    subscriber.close().await;
}
