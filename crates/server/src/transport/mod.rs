//! The SFU's WebRTC side. Only this module imports `webrtc`/`rtc` (scripts/check-boundaries.sh),
//! so the rest of the server speaks rooms and members, not peer connections.
//!
//! Shape: every client has up to two peer connections with the server, a *publisher* (the
//! client offers its audio, camera and screen tracks once) and a *subscriber* (the server offers
//! the others' tracks and renegotiates as publishers come and go). Forwarding never decodes:
//! each publication's RTP packets go through a broadcast channel to one `TrackLocalStaticRTP`
//! per subscriber, with only the SSRC rewritten.

mod hub;
mod session;

pub use hub::RoomMedia;

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
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use trtc_protocol::rtp::{
    StreamKind, AUDIO_CLOCK_RATE, H264_FMTP, OPUS_FMTP, PT_H264, PT_OPUS, VIDEO_CLOCK_RATE,
};
use webrtc::peer_connection::{PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler};

/// Where media flows: the address peer connections bind, what they advertise, which ports.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The local address UDP sockets bind to.
    pub bind_ip: IpAddr,
    /// Advertised instead of `bind_ip` (a host behind 1:1 NAT, or bound to 0.0.0.0).
    pub public_ip: Option<IpAddr>,
    /// Inclusive UDP port range; `None` lets the OS pick.
    pub udp_ports: Option<(u16, u16)>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            bind_ip: IpAddr::from([127, 0, 0, 1]),
            public_ip: None,
            udp_ports: None,
        }
    }
}

/// The codec a stream kind is sent with.
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

/// Next port to try in the configured range, so consecutive connections spread over it.
static NEXT_PORT: AtomicU32 = AtomicU32::new(0);

/// A peer connection bound per `config`: NACK, RTCP reports and TWCC feedback (the receive
/// side of congestion control; the sending clients run the estimator).
pub(crate) async fn new_peer_connection(
    config: &MediaConfig,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> Result<Arc<dyn PeerConnection>, String> {
    let ports: Vec<u16> = match config.udp_ports {
        None => vec![0],
        Some((lo, hi)) => {
            let n = u32::from(hi - lo) + 1;
            let start = NEXT_PORT.fetch_add(1, Ordering::Relaxed) % n;
            (0..n).map(|i| lo + ((start + i) % n) as u16).collect()
        }
    };
    let mut last_err = String::from("no port in range");
    for port in ports {
        let mut engine = media_engine()?;
        let registry = interceptors(Registry::new(), &mut engine)?;
        // `public_ip` is applied to the SDP (`advertise`): webrtc's own NAT 1:1 setting does
        // nothing in 0.21.1.
        let mut settings = SettingEngineBuilder::new().with_ice_connection_attempts(
            Some(trtc_protocol::rtp::ICE_CHECK_INTERVAL),
            Some(trtc_protocol::rtp::ICE_CHECKS),
        );
        if config.bind_ip.is_loopback() {
            settings = settings.with_include_loopback_candidate(true);
        }
        let built = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(engine)
            .with_setting_engine(settings.build())
            .with_interceptor_registry(registry)
            .with_handler(Arc::clone(&handler))
            .with_udp_addrs(vec![std::net::SocketAddr::new(config.bind_ip, port)])
            .build()
            .await;
        match built {
            Ok(pc) => return Ok(Arc::new(pc)),
            Err(e) => last_err = e.to_string(),
        }
    }
    Err(format!("no media port available: {last_err}"))
}

/// `sdp` with its host candidates' addresses replaced by `public_ip` (the address clients can
/// reach: a 1:1 NAT's outside, or one interface of a server bound to 0.0.0.0). webrtc 0.21.1
/// accepts a NAT 1:1 setting but never applies it, so the SDP is rewritten here; duplicates
/// left by the rewrite (one per interface behind the same port) are dropped.
pub(crate) fn advertise(sdp: &str, public_ip: Option<IpAddr>) -> String {
    let Some(ip) = public_ip else {
        return sdp.to_owned();
    };
    let ip_text = ip.to_string();
    let mut seen = std::collections::HashSet::new();
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        if let Some(candidate) = body.strip_prefix("a=candidate:") {
            // foundation component transport priority address port "typ" type ...
            let mut fields: Vec<&str> = candidate.split(' ').collect();
            let is_host = fields.get(6) == Some(&"typ") && fields.get(7) == Some(&"host");
            if is_host && fields.len() > 5 {
                fields[4] = &ip_text;
                let key = (
                    fields[1].to_owned(),
                    fields[2].to_lowercase(),
                    fields[5].to_owned(),
                );
                if seen.insert(key) {
                    out.push_str("a=candidate:");
                    out.push_str(&fields.join(" "));
                    out.push_str(&line[body.len()..]);
                }
                continue;
            }
        }
        out.push_str(line);
    }
    out
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

#[cfg(test)]
mod tests {
    use super::advertise;

    const SDP: &str = "v=0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
        a=candidate:1 1 udp 2130706431 127.0.0.1 40001 typ host\r\n\
        a=candidate:2 1 udp 2130706431 10.0.0.5 40001 typ host\r\n\
        a=candidate:3 1 udp 1694498815 198.51.100.9 40001 typ srflx raddr 10.0.0.5 rport 40001\r\n\
        a=end-of-candidates\r\n";

    #[test]
    fn host_candidates_carry_the_public_address_once() {
        let out = advertise(SDP, Some("203.0.113.7".parse().unwrap()));
        let candidates: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("a=candidate"))
            .collect();
        assert_eq!(
            candidates,
            [
                "a=candidate:1 1 udp 2130706431 203.0.113.7 40001 typ host",
                "a=candidate:3 1 udp 1694498815 198.51.100.9 40001 typ srflx raddr 10.0.0.5 rport 40001",
            ]
        );
        assert!(out.ends_with("a=end-of-candidates\r\n"));
        assert!(out.lines().all(|l| !l.ends_with('\r')), "line endings kept");
    }

    #[test]
    fn without_a_public_address_nothing_changes() {
        assert_eq!(advertise(SDP, None), SDP);
    }
}
