//! How every peer connection of ours is built, on both ends: the codecs with their payload types,
//! the interceptors and their tuning, ICE pacing and timeouts, no mDNS, the gathering wait, and
//! the SDP facts the two ends read off each other (ICE ufrag, host candidates). One copy, so the
//! SDK and the server cannot drift apart.

use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::Registry;
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_H264, MIME_TYPE_OPUS,
};
use rtc::peer_connection::configuration::setting_engine::{SettingEngine, SettingEngineBuilder};
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::transport::RTCDtlsRole;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use trtc_protocol::rtp::{
    StreamKind, AUDIO_CLOCK_RATE, H264_FMTP, OPUS_FMTP, PT_H264, PT_OPUS, VIDEO_CLOCK_RATE,
};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionState,
};

/// Pause between ICE connectivity checks. webrtc 0.21's default is 200 ms, and the controlling
/// side nominates a pair only on such a tick, so on loopback DTLS waited ~200 ms for a path
/// that had answered within 7 ms. 50 ms is RFC 8445's pacing (Ta) as browsers use it.
pub const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(50);
/// Checks per candidate pair before it fails: with [`ICE_CHECK_INTERVAL`], the 1.4 s the
/// default (7 × 200 ms) allowed, so slow paths connect exactly as before.
pub const ICE_CHECKS: u16 = 28;
/// Silence on the selected pair after which a connection is *disconnected*. webrtc's 5 s (and
/// its 2 s keepalive) meant a participant killed mid-call kept its streams published for
/// seconds; the server unpublishes on disconnection and must do so within 3 s. With
/// [`ICE_KEEPALIVE`] an idle but healthy connection hears a consent answer every 0.5 s, so 2 s
/// is four missed answers, not a hiccup.
pub const ICE_DISCONNECTED_AFTER: Duration = Duration::from_secs(2);
/// Further silence after which a disconnected connection has *failed* and is rebuilt (webrtc's
/// default: 25 s). A network that returns within this keeps its connection.
pub const ICE_FAILED_AFTER: Duration = Duration::from_secs(8);
/// Consent checks (RFC 7675) on the selected pair; also the agent's timer period once connected.
pub const ICE_KEEPALIVE: Duration = Duration::from_millis(500);
/// Times a receiver asks for one lost packet (NACK). webrtc 0.21's default is unlimited: every
/// 100 ms for as long as the packet stays in its 512-packet log. On a saturated link that filled
/// the sender's pacer with retransmissions of pictures long given up (a receiver waits 150 ms
/// for a retransmission), so fresh pictures queued behind them and none arrived whole.
pub const NACKS_PER_PACKET: u16 = 2;
/// Packets a sender keeps per stream to answer NACKs: at 360p (~55 packets/s) over 2 s, at a
/// 1080p screen share (~200/s) 0.6 s, both well past the 150 ms a receiver waits for one.
/// webrtc 0.21's 1024 kept retransmitting what the receiver had long given up.
pub const NACK_HISTORY_PACKETS: u16 = 128;
/// How long gathering host candidates may take before an SDP is sent anyway (we send complete
/// SDPs, no trickle). Host candidates on the bound address gather in milliseconds.
pub const GATHER_TIMEOUT: Duration = Duration::from_secs(3);

/// What a transport call failed with; the text says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError(pub String);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TransportError {}

impl From<String> for TransportError {
    fn from(s: String) -> Self {
        TransportError(s)
    }
}

impl From<&str> for TransportError {
    fn from(s: &str) -> Self {
        TransportError(s.into())
    }
}

/// Turns any library error into ours.
pub(crate) fn err(e: impl std::fmt::Display) -> TransportError {
    TransportError(e.to_string())
}

/// A peer connection's state as the rest of the product sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Being set up (ICE and DTLS not done).
    Connecting,
    /// Media can flow.
    Connected,
    /// Nothing heard for [`ICE_DISCONNECTED_AFTER`]; may come back.
    Disconnected,
    /// Given up (also: closed); a new connection is needed.
    Failed,
}

impl LinkState {
    pub(crate) fn from_rtc(state: RTCPeerConnectionState) -> LinkState {
        match state {
            RTCPeerConnectionState::Connected => LinkState::Connected,
            RTCPeerConnectionState::Disconnected => LinkState::Disconnected,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => LinkState::Failed,
            _ => LinkState::Connecting,
        }
    }
}

/// Ids of connections, unique in the process: events of a connection that was replaced can be
/// told from the new one's.
pub(crate) fn next_conn_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
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

