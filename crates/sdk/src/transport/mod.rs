//! The client's WebRTC side; the only SDK module that imports `webrtc`/`rtc`
//! (scripts/check-boundaries.sh). Two peer connections, as docs/protocol.md describes: a
//! [`Publisher`] the client offers once with three send-only tracks (audio, camera, screen), and
//! a [`Subscriber`] the server offers and renegotiates as publishers come and go.
//!
//! Everything crossing this boundary is codec data and plain numbers: encoded access units in,
//! reassembled access units out.

mod assembler;
mod publisher;
mod subscriber;

pub(crate) use publisher::Publisher;
pub(crate) use subscriber::{RemoteFrame, Subscriber};

use rtc::interceptor::Registry;
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_H264, MIME_TYPE_OPUS,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use trtc_protocol::rtp::{
    StreamKind, AUDIO_CLOCK_RATE, H264_FMTP, OPUS_FMTP, PT_H264, PT_OPUS, VIDEO_CLOCK_RATE,
};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
};

/// How long gathering host candidates may take before the SDP is sent anyway.
const GATHER_TIMEOUT: Duration = Duration::from_secs(3);

/// What the transport tells the media controller.
#[derive(Debug)]
pub(crate) enum TransportEvent {
    /// The server (for a subscriber) asked for a keyframe of this local stream.
    KeyframeRequested(StreamKind),
    /// A peer connection failed or closed; `publisher` says which.
    Failed { publisher: bool },
}

pub(crate) fn codec(kind: StreamKind) -> RTCRtpCodec {
    let fb = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.into(),
        parameter: parameter.into(),
    };
    if kind.is_video() {
        RTCRtpCodec {
            mime_type: MIME_TYPE_H264.into(),
            clock_rate: VIDEO_CLOCK_RATE,
            channels: 0,
            sdp_fmtp_line: H264_FMTP.into(),
            rtcp_feedback: vec![fb("ccm", "fir"), fb("nack", ""), fb("nack", "pli")],
        }
    } else {
        RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.into(),
            clock_rate: AUDIO_CLOCK_RATE,
            channels: 2,
            sdp_fmtp_line: OPUS_FMTP.into(),
            rtcp_feedback: vec![],
        }
    }
}

fn media_engine() -> Result<MediaEngine, String> {
    let mut engine = MediaEngine::default();
    for (kind, rtc_kind, pt) in [
        (StreamKind::Audio, RtpCodecKind::Audio, PT_OPUS),
        (StreamKind::Big, RtpCodecKind::Video, PT_H264),
    ] {
        engine
            .register_codec(
                RTCRtpCodecParameters {
                    rtp_codec: codec(kind),
                    payload_type: pt,
                },
                rtc_kind,
            )
            .map_err(|e| e.to_string())?;
    }
    Ok(engine)
}

/// The local address media binds: the one the OS routes to the signalling server through, so
/// host candidates are reachable from it (loopback for a local server).
pub(crate) fn local_ip_towards(server: IpAddr) -> IpAddr {
    let probe = || -> std::io::Result<IpAddr> {
        let unspecified: IpAddr = if server.is_ipv4() {
            IpAddr::from([0, 0, 0, 0])
        } else {
            IpAddr::from([0u16; 8])
        };
        let s = std::net::UdpSocket::bind((unspecified, 0))?;
        s.connect((server, 9))?;
        Ok(s.local_addr()?.ip())
    };
    probe().unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// Gathering-state watcher shared by both connections' handlers.
pub(crate) fn gathering() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

pub(crate) fn note_gathering(tx: &watch::Sender<bool>, state: RTCIceGatheringState) {
    if state == RTCIceGatheringState::Complete {
        let _ = tx.send(true);
    }
}

pub(crate) async fn wait_gathered(rx: &mut watch::Receiver<bool>) {
    let _ = tokio::time::timeout(GATHER_TIMEOUT, rx.wait_for(|g| *g)).await;
}

/// webrtc's default interceptors (NACK both ways, TWCC reports, RTCP reports), except that a
/// lost packet is asked for at most [`trtc_protocol::rtp::NACKS_PER_PACKET`] times and a sender
/// keeps [`trtc_protocol::rtp::NACK_HISTORY_PACKETS`] to answer with.
pub(crate) fn interceptors(
    registry: Registry,
    engine: &mut MediaEngine,
) -> Result<Registry, String> {
    use rtc::interceptor::{NackGeneratorBuilder, NackResponderBuilder, Slot};
    use rtc::peer_connection::configuration::interceptor_registry::{
        configure_rtcp_reports, configure_simulcast_extension_headers, configure_twcc_receiver_only,
    };
    use trtc_protocol::rtp::{NACKS_PER_PACKET, NACK_HISTORY_PACKETS};
    // The codecs already carry `nack` and `nack pli` feedback (`media_engine`).
    configure_simulcast_extension_headers(engine).map_err(|e| e.to_string())?;
    let registry = registry
        .with(
            Slot::NackResponder,
            NackResponderBuilder::new()
                .with_size(NACK_HISTORY_PACKETS)
                .build(),
        )
        .with(
            Slot::NackGenerator,
            NackGeneratorBuilder::new()
                .with_max_nacks_per_packet(NACKS_PER_PACKET)
                .build(),
        );
    let registry = configure_twcc_receiver_only(registry, engine).map_err(|e| e.to_string())?;
    Ok(configure_rtcp_reports(registry))
}

/// A peer connection on `bind_ip` with our codecs and `registry`'s interceptors.
pub(crate) async fn new_peer_connection(
    bind_ip: IpAddr,
    registry: Registry,
    engine: MediaEngine,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> Result<Arc<dyn PeerConnection>, String> {
    let mut settings = SettingEngineBuilder::new().with_ice_connection_attempts(
        Some(trtc_protocol::rtp::ICE_CHECK_INTERVAL),
        Some(trtc_protocol::rtp::ICE_CHECKS),
    );
    if bind_ip.is_loopback() {
        settings = settings.with_include_loopback_candidate(true);
    }
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(engine)
        .with_setting_engine(settings.build())
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_udp_addrs(vec![std::net::SocketAddr::new(bind_ip, 0)])
        .build()
        .await
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(pc))
}

/// The SSRCs a batch of RTCP asks keyframes for (PLI and FIR). The peer connection routes a
/// compound RTCP packet to one track by its first packet's SSRC (usually a receiver report's),
/// so a keyframe request can reach any track's feedback: read the SSRC from the request itself.
pub(crate) fn keyframe_requests(packets: &[Box<dyn rtc::rtcp::Packet>]) -> Vec<u32> {
    use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
    use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
    let mut ssrcs = vec![];
    for p in packets {
        if let Some(pli) = p.as_any().downcast_ref::<PictureLossIndication>() {
            ssrcs.push(pli.media_ssrc);
        } else if let Some(fir) = p.as_any().downcast_ref::<FullIntraRequest>() {
            ssrcs.extend(fir.fir.iter().map(|e| e.ssrc));
        }
    }
    ssrcs
}