/// The RTP codec kind of a stream kind.
pub(crate) fn rtc_kind(kind: StreamKind) -> RtpCodecKind {
    if kind.is_video() {
        RtpCodecKind::Video
    } else {
        RtpCodecKind::Audio
    }
}

/// Exactly our two codecs at their fixed payload types (`trtc_protocol::rtp`), so the SFU
/// forwards packets between connections without rewriting payload types.
pub(crate) fn media_engine() -> Result<MediaEngine, TransportError> {
    let mut engine = MediaEngine::default();
    for (kind, pt) in [(StreamKind::Audio, PT_OPUS), (StreamKind::Big, PT_H264)] {
        engine
            .register_codec(
                RTCRtpCodecParameters {
                    rtp_codec: codec(kind),
                    payload_type: pt,
                },
                rtc_kind(kind),
            )
            .map_err(err)?;
    }
    Ok(engine)
}

/// Which way media flows on a connection: every connection of ours carries it one way only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Media leaves (the client's publisher, the server's subscriber connections).
    Sends,
    /// Media arrives (the client's subscriber, the server's publisher connections).
    Receives,
}

/// The interceptors one direction needs, out of webrtc's defaults. A sender answers NACKs
/// (keeping [`NACK_HISTORY_PACKETS`]) and sends sender reports; a receiver asks for lost
/// packets (at most [`NACKS_PER_PACKET`] times each), sends TWCC feedback and receiver
/// reports. Each interceptor is a queue every packet is moved into and out of, whether it acts
/// on it or not: the server's subscriber connections used to carry all five, and moving each
/// forwarded packet through the three that never act was most of the forwarding's copying
/// (docs/benchmarks.md).
pub(crate) fn interceptors(
    registry: Registry,
    engine: &mut MediaEngine,
    flow: Flow,
) -> Result<Registry, TransportError> {
    use rtc::interceptor::{
        NackGeneratorBuilder, NackResponderBuilder, ReceiverReportBuilder, SenderReportBuilder,
        Slot,
    };
    use rtc::peer_connection::configuration::interceptor_registry::{
        configure_simulcast_extension_headers, configure_twcc_receiver_only,
    };
    // The codecs already carry `nack` and `nack pli` feedback (`media_engine`).
    configure_simulcast_extension_headers(engine).map_err(err)?;
    Ok(match flow {
        Flow::Sends => registry
            .with(
                Slot::NackResponder,
                NackResponderBuilder::new()
                    .with_size(NACK_HISTORY_PACKETS)
                    .build(),
            )
            .with(Slot::SenderReport, SenderReportBuilder::new().build()),
        Flow::Receives => {
            let registry = registry
                .with(
                    Slot::NackGenerator,
                    NackGeneratorBuilder::new()
                        .with_max_nacks_per_packet(NACKS_PER_PACKET)
                        .build(),
                )
                .with(Slot::ReceiverReport, ReceiverReportBuilder::new().build());
            configure_twcc_receiver_only(registry, engine).map_err(err)?
        }
    })
}

/// Which DTLS end a connection takes when it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerAs {
    /// The library's default (and browsers'): the answerer starts the handshake.
    DtlsClient,
    /// The offerer (the server, for subscriber connections) starts the handshake, so it is the
    /// last to finish: by the time it may send media, this end's SRTP keys have had a head
    /// start. With the roles the other way, the server's first packets raced this end's key
    /// setup and a few of each connection's were dropped unseen.
    DtlsServer,
}

/// Which ICE a connection runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ice {
    /// Clients: gather, check every pair, choose one.
    Full,
    /// The server (RFC 8445 §2.5): answers checks, never starts them, so media takes exactly
    /// the path the client chose to the address the server advertises. A full server also
    /// checked the clients' own host candidates and, where it could reach them directly (on
    /// one host, on a LAN), sent its media around whatever sat at the advertised address: a
    /// NAT's mapping, or the test relay, whose downlink impairments then never applied to
    /// subscribers. It also spares the server a timer and checks per connection.
    Lite,
}

/// Our ICE timing, mDNS off, and loopback candidates when bound to loopback.
pub(crate) fn settings(loopback: bool, answer_as: AnswerAs, ice: Ice) -> SettingEngine {
    let settings = SettingEngineBuilder::new()
        .with_lite(ice == Ice::Lite)
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(ICE_CHECKS))
        .with_ice_timeouts(
            Some(ICE_DISCONNECTED_AFTER),
            Some(ICE_FAILED_AFTER),
            Some(ICE_KEEPALIVE),
        )
        .with_multicast_dns_mode(MulticastDnsMode::Disabled);
    let settings = match answer_as {
        AnswerAs::DtlsClient => settings,
        AnswerAs::DtlsServer => settings.with_answering_dtls_role(RTCDtlsRole::Server),
    };
    if loopback {
        settings.with_include_loopback_candidate(true).build()
    } else {
        settings.build()
    }
}

/// A peer connection bound to `addr` with our codecs, `registry`'s interceptors, our ICE timing
/// and no mDNS. mDNS is off because we never use `.local` candidates, and because its multicast
/// join fails outright on a host with no default route (an isolated LAN), which took the whole
/// connection down with it.
pub(crate) async fn peer_connection(
    addr: SocketAddr,
    registry: Registry,
    engine: MediaEngine,
    handler: Arc<dyn PeerConnectionEventHandler>,
    answer_as: AnswerAs,
    ice: Ice,
) -> Result<Arc<dyn PeerConnection>, TransportError> {
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(engine)
        .with_setting_engine(settings(addr.ip().is_loopback(), answer_as, ice))
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_udp_addrs(vec![addr])
        .build()
        .await
        .map_err(err)?;
    Ok(Arc::new(pc))
}

/// Whether ICE gathering has completed, for the handler to set and the SDP writer to wait on.
pub(crate) fn gathering() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

pub(crate) fn note_gathering(tx: &watch::Sender<bool>, state: RTCIceGatheringState) {
    if state == RTCIceGatheringState::Complete {
        let _ = tx.send(true);
    }
}

/// Waits (at most [`GATHER_TIMEOUT`]) for gathering to complete, so the SDP carries candidates.
pub(crate) async fn wait_gathered(rx: &mut watch::Receiver<bool>) {
    let _ = tokio::time::timeout(GATHER_TIMEOUT, rx.wait_for(|g| *g)).await;
}

/// Applies the other end's offer to `pc` and returns our complete answer (candidates
/// gathered, see [`wait_gathered`]).
pub(crate) async fn answer_offer(
    pc: &Arc<dyn PeerConnection>,
    gathered: &mut watch::Receiver<bool>,
    sdp: String,
) -> Result<String, TransportError> {
    use rtc::peer_connection::sdp::RTCSessionDescription;
    let offer = RTCSessionDescription::offer(sdp).map_err(err)?;
    pc.set_remote_description(offer).await.map_err(err)?;
    let answer = pc.create_answer(None).await.map_err(err)?;
    pc.set_local_description(answer).await.map_err(err)?;
    wait_gathered(gathered).await;
    Ok(pc
        .local_description()
        .await
        .ok_or("no local description")?
        .sdp)
}

/// Reports a connection's gathering and state: what every handler of ours does alike.
pub(crate) struct LinkReporter {
    pub conn: u64,
    pub role: crate::client::ConnRole,
    pub gathered: watch::Sender<bool>,
    pub events: tokio::sync::mpsc::UnboundedSender<crate::client::PeerEvent>,
}

impl LinkReporter {
    pub(crate) fn gathering(&self, state: RTCIceGatheringState) {
        note_gathering(&self.gathered, state);
    }

    pub(crate) fn state(&self, state: RTCPeerConnectionState) {
        tracing::debug!(conn = self.conn, role = ?self.role, ?state, "media connection");
        let _ = self.events.send(crate::client::PeerEvent::Link {
            conn: self.conn,
            role: self.role,
            state: LinkState::from_rtc(state),
        });
    }
}

/// The first `a=ice-ufrag:` of an SDP. Each new peer connection has a fresh one, so an offer
/// whose ufrag differs from the connection's current remote one comes from a new connection
/// (the other end restarted or rebuilt), not a renegotiation of this one.
pub fn ice_ufrag(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
}

/// `sdp` with its host candidates' addresses replaced by `public_ip` (the address clients can
/// reach: a 1:1 NAT's outside, or one interface of a server bound to 0.0.0.0). webrtc 0.21.1
/// accepts a NAT 1:1 setting but never applies it, so the SDP is rewritten here; duplicates
/// left by the rewrite (one per interface behind the same port) are dropped.
pub fn advertise(sdp: &str, public_ip: Option<IpAddr>) -> String {
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
    use super::{advertise, ice_ufrag};

    const SDP: &str = "v=0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
        a=ice-ufrag:AbCd\r\n\
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

    #[test]
    fn the_ufrag_names_the_connection() {
        assert_eq!(ice_ufrag(SDP), Some("AbCd"));
        assert_eq!(ice_ufrag("v=0\r\n"), None);
    }
}
